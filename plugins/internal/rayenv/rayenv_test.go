package rayenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The merge the original RayEnvironmentProvider documented: pip lists
// concatenated base first, env_vars merged with the variant winning, other
// fields replaced by the variant's.
func TestMergeLikeTheSeedProvider(t *testing.T) {
	base := obj(t, `{"pip": ["base-package", "shared"], "env_vars": {"A": "1", "B": "base"}, "working_dir": "/base"}`)
	variant := obj(t, `{"pip": ["numpy==1.24.0", "shared"], "env_vars": {"B": "variant", "MODEL_VERSION": "v1"}, "working_dir": "/variant"}`)
	got := Merge(base, variant)
	want := obj(t, `{"pip": ["base-package", "shared", "numpy==1.24.0"], "env_vars": {"A": "1", "B": "variant", "MODEL_VERSION": "v1"}, "working_dir": "/variant"}`)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merge:\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(base["pip"], []any{"base-package", "shared"}) {
		t.Fatalf("merge modified the base: %v", base)
	}
	// The object form of pip keeps its options, the variant's winning.
	got = Merge(obj(t, `{"pip": {"packages": ["a"], "pip_check": false}}`), obj(t, `{"pip": ["b"]}`))
	if want := obj(t, `{"pip": {"packages": ["a", "b"], "pip_check": false}}`); !reflect.DeepEqual(got, want) {
		t.Fatalf("pip object: got %v", got)
	}
}

func TestCheckNamesEachProblem(t *testing.T) {
	if p := Check(obj(t, `{"pip": ["x"], "env_vars": {"A": "1"}, "working_dir": "."}`)); len(p) != 0 {
		t.Fatalf("a valid runtime_env: %v", p)
	}
	p := Check(obj(t, `{"pips": ["x"], "env_vars": {"A": 1}, "pip": ["y"], "conda": "env"}`))
	joined := p.String()
	for _, want := range []string{`"pips" is not a Ray runtime_env field`, "env_vars must be map(string)", "pip and conda cannot both be set"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
}

func TestLocalizeResolvesFromTheBenchDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "task", "mod"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := obj(t, `{"working_dir": "task", "py_modules": ["task/mod", "s3://bucket/m.zip", "json"]}`)
	if err := Localize(env, dir); err != nil {
		t.Fatal(err)
	}
	want := []any{filepath.Join(dir, "task", "mod"), "s3://bucket/m.zip", "json"}
	if env["working_dir"] != filepath.Join(dir, "task") || !reflect.DeepEqual(env["py_modules"], want) {
		t.Fatalf("localized: %v", env)
	}
	err := Localize(obj(t, `{"working_dir": "missing"}`), dir)
	if err == nil || !strings.Contains(err.Error(), "missing does not exist on this machine") {
		t.Fatalf("missing working_dir: %v", err)
	}
}
