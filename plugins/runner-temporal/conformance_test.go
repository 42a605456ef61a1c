package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"

	"github.com/wtbench/wtb/plugins/internal/plugintest"
	"github.com/wtbench/wtb/sdk/conformance"
)

// The Temporal runner passes the SDK's conformance kit against the test
// Temporal dev server (scripts/services.sh starts it), with a worker process
// of the same binary polling a task queue of the test's own: every node of
// the kit runs on that worker.
func TestConformance(t *testing.T) {
	address := plugintest.Require(t, "WTB_TEST_TEMPORAL_ADDRESS")
	bin := plugintest.Build(t, "wtb-runner-temporal", "./plugins/runner-temporal")
	var b [4]byte
	_, _ = rand.Read(b[:])
	queue := "wtb-conformance-" + hex.EncodeToString(b[:])
	plugintest.Start(t, exec.Command(bin, "worker", "--address", address, "--task-queue", queue,
		"--worker-id", "conformance-worker", "--max-concurrent", "16"), "polling task queue")
	conformance.RunRunner(t, conformance.Runner{
		Binary: bin,
		Config: json.RawMessage(fmt.Sprintf(`{"address": %q, "task_queue": %q, "heartbeat_timeout": "2s", "retry_initial_interval": "200ms"}`,
			address, queue)),
		InvalidConfig: json.RawMessage(`{"heartbeat_timeout": "soon"}`),
		InvalidPath:   []string{"heartbeat_timeout"},
	})
}
