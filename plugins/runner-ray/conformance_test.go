package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/wtbench/wtb/plugins/internal/plugintest"
	"github.com/wtbench/wtb/sdk/conformance"
)

// rayCluster is the test head node (scripts/services.sh starts it); tests
// skip without one, and fail in CI.
func rayCluster(t *testing.T) (address, python string) {
	t.Helper()
	address, python = os.Getenv("WTB_TEST_RAY_ADDRESS"), os.Getenv("WTB_TEST_RAY_PYTHON")
	if address == "" || python == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("WTB_TEST_RAY_ADDRESS/WTB_TEST_RAY_PYTHON are not set: CI must run the Ray tests")
		}
		t.Skip("WTB_TEST_RAY_ADDRESS is not set; run `make test` to include the Ray tests")
	}
	return address, python
}

// The Ray runner passes the SDK's conformance kit, built and launched as the
// host launches it, against a real Ray cluster.
func TestConformance(t *testing.T) {
	address, python := rayCluster(t)
	bin := plugintest.Build(t, "wtb-runner-ray", "./plugins/runner-ray")
	conformance.RunRunner(t, conformance.Runner{
		Binary: bin,
		Config: json.RawMessage(fmt.Sprintf(`{"preset": "testing", "ray_address": %q, "python": %q, "max_pending_tasks": 16, "actors": 4}`,
			address, python)),
		InvalidConfig: json.RawMessage(`{"ray_address": "http://127.0.0.1:8265"}`),
		InvalidPath:   []string{"ray_address"},
		Concurrency:   16,
	})
}

// The Python side's own tests (pool, settings), with the Python that runs
// the driver.
func TestPythonDriver(t *testing.T) {
	_, python := rayCluster(t)
	if err := exec.Command(python, "-c", "import pytest").Run(); err != nil {
		t.Skipf("%s has no pytest", python)
	}
	cmd := exec.Command(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
	cmd.Dir = "py"
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pytest: %v\n%s", err, out)
	}
	t.Logf("pytest:\n%s", out)
}
