package main

import (
	"encoding/json"
	"testing"

	"github.com/wtbench/wtb/plugins/internal/plugintest"
	"github.com/wtbench/wtb/sdk/conformance"
)

// The pool runner passes the SDK's conformance kit, built and launched as the
// host launches it.
func TestConformance(t *testing.T) {
	conformance.RunRunner(t, conformance.Runner{
		Binary:        plugintest.Build(t, "wtb-runner-pool", "./plugins/runner-pool"),
		Config:        json.RawMessage(`{"max_workers": 16}`),
		InvalidConfig: json.RawMessage(`{"max_workers": 0}`),
		InvalidPath:   []string{"max_workers"},
	})
}
