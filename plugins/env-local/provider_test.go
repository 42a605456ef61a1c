package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func configured(t *testing.T, cfg string) *provider {
	t.Helper()
	p := newProvider()
	if diags := p.Configure(context.Background(), json.RawMessage(cfg)); diags.HasErrors() {
		t.Fatalf("configure: %v", diags)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

func TestVariantEnvironmentsMergeOverTheBase(t *testing.T) {
	root := t.TempDir()
	p := configured(t, `{"root": "`+root+`", "env": {"A": "base", "B": "base"}, "files": {"notes.txt": "hi"}}`)
	env, diags := p.CreateEnvironment(context.Background(), "batch", "v1", json.RawMessage(`{"env": {"B": "variant", "C": "new"}}`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if env.Env["A"] != "base" || env.Env["B"] != "variant" || env.Env["C"] != "new" {
		t.Errorf("maps merge with the variant winning: %v", env.Env)
	}
	if !strings.HasPrefix(env.WorkingDir, root) || env.Env["WTB_ENV_DIR"] != env.WorkingDir {
		t.Errorf("working dir %q", env.WorkingDir)
	}
	if b, err := os.ReadFile(filepath.Join(env.WorkingDir, "notes.txt")); err != nil || string(b) != "hi" {
		t.Errorf("files: %q %v", b, err)
	}
	again, _ := p.CreateEnvironment(context.Background(), "batch", "v1", json.RawMessage(`{"env": {"B": "variant", "C": "new"}}`))
	if again.WorkingDir != env.WorkingDir {
		t.Error("CreateEnvironment is not idempotent")
	}
	if err := p.CleanupEnvironment(context.Background(), "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(env.WorkingDir); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s", env.WorkingDir)
	}
}

func TestListsConcatenate(t *testing.T) {
	got := mergeValues(map[string]any{"setup": []any{"sh", "-c"}, "env": map[string]any{"A": "1"}},
		map[string]any{"setup": []any{"echo hi"}, "env": map[string]any{"B": "2"}})
	want := `{"env":{"A":"1","B":"2"},"setup":["sh","-c","echo hi"]}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("got %s want %s", b, want)
	}
}

func TestSetupRunsOncePerDistinctSpec(t *testing.T) {
	root := t.TempDir()
	counter := filepath.Join(t.TempDir(), "count")
	p := configured(t, `{"root": "`+root+`", "setup": ["sh", "-c", "echo x >> `+counter+`"]}`)
	for _, v := range []string{"v1", "v2", "v3"} {
		if _, diags := p.CreateEnvironment(context.Background(), "b", v, nil); diags.HasErrors() {
			t.Fatal(diags)
		}
	}
	if _, diags := p.CreateEnvironment(context.Background(), "b", "v4", json.RawMessage(`{"env": {"X": "1"}}`)); diags.HasErrors() {
		t.Fatal(diags)
	}
	b, _ := os.ReadFile(counter)
	if n := strings.Count(string(b), "x"); n != 2 {
		t.Errorf("setup ran %d times; want once per distinct spec (2)", n)
	}
}

func TestFailingSetupIsAClearError(t *testing.T) {
	p := configured(t, `{"root": "`+t.TempDir()+`", "setup": ["sh", "-c", "echo missing dependency >&2; exit 4"]}`)
	_, diags := p.CreateEnvironment(context.Background(), "b", "v", nil)
	if !diags.HasErrors() || !strings.Contains(diags[0].Error(), "missing dependency") {
		t.Errorf("diags %v", diags)
	}
}
