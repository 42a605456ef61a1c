package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wtbench/wtb/sdk/conformance"
)

// The environment provider passes the SDK's conformance kit, built and
// launched as the host launches it.
func TestConformance(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wtb-env-local")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building the plugin: %v", err)
	}
	root := t.TempDir()
	conformance.RunEnvironment(t, conformance.Environment{
		Binary:        bin,
		Config:        json.RawMessage(`{"root": "` + root + `", "env": {"A": "1"}}`),
		InvalidConfig: json.RawMessage(`{"setup_timeout": "soon"}`),
		InvalidPath:   []string{"setup_timeout"},
		Variant:       json.RawMessage(`{"env": {"B": "2"}}`),
	})
}
