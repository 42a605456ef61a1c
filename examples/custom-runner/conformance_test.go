package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/conformance"
)

// TestConformance is what a third-party plugin author writes: build the plugin,
// then run the SDK's conformance kit against the binary.
func TestConformance(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wtb-runner-custom")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building the plugin: %v", err)
	}
	conformance.RunRunner(t, conformance.Runner{
		Binary: bin,
		// The schema's defaults (delimiters) are filled in, as the host does.
		Config:        json.RawMessage(`{"parallelism": 8}`),
		InvalidConfig: json.RawMessage(`{"parallelism": 0}`),
		InvalidPath:   []string{"parallelism"},
		// Exercise the plugin's own node kind in the quick checks.
		Node: func(name, key, value string) sdk.Node {
			params, _ := json.Marshal(map[string]string{"template": value, "into": key})
			return sdk.Node{Name: name, Kind: "template", Params: params}
		},
	})
}
