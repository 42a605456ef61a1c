package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/tools/txtar"
)

var wantRE = regexp.MustCompile(`^# want: (.+) @ (?:([\w.]+):)?(\d+):(\d+)$`)

// extractInvalid writes the members of testdata/invalid.txtar into a
// directory and returns the paths of the bench files among them.
func extractInvalid(t *testing.T) []string {
	t.Helper()
	ar, err := txtar.ParseFile("testdata/invalid.txtar")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for _, f := range ar.Files {
		path := filepath.Join(dir, f.Name)
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f.Name, ".hcl") {
			files = append(files, path)
		}
	}
	return files
}

// TestInvalidFiles loads every bench file in testdata/invalid.txtar and
// expects the diagnostic its first line announces, at that file:line:col.
func TestInvalidFiles(t *testing.T) {
	files := extractInvalid(t)
	if len(files) < 20 {
		t.Fatalf("only %d invalid files; want at least 20", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, _ := os.ReadFile(path)
			first := strings.SplitN(string(src), "\n", 2)[0]
			m := wantRE.FindStringSubmatch(first)
			if m == nil {
				t.Fatalf("first line %q is not '# want: SUMMARY @ [file:]line:col'", first)
			}
			summary, file := m[1], m[2]
			line, _ := strconv.Atoi(m[3])
			col, _ := strconv.Atoi(m[4])
			if file == "" {
				file = path
			}
			_, diags := Load(path, Options{Environ: []string{}})
			if !diags.HasErrors() {
				t.Fatalf("no error; want %q", summary)
			}
			for _, d := range diags {
				if d.Severity != hcl.DiagError || !strings.Contains(d.Summary, summary) {
					continue
				}
				if d.Subject == nil {
					t.Fatalf("%q has no source range", d.Summary)
				}
				if filepath.Base(d.Subject.Filename) != filepath.Base(file) || d.Subject.Start.Line != line || d.Subject.Start.Column != col {
					t.Fatalf("%q at %s, want %s:%d:%d", d.Summary, d.Subject, file, line, col)
				}
				if d.Detail == "" {
					t.Errorf("%q has no detail", d.Summary)
				}
				return
			}
			t.Fatalf("want %q at %d:%d; got:\n%s", summary, line, col, render(diags))
		})
	}
}

func render(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "  %s: %s (%s)\n", d.Subject, d.Summary, d.Detail)
	}
	return b.String()
}

func TestAllErrorsAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.hcl")
	src := `
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    command = ["true"]
    timeout = "forever"
  }
  node "b" {
    kind       = "merge"
    depends_on = ["nope"]
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.missing
  repeat   = 0
  case "c" { input = {} }
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := Load(path, Options{Environ: []string{}})
	want := []string{"Invalid duration", "Reference to undeclared node", "Reference to undeclared runner", "Value out of range"}
	for _, w := range want {
		found := false
		for _, d := range diags {
			found = found || strings.Contains(d.Summary, w)
		}
		if !found {
			t.Errorf("missing %q among:\n%s", w, render(diags))
		}
	}
}

func TestValidFile(t *testing.T) {
	cfg, diags := Load("testdata/valid/full.hcl", Options{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatalf("unexpected errors:\n%s", render(diags))
	}
	// Relative SQLite paths, like every path in a bench file, are relative to it.
	if !strings.HasSuffix(cfg.Database, "testdata/valid/x.db") || !strings.HasPrefix(cfg.Database, "sqlite:///") || !strings.HasSuffix(cfg.PluginDir, "testdata/valid/plugins") {
		t.Errorf("settings: database %q, plugin_dir %q", cfg.Database, cfg.PluginDir)
	}
	bd, err := cfg.Batch("")
	if err != nil {
		t.Fatal(err)
	}
	b := bd.Spec
	if got := len(b.Combinations); got != 3 {
		t.Errorf("combinations: %d, want 2×2 minus the excluded dense/t1 = 3", got)
	}
	var names []string
	for _, c := range b.Combinations {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != "retrieve=bm25,answer=t0 retrieve=bm25,answer=t1 retrieve=dense,answer=t0" {
		t.Errorf("combination names in workflow order: %v", names)
	}
	if len(b.Cases) != 3 || b.Cases[0].ID != "inline" {
		t.Errorf("cases: %+v", b.Cases)
	}
	if b.Repeat != 2 || b.Timeout.D().String() != "30s" || !b.SharePrefixes || b.MaxRetries != 2 {
		t.Errorf("batch settings: %+v", b)
	}
	retrieve, _ := b.Workflow.NodeByName("retrieve")
	if !filepath.IsAbs(retrieve.Command[1]) || !strings.HasSuffix(retrieve.Command[1], "step.sh") || len(retrieve.Files) != 1 {
		t.Errorf("script argument not resolved against the bench dir: %v (files %v)", retrieve.Command, retrieve.Files)
	}
	var params map[string]any
	_ = json.Unmarshal(retrieve.Variant("dense").Params, &params)
	if params["k"] != float64(2) || params["mode"] != "dense" {
		t.Errorf("variant params must merge over node params: %v", params)
	}
	answer, _ := b.Workflow.NodeByName("answer")
	var ap map[string]any
	_ = json.Unmarshal(answer.Params, &ap)
	if ap["note"] != "hello small/2" {
		t.Errorf("locals: note = %v", ap["note"])
	}
	if *b.Thresholds.OverallScore != 0.5 || b.Thresholds.Evaluators["correct"] != 0.4 {
		t.Errorf("thresholds: %+v", b.Thresholds)
	}
}

func TestVariablePrecedence(t *testing.T) {
	load := func(vars map[string]string, env []string) string {
		cfg, diags := Load("testdata/valid/full.hcl", Options{Vars: vars, Environ: env})
		if diags.HasErrors() {
			t.Fatalf("errors:\n%s", render(diags))
		}
		var p map[string]any
		n, _ := cfg.Batches[0].Spec.Workflow.NodeByName("answer")
		_ = json.Unmarshal(n.Params, &p)
		return p["note"].(string)
	}
	if got := load(nil, nil); got != "hello small/2" {
		t.Errorf("default: %q", got)
	}
	if got := load(nil, []string{"WTB_VAR_model=medium"}); got != "hello medium/2" {
		t.Errorf("env: %q", got)
	}
	if got := load(map[string]string{"model": "large", "k": "5"}, []string{"WTB_VAR_model=medium"}); got != "hello large/5" {
		t.Errorf("--var wins over env and parses numbers: %q", got)
	}
	_, diags := Load("testdata/valid/full.hcl", Options{Vars: map[string]string{"k": "many"}, Environ: []string{}})
	if !diags.HasErrors() || !strings.Contains(render(diags), "not valid for variable \"k\"") {
		t.Errorf("a non-number for a number variable must be an error:\n%s", render(diags))
	}
	_, diags = Load("testdata/valid/full.hcl", Options{Vars: map[string]string{"modle": "x"}, Environ: []string{}})
	if !strings.Contains(render(diags), `Did you mean "model"?`) {
		t.Errorf("undeclared --var should suggest the close name:\n%s", render(diags))
	}
}

// FuzzLoad feeds arbitrary bench files to the loader: it must return
// diagnostics, never panic or hang. The seed corpus (every testdata file) runs
// in CI as part of `go test`.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.hcl")
	for _, p := range files {
		src, _ := os.ReadFile(p)
		f.Add(string(src))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src string) {
		path := filepath.Join(dir, "fuzz.hcl")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := Load(path, Options{Environ: []string{}})
		if cfg == nil {
			t.Fatal("Load returned no config")
		}
		for _, d := range diags {
			if d.Summary == "" {
				t.Fatalf("diagnostic without summary: %+v", d)
			}
		}
	})
}
