package e2e

// Regression tests for the "Trust" issue: paths that gave silently wrong
// results, hung, or crashed on bad input. Each runs the built binaries.

import (
	"crypto/rand"
	"strings"
	"testing"
)

// noCrash fails when a command's output shows a Go panic or control bytes.
func noCrash(t *testing.T, what string, r result) {
	t.Helper()
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic:") {
			t.Fatalf("%s crashed (exit %d):\n%s", what, r.code, out)
		}
		for _, c := range []byte(out) {
			if c < 0x20 && c != '\n' && c != '\t' {
				t.Fatalf("%s printed control byte %#x:\n%q", what, c, out)
			}
		}
	}
}

func TestBadBenchFilesGetDiagnosticsNotCrashes(t *testing.T) {
	e := newEnv(t)
	binary := make([]byte, 5<<20)
	_, _ = rand.Read(binary)
	cases := []struct {
		name, src string
		code      int
		want      []string
	}{
		{"empty.hcl", "", 0, []string{"empty.hcl:1:1: warning: No batch_test"}},
		{"unclosed.hcl", "runner \"x\" {\n  plugin = \"abc\n", 2, []string{"unclosed.hcl:2:16: error: ", "   2 |   plugin = \"abc\n     |                ^\n"}},
		{"trailing.hcl", "runner \"x\" {\n  plugin = \n}\n", 2, []string{"trailing.hcl:2:12: error: Invalid expression", "     |            ^\n"}},
		{"lastline.hcl", "runner \"x\" {\n  plugin =\n", 2, []string{"lastline.hcl:2:11: error: Invalid expression", "   2 |   plugin =\n     |           ^\n"}},
		{"binary.hcl", string(binary), 2, []string{"error: Not a text file"}},
		// HCL columns count characters: the caret sits under "bogus", not three bytes to its right.
		{"unicode.hcl", "locals {\n  ünïcödé = \"é\"\n}\nrunner \"r\" { plugin = \"pool\" }\nworkflow \"w\" {\n  node \"a\" { cömmand = 1 }\n}\n", 2,
			[]string{"   6 |   node \"a\" { cömmand = 1 }\n     |              ^^^^^^^\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.write(tc.name, tc.src)
			r := e.run("validate", "--no-plugins", tc.name)
			noCrash(t, "validate "+tc.name, r)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, tc.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if len(r.stderr) > 64<<10 {
				t.Errorf("%d bytes of diagnostics", len(r.stderr))
			}
		})
	}
}

func TestOneMistakeOneDiagnostic(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", `
variable "n" {
  type    = number
  default = "three"
}
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    command    = ["true"]
    depends_on = ["b"]
  }
  node "b" {
    command    = ["true"]
    depends_on = ["a"]
    timeout    = "soon"
  }
  node "c" {
    command    = ["true"]
    depends_on = ["nope"]
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
  repeat   = var.n
  timeout  = var.n
  case "x" { input = {} }
}
batch_test "u" {
  workflow = workflow.w
  runner   = runner.r
  repeat   = var.n
  case "x" { input = {} }
}
`)
	r := e.run("validate", "--no-plugins", "bench.hcl")
	noCrash(t, "validate", r)
	for _, want := range []string{
		"bench.hcl:4:13: error: Invalid default value for variable",
		"bench.hcl:15:18: error: Invalid duration",
		"bench.hcl:19:19: error: Reference to undeclared node",
	} {
		if strings.Count(r.stderr, want) != 1 {
			t.Errorf("want %q once:\n%s", want, r.stderr)
		}
	}
	for _, unwanted := range []string{"undeclared workflow", "Unsupported attribute", "not known"} {
		if strings.Contains(r.stderr, unwanted) {
			t.Errorf("a follow-on error %q:\n%s", unwanted, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "has 3 errors") {
		t.Errorf("want exactly 3 errors:\n%s", r.stderr)
	}
}
