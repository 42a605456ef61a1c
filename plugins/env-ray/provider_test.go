package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wtbench/wtb/plugins/internal/plugintest"
	"github.com/wtbench/wtb/plugins/internal/rayenv"
	"github.com/wtbench/wtb/sdk/conformance"
)

// The provider passes the SDK's conformance kit, built and launched as the
// host launches it (it needs no Ray: it only merges and checks).
func TestConformance(t *testing.T) {
	bin := plugintest.Build(t, "wtb-env-ray", "./plugins/env-ray")
	conformance.RunEnvironment(t, conformance.Environment{
		Binary:        bin,
		Config:        json.RawMessage(`{"env_vars": {"A": "1"}, "pip": ["requests"]}`),
		InvalidConfig: json.RawMessage(`{"pip": "requests"}`),
		InvalidPath:   []string{"pip"},
		Variant:       json.RawMessage(`{"env_vars": {"B": "2"}, "pip": ["numpy"]}`),
	})
}

func TestVariantMergedOverTheBlock(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "task"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WTB_BENCH_DIR", dir)
	p := newProvider()
	ctx := context.Background()
	if d := p.Configure(ctx, json.RawMessage(`{"env_vars": {"A": "base", "B": "base"}, "pip": ["requests"], "env": {"C": "shorthand"}}`)); d.HasErrors() {
		t.Fatal(d)
	}
	env, d := p.CreateEnvironment(ctx, "b", "v", json.RawMessage(`{"env_vars": {"B": "variant"}, "pip": ["numpy"], "working_dir": "task", "env": {"D": "x"}}`))
	if d.HasErrors() {
		t.Fatal(d)
	}
	var label map[string]any
	if err := json.Unmarshal([]byte(env.Labels[rayenv.Label]), &label); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"env_vars":    map[string]any{"A": "base", "B": "variant", "C": "shorthand", "D": "x"},
		"pip":         []any{"requests", "numpy"},
		"working_dir": filepath.Join(dir, "task"),
	}
	if !reflect.DeepEqual(label, want) {
		t.Errorf("runtime_env:\n got %v\nwant %v", label, want)
	}
	if !reflect.DeepEqual(env.Env, map[string]string{"A": "base", "B": "variant", "C": "shorthand", "D": "x"}) {
		t.Errorf("environment variables for every runner: %v", env.Env)
	}
	again, _ := p.CreateEnvironment(ctx, "b", "v", json.RawMessage(`{}`))
	if again.ID != env.ID {
		t.Error("the same variant must get the same environment")
	}
	_, d = p.CreateEnvironment(ctx, "b", "w", json.RawMessage(`{"working_dir": "missing"}`))
	if !d.HasErrors() || !strings.Contains(d[0].Detail, "does not exist on this machine") {
		t.Errorf("a missing working_dir: %v", d)
	}
	_, d = p.CreateEnvironment(ctx, "b", "x", json.RawMessage(`{"conda": "env"}`))
	if !d.HasErrors() || !strings.Contains(d[0].Detail+d[0].Summary, "pip and conda") {
		t.Errorf("pip (from the block) with conda (from the variant): %v", d)
	}
}
