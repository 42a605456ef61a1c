package main

import (
	"encoding/json"
	"testing"

	"github.com/wtbench/wtb/plugins/internal/plugintest"
	"github.com/wtbench/wtb/sdk/conformance"
)

// The environment provider passes the SDK's conformance kit, built and
// launched as the host launches it.
func TestConformance(t *testing.T) {
	bin := plugintest.Build(t, "wtb-env-local", "./plugins/env-local")
	root := t.TempDir()
	conformance.RunEnvironment(t, conformance.Environment{
		Binary:        bin,
		Config:        json.RawMessage(`{"root": "` + root + `", "env": {"A": "1"}}`),
		InvalidConfig: json.RawMessage(`{"setup_timeout": "soon"}`),
		InvalidPath:   []string{"setup_timeout"},
		Variant:       json.RawMessage(`{"env": {"B": "2"}}`),
	})
}
