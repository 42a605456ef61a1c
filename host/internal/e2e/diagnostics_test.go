package e2e

// Bad bench files get one clear diagnostic each, at file:line:col, and validate
// catches what run would reject; nothing crashes. Each runs the built binaries.

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/wtbench/wtb/host/internal/testbin"
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

// mistakeBase is a valid bench file; each case of TestEachMistakeOneDiagnostic
// makes one mistake in it.
const mistakeBase = `variable "model" { default = "small" }
runner "r" {
  plugin = "pool"
}
workflow "w" {
  node "a" {
    command = ["true"]
    variant "x" { params = { k = 1 } }
    variant "y" { params = { k = 2 } }
  }
  node "b" {
    depends_on = ["a"]
    command    = ["true"]
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
  case "c1" {
    input    = { q = 1 }
    expected = { label = "x" }
  }
  evaluator "e" {
    type   = "equals"
    path   = "$.label"
    expect = "$.expected.label"
  }
}
`

// One mistake, one diagnostic: a syntax error is not followed by the lines
// HCL could not read past it, and a wrong, misspelt or missing attribute,
// block or reference is not followed by the checks that ran on its default.
func TestEachMistakeOneDiagnostic(t *testing.T) {
	e := newEnv(t)
	if r := e.run("validate", "--no-plugins", e.write("base.hcl", mistakeBase)); r.code != 0 {
		t.Fatalf("the base file is not valid:\n%s", r.stderr)
	}
	cases := []struct {
		name     string
		old, new string
		want     []string // in stderr; the first is the diagnostic's line
	}{
		// Syntax.
		{"unclosed-quote", `plugin = "pool"`, `plugin = "pool`, []string{":3:17: error: Unterminated string", "starts at line 3, column 12"}},
		{"unclosed-label", `node "a" {`, `node "a {`, []string{":6:12: error: Unterminated string"}},
		{"unclosed-interpolation", `plugin = "pool"`, `plugin = "${pool"`, []string{":3:13: error: Unclosed template interpolation sequence"}},
		{"unclosed-heredoc", `plugin = "pool"`, "plugin = <<EOT\npool", []string{":3:12: error: Unterminated heredoc"}},
		{"single-quotes", `plugin = "pool"`, `plugin = 'pool'`, []string{":3:12: error: Invalid character"}},
		{"unclosed-block", "  }\n  node \"b\"", "\n  node \"b\"", []string{"error: Unclosed configuration block"}},
		// Wrong types.
		{"command-number", `command = ["true"]`, `command = 5`, []string{":7:15: error: Incorrect attribute value type"}},
		{"command-string", `command = ["true"]`, `command = "true"`, []string{":7:15: error: Incorrect attribute value type"}},
		{"variant-command-number", "    command = [\"true\"]\n    variant \"x\" { params = { k = 1 } }", "    variant \"x\" { command = 5 }",
			[]string{":7:29: error: Incorrect attribute value type"}},
		{"kind-list", `command    = ["true"]`, `kind       = ["merge"]`, []string{":13:18: error: Incorrect attribute value type"}},
		{"latency-max-ms-string", "type   = \"equals\"\n    path   = \"$.label\"\n    expect = \"$.expected.label\"", "type   = \"latency\"\n    max_ms = \"fast\"",
			[]string{":25:14: error: Incorrect attribute value type"}},
		{"command-evaluator-number", "type   = \"equals\"\n    path   = \"$.label\"\n    expect = \"$.expected.label\"", "type   = \"command\"\n    command = 5",
			[]string{":25:15: error: Incorrect attribute value type"}},
		{"repeat-max-string", `runner   = runner.r`, "runner   = runner.r\n  repeat {\n    min   = 3\n    max   = \"many\"\n    until = { ci_half_width = 0.1 }\n  }",
			[]string{":21:13: error: Incorrect attribute value type"}},
		{"timeout-number", `depends_on = ["a"]`, `timeout = 5`, []string{":12:15: error: Invalid duration", `did you mean "5s"?`}},
		{"runner-block-typo", `runner "r" {`, `runer "r" {`, []string{":2:1: error: Unsupported block type", `Did you mean "runner"?`}},
		{"workflow-block-typo", `workflow "w" {`, `workflw "w" {`, []string{":5:1: error: Unsupported block type", `Did you mean "workflow"?`}},
		{"node-block-typo", "workflow \"w\" {\n  node \"a\" {", "workflow \"v\" {\n  nod \"z\" {}\n}\nworkflow \"w\" {\n  node \"a\" {",
			[]string{":6:3: error: Unsupported block type", `Did you mean "node"?`}},
		{"empty-repeat", `runner   = runner.r`, "runner   = runner.r\n  repeat {}", []string{":19:3: error: Missing required arguments", "needs min, max, until"}},
		{"empty-combination", "    command    = [\"true\"]\n  }\n}\nbatch_test \"t\" {\n  workflow = workflow.w\n  runner   = runner.r\n",
			"    command    = [\"true\"]\n    variant \"p\" {}\n    variant \"q\" {}\n  }\n}\nbatch_test \"t\" {\n  workflow = workflow.w\n  runner   = runner.r\n  combination {}\n",
			[]string{":21:3: error: Incomplete combination", `it lacks "a", "b"`}},
		{"params-number", `params = { k = 1 }`, `params = 5`, []string{":8:28: error: Incorrect attribute value type"}},
		{"input-number", `input    = { q = 1 }`, `input    = 5`, []string{":20:16: error: Incorrect attribute value type"}},
		// Misspelt attributes: the misspelling, not also the attribute missing.
		{"node-comand", `command = ["true"]`, `comand = ["true"]`, []string{":7:5: error: Unsupported argument", `Did you mean "command"?`}},
		{"batch-runer", `runner   = runner.r`, `runer   = runner.r`, []string{":18:3: error: Unsupported argument", `Did you mean "runner"?`}},
		{"batch-workflw", `workflow = workflow.w`, `workflw = workflow.w`, []string{":17:3: error: Unsupported argument", `Did you mean "workflow"?`}},
		{"evaluator-typ", `type   = "equals"`, `typ    = "equals"`, []string{":24:5: error: Unsupported argument", `Did you mean "type"?`}},
		{"evaluator-expct", `expect = "$.expected.label"`, `expct  = "$.expected.label"`, []string{":26:5: error: Unsupported argument", `Did you mean "expect"?`}},
		{"runner-plugn", `plugin = "pool"`, `plugn = "pool"`, []string{":3:3: error: Unsupported argument", `Did you mean "plugin"?`}},
		{"case-expect", `expected = { label = "x" }`, `expect   = { label = "x" }`, []string{":21:5: error: Unsupported argument", `Did you mean "expected"?`}},
		{"until-typo", `runner   = runner.r`, "runner   = runner.r\n  repeat {\n    min   = 3\n    max   = 9\n    until = { ci_half_widht = 0.1 }\n  }",
			[]string{":22:13: error: Unsupported stopping rule", `Did you mean "ci_half_width"?`}},
		// Missing, duplicated, referenced.
		{"missing-runner", "  runner   = runner.r\n", "", []string{":16:1: error: Missing required argument"}},
		{"empty-workflow", `workflow "w" {`, "workflow \"w\" {}\nworkflow \"w2\" {", []string{":5:1: error: Empty workflow"}},
		{"duplicate-evaluator", `  evaluator "e" {`, "  evaluator \"e\" {\n    type = \"latency\"\n    max_ms = 9\n  }\n  evaluator \"e\" {",
			[]string{":27:3: error: Duplicate evaluator block", "already declared at", "bench.hcl:23:3"}},
		{"duplicate-node", `node "b" {`, `node "a" {`, []string{":11:3: error: Duplicate node block"}},
		{"duplicate-variant", `variant "y"`, `variant "x"`, []string{":9:5: error: Duplicate variant block"}},
		{"undeclared-workflow", `workflow = workflow.w`, `workflow = workflow.ww`, []string{":17:14: error: Reference to undeclared workflow", `Did you mean "w"?`}},
		{"workflow-attribute", `workflow = workflow.w`, `workflow = workflow.w.nodes`, []string{":17:14: error: Invalid reference"}},
		{"undeclared-runner", `runner   = runner.r`, `runner   = runner.rr`, []string{":18:14: error: Reference to undeclared runner", `Did you mean "r"?`}},
		{"undeclared-node", `depends_on = ["a"]`, `depends_on = ["aa"]`, []string{":12:19: error: Reference to undeclared node", `Did you mean "a"?`}},
		{"undeclared-variant", `runner   = runner.r`, "runner   = runner.r\n  include { a = \"z\" }", []string{":19:17: error: Reference to undeclared variant"}},
		{"undeclared-variable", `input    = { q = 1 }`, `input    = { q = var.modle }`, []string{":20:25: error: Unsupported attribute", `Did you mean "model"?`}},
		{"threshold-evaluator", `runner   = runner.r`, "runner   = runner.r\n  threshold { evaluators = { ee = 0.5 } }",
			[]string{":19:30: error: Reference to undeclared evaluator", `Did you mean "e"?`}},
		{"evaluator-type", `type   = "equals"`, `type   = "equal"`, []string{":24:14: error: Unknown evaluator type", `"equals"?`}},
		{"variable-defualt", `variable "model" { default = "small" }`, `variable "model" { defualt = "small" }`,
			[]string{":1:20: error: Unsupported argument", `Did you mean "default"?`}},
		{"variable-type", `variable "model" { default = "small" }`, "variable \"model\" {\n  type    = strin\n  default = \"small\"\n}",
			[]string{":2:13: error: Invalid type specification", `Did you mean "string"?`}},
		{"locals-cycle", `variable "model" { default = "small" }`, "locals {\n  a = local.b\n  b = local.a\n}", []string{":2:7: error: Cycle in local values"}},
		{"duplicate-worker", `depends_on = ["a"]`, "depends_on = [\"a\"]\n    worker {}\n    worker {}", []string{":14:5: error: Duplicate worker block"}},
		{"duplicate-threshold", `runner   = runner.r`, "runner   = runner.r\n  threshold { pass_rate = 0.5 }\n  threshold { pass_rate = 0.9 }",
			[]string{":20:3: error: Duplicate threshold block", "already given at"}},
		{"combination-without-variants", `runner   = runner.r`, "runner   = runner.r\n  combination { b = \"x\" }", []string{":19:17: error: Node has no variants"}},
		{"plugin-sha256", `plugin = "pool"`, "plugin = \"pool\"\n  plugin_sha256 = \"abc\"", []string{":4:19: error: Invalid checksum"}},
		{"runner-is-workflow", `runner   = runner.r`, `runner   = workflow.w`, []string{":18:14: error: Invalid reference", "workflow.w is a workflow block"}},
		{"applies-to", `runner   = runner.r`, "runner   = runner.r\n  threshold { applies_to = \"bst\" }", []string{":19:28: error: Invalid value", `Did you mean "best"?`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(mistakeBase, tc.old) {
				t.Fatalf("the base file has no %q", tc.old)
			}
			e.write("bench.hcl", strings.Replace(mistakeBase, tc.old, tc.new, 1))
			r := e.run("validate", "--no-plugins", "bench.hcl")
			noCrash(t, "validate", r)
			if r.code != 2 || strings.Count(r.stderr, ": error: ") != 1 || !strings.Contains(r.stderr, "has 1 error") {
				t.Fatalf("exit %d; want exactly one error:\n%s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// wide encodes s as UTF-16 or UTF-32 (bits), little- or big-endian, with a
// byte order mark or without: what Windows tools write.
func wide(s string, bits int, bigEndian, bom bool) string {
	var out []byte
	put := func(u uint32) {
		b := make([]byte, bits/8)
		for i := range b {
			shift := 8 * i
			if bigEndian {
				shift = 8 * (len(b) - 1 - i)
			}
			b[i] = byte(u >> shift)
		}
		out = append(out, b...)
	}
	if bom {
		put(0xFEFF)
	}
	for _, r := range s {
		if bits == 16 {
			for _, u := range utf16.Encode([]rune{r}) {
				put(uint32(u))
			}
		} else {
			put(uint32(r))
		}
	}
	return string(out)
}

// A file saved in another encoding gets one error that names the encoding
// and says how to save it as UTF-8 — the bench file, its cases file, a file
// read with file() — and a UTF-8 byte order mark is just UTF-8.
func TestTextFilesInOtherEncodings(t *testing.T) {
	e := newEnv(t)
	bench := func(cases, param string) string {
		return `runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    command = ["true"]
    params  = { prompt = ` + param + ` }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
  cases    = "` + cases + `"
}
`
	}
	e.write("cases.jsonl", `{"id": "c1", "input": {"q": "café"}}`+"\n")
	e.write("prompt.txt", "Answer in one word.")
	plain := bench("cases.jsonl", `file("prompt.txt")`)
	for _, tc := range []struct {
		name  string
		files map[string]string
		code  int
		want  []string
	}{
		{"utf16le-bom", map[string]string{"bench.hcl": wide(plain, 16, false, true)}, 2,
			[]string{"bench.hcl:1:1: error: File is UTF-16, not UTF-8", "little-endian, with a byte order mark", "iconv -f UTF-16 -t UTF-8 bench.hcl"}},
		{"utf16be-bom", map[string]string{"bench.hcl": wide(plain, 16, true, true)}, 2,
			[]string{"error: File is UTF-16, not UTF-8", "big-endian, with a byte order mark", "iconv -f UTF-16 -t UTF-8"}},
		{"utf16le", map[string]string{"bench.hcl": wide(plain, 16, false, false)}, 2,
			[]string{"error: File is UTF-16, not UTF-8", "without a byte order mark", "iconv -f UTF-16LE -t UTF-8"}},
		{"utf16be", map[string]string{"bench.hcl": wide(plain, 16, true, false)}, 2,
			[]string{"error: File is UTF-16, not UTF-8", "iconv -f UTF-16BE -t UTF-8"}},
		{"utf32le-bom", map[string]string{"bench.hcl": wide(plain, 32, false, true)}, 2,
			[]string{"error: File is UTF-32, not UTF-8", "iconv -f UTF-32 -t UTF-8"}},
		{"utf32be", map[string]string{"bench.hcl": wide(plain, 32, true, false)}, 2,
			[]string{"error: File is UTF-32, not UTF-8", "iconv -f UTF-32BE -t UTF-8"}},
		{"latin1", map[string]string{"bench.hcl": strings.Replace(plain, `command = ["true"]`, "command = [\"caf\xe9\"]", 1)}, 2,
			[]string{"bench.hcl:4:20: error: File is not UTF-8", "byte 0xE9 at line 4, column 20", `it is "é"`, "iconv -f WINDOWS-1252 -t UTF-8"}},
		{"utf8-bom", map[string]string{"bench.hcl": "\ufeff" + plain}, 0, []string{"bench.hcl is valid"}},
		{"cases-utf16", map[string]string{"bench.hcl": bench("wide.jsonl", `"x"`),
			"wide.jsonl": wide(`{"id": "c1", "input": {}}`+"\n", 16, false, true)}, 2,
			[]string{"wide.jsonl:1:1: error: File is UTF-16, not UTF-8", "wide.jsonl is encoded as UTF-16", "a cases file (JSON Lines) must be UTF-8"}},
		{"cases-latin1", map[string]string{"bench.hcl": bench("latin.jsonl", `"x"`),
			"latin.jsonl": "{\"id\": \"c1\", \"input\": {}}\n{\"id\": \"c2\", \"input\": {\"q\": \"caf\xe9\"}}\n"}, 2,
			[]string{"latin.jsonl:2:33: error: File is not UTF-8", "byte 0xE9 at line 2, column 33"}},
		{"cases-utf8-bom", map[string]string{"bench.hcl": bench("bom.jsonl", `"x"`),
			"bom.jsonl": "\ufeff" + `{"id": "c1", "input": {}}` + "\n"}, 0, []string{"bench.hcl is valid"}},
		{"cases-misspelt-field", map[string]string{"bench.hcl": bench("typo.jsonl", `"x"`),
			"typo.jsonl": `{"id": "c1", "input": {}, "expect": {"label": "x"}}` + "\n"}, 2,
			[]string{"typo.jsonl:1:1: error: Invalid case", `unknown field "expect". Did you mean "expected"?`}},
		{"file-function-utf16", map[string]string{"bench.hcl": bench("cases.jsonl", `file("wide.txt")`),
			"wide.txt": wide("Answer in one word.", 16, false, true)}, 2,
			[]string{"bench.hcl:5:32: error: Invalid function argument", "wide.txt is encoded as UTF-16", "iconv -f UTF-16 -t UTF-8 wide.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, content := range tc.files {
				e.write(name, content)
			}
			r := e.run("validate", "--no-plugins", "bench.hcl")
			noCrash(t, "validate", r)
			if r.code != tc.code || strings.Count(r.stderr, ": error: ") != min(tc.code, 1) {
				t.Fatalf("exit %d, want %d with %d error(s):\n%s%s", r.code, tc.code, min(tc.code, 1), r.stdout, r.stderr)
			}
			// Diagnostics are wrapped at 96 columns: compare words.
			out := strings.Join(strings.Fields(r.stdout+r.stderr), " ")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s%s", w, r.stdout, r.stderr)
				}
			}
		})
	}
}

// Every name that refers to something gets "Did you mean …?" when it refers
// to nothing: plugins, environment settings, --batch, --runners, plugin and
// schema names, flag values.
func TestDidYouMean(t *testing.T) {
	e := newEnv(t)
	bench := func(plugin, env string) string {
		return `runner "r" { plugin = "` + plugin + `" }
runner "r2" { plugin = "pool" }
environment "e" { plugin = "local" }
workflow "w" {
  node "a" {
    command = ["true"]
    variant "x" { environment = ` + env + ` }
  }
}
batch_test "t" {
  workflow    = workflow.w
  runner      = runner.r
  environment = environment.e
  case "c1" { input = {} }
}
`
	}
	e.write("good.hcl", bench("pool", `{ MODEL = "small" }`)+`batch_test "u" {
  workflow    = workflow.w
  runner      = runner.r
  environment = environment.e
  case "c1" { input = {} }
}
`)
	e.write("plugin.hcl", bench("pol", `{ MODEL = "small" }`))
	e.write("setting.hcl", bench("pool", `{ setup = "true", setp_timeout = 5 }`))
	e.write("setting-string.hcl", bench("pool", `{ setpu = "true" }`))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"plugin", []string{"validate", "plugin.hcl"}, 2, []string{"plugin.hcl:1:23: error: Plugin not found", `Did you mean "pool"?`}},
		{"environment-setting", []string{"validate", "setting.hcl"}, 2,
			[]string{"setting.hcl:7:33: error: Unknown environment setting", `Did you mean "setup_timeout"?`}},
		{"environment-setting-or-variable", []string{"validate", "setting-string.hcl"}, 0,
			[]string{"setting-string.hcl:7:33: warning: Environment variable or misspelt setting?", `Did you mean "setup"?`, "setting-string.hcl is valid"}},
		{"run-batch", []string{"run", "good.hcl", "--batch", "tt"}, 2, []string{`declares no batch_test "tt" (it has: t, u). Did you mean "t"?`}},
		{"parity-runners", []string{"parity", "good.hcl", "--batch", "u", "--runners", "r,r22"}, 2, []string{`declares no runner "r22" (it has: r, r2). Did you mean "r2"?`}},
		{"plugins-describe", []string{"plugins", "describe", "pol"}, 2, []string{`no plugin named "pol"`, `Did you mean "pool"?`}},
		{"schema", []string{"schema", "leaderbord"}, 2, []string{`unknown document kind "leaderbord"`, `Did you mean "leaderboard"?`}},
		{"audit-level", []string{"audit", "--level", "warnig"}, 2, []string{`unknown --level "WARNIG"`, `Did you mean "WARNING"?`}},
		{"audit-type", []string{"audit", "--type", "execution.faild"}, 2, []string{`unknown --type "execution.faild"`, `Did you mean "execution.failed"?`}},
		{"log-level", []string{"validate", "good.hcl", "--log-level", "debg"}, 2, []string{`unknown --log-level "debg"`, `Did you mean "debug"?`}},
		{"var", []string{"validate", "good.hcl", "--var", "modle=x"}, 2, []string{"declares no variable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(tc.args...)
			noCrash(t, tc.name, r)
			out := strings.Join(strings.Fields(r.stdout+r.stderr), " ")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s%s", w, r.stdout, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "parity: running") {
				t.Errorf("a batch ran before the unknown runner was found:\n%s", r.stderr)
			}
		})
	}
	// A misspelt required attribute of a plugin is a misspelling, not also a
	// missing attribute.
	testbin.Build(t, testbin.RunnerGRPC)
	e.write("grpc.hcl", `runner "g" {
  plugin = "grpc"
  adress = "127.0.0.1:1"
}
workflow "w" {
  node "a" { command = ["true"] }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.g
  case "c" { input = {} }
}
`)
	if r := e.run("validate", "grpc.hcl"); r.code != 2 || strings.Count(r.stderr, ": error: ") != 1 || !strings.Contains(r.stderr, `Did you mean "address"?`) {
		t.Errorf("validate with a misspelt plugin attribute: exit %d\n%s", r.code, r.stderr)
	}
	// Stored names too: an execution key with its repeat left off, a batch id
	// with a typo.
	run := e.run("run", "good.hcl", "--batch", "u", "--no-progress")
	id := batchID(t, run.stderr)
	if r := e.run("show", "a=x/c1"); r.code != 2 || !strings.Contains(r.stderr, `Did you mean "a=x/c1/0"?`) {
		t.Errorf("show with a key left short: exit %d\n%s", r.code, r.stderr)
	}
	typo := id[:len(id)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", id[len(id)-1])+1)%16])
	if r := e.run("results", typo); r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("Did you mean %q?", id)) {
		t.Errorf("results with a batch id typo: exit %d\n%s", r.code, r.stderr)
	}
}

// Mistakes in the files a bench file names: one diagnostic each, with the
// file probably meant.
func TestFileMistakesOneDiagnostic(t *testing.T) {
	e := newEnv(t)
	bench := func(cases, command, param string) string {
		return `runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    command = ` + command + `
    params  = { prompt = ` + param + ` }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
  cases    = "` + cases + `"
}
`
	}
	e.write("cases.jsonl", `{"id": "c1", "input": {}}`+"\n")
	e.write("prompt.txt", "Answer in one word.")
	e.write("nodes/retrieve.py", "print('{}')\n")
	var numbered strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&numbered, `{"id": %d, "input": {}}`+"\n", i)
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		code  int
		want  []string
	}{
		{"json-array", map[string]string{"array.jsonl": `[{"id": "c1", "input": {}},` + "\n" + `{"id": "c2", "input": {}}]` + "\n",
			"bench.hcl": bench("array.jsonl", `["true"]`, `"x"`)}, 2,
			[]string{"array.jsonl:1:1: error: Cases file is a JSON array", "jq -c '.[]' array.jsonl"}},
		{"pretty-printed", map[string]string{"pretty.jsonl": "{\n  \"id\": \"c1\",\n  \"input\": {}\n}\n{\n  \"id\": \"c2\"\n}\n",
			"bench.hcl": bench("pretty.jsonl", `["true"]`, `"x"`)}, 2,
			[]string{"pretty.jsonl:1:1: error: Case spans several lines", "jq -c . pretty.jsonl"}},
		{"same-mistake-every-line", map[string]string{"numbered.jsonl": numbered.String(), "bench.hcl": bench("numbered.jsonl", `["true"]`, `"x"`)}, 2,
			[]string{"numbered.jsonl:1:1: error: Invalid case", `"id" is a number; it must be a string`, "The same on lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 19 more."}},
		{"truncated-line", map[string]string{"cut.jsonl": `{"id": "c1", "input": {}}` + "\n" + `{"id": "c2", "input": {`, "bench.hcl": bench("cut.jsonl", `["true"]`, `"x"`)}, 2,
			[]string{"cut.jsonl:2:1: error: Invalid case", "the line ends before the case object does"}},
		{"cases-file-name", map[string]string{"bench.hcl": bench("cases.josnl", `["true"]`, `"x"`)}, 2,
			[]string{"bench.hcl:11:14: error: Cannot read cases file", `Did you mean "cases.jsonl"?`}},
		{"file-function-name", map[string]string{"bench.hcl": bench("cases.jsonl", `["true"]`, `file("promt.txt")`)}, 2,
			[]string{"bench.hcl:5:32: error: Invalid function argument", `did you mean "prompt.txt"`}},
		{"script-name", map[string]string{"bench.hcl": bench("cases.jsonl", `["python3", "nodes/retreive.py"]`, `"x"`)}, 0,
			[]string{"bench.hcl:4:15: warning: Script not found", `Did you mean "nodes/retrieve.py"?`, "bench.hcl is valid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, content := range tc.files {
				e.write(name, content)
			}
			r := e.run("validate", "--no-plugins", "bench.hcl")
			noCrash(t, "validate", r)
			diags := strings.Count(r.stderr, ": error: ") + strings.Count(r.stderr, ": warning: ")
			if r.code != tc.code || diags != 1 {
				t.Fatalf("exit %d with %d diagnostics, want %d with 1:\n%s%s", r.code, diags, tc.code, r.stdout, r.stderr)
			}
			out := strings.Join(strings.Fields(r.stdout+r.stderr), " ")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s%s", w, r.stdout, r.stderr)
				}
			}
		})
	}
	if r := e.run("validate", "--no-plugins", "bench.hlc"); r.code != 2 || !strings.Contains(r.stderr, `Did you mean "bench.hcl"?`) {
		t.Errorf("validate bench.hlc: exit %d\n%s", r.code, r.stderr)
	}
}

// Scoring mistakes that validate can see: each one diagnostic.
func TestScoringMistakesAtValidate(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, evaluators string
		code             int
		want             string
	}{
		{"all-weights-zero", "  evaluator \"a\" {\n    type   = \"equals\"\n    path   = \"$.answer\"\n    expect = \"$.expected.answer\"\n    weight = 0\n  }\n", 0,
			"warning: Every evaluator has weight 0"},
		{"path-into-expected", "  evaluator \"a\" {\n    type   = \"equals\"\n    path   = \"$.expected.answer\"\n    expect = \"Paris\"\n  }\n", 0,
			"bench.hcl:29:14: warning: Path looks for expected values in the state"},
		{"numeric-not-a-number", "  evaluator \"a\" {\n    type   = \"numeric\"\n    path   = \"$.answer\"\n    expect = \"Paris\"\n  }\n", 2,
			"bench.hcl:30:14: error: Expect is not a number"},
		{"negative-tolerance", "  evaluator \"a\" {\n    type      = \"numeric\"\n    path      = \"$.n\"\n    expect    = 3\n    tolerance = -0.1\n  }\n", 2,
			"bench.hcl:31:17: error: Invalid tolerance"},
		{"threshold-above-one", "  evaluator \"a\" {\n    type   = \"equals\"\n    path   = \"$.answer\"\n    expect = \"$.expected.answer\"\n  }\n  threshold { evaluators = { a = 80 } }\n", 2,
			"bench.hcl:32:30: error: Value out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.write("bench.hcl", expectBench(fourCases, tc.evaluators))
			r := e.run("validate", "--no-plugins", "bench.hcl")
			noCrash(t, "validate", r)
			if r.code != tc.code || strings.Count(r.stderr, ": error: ")+strings.Count(r.stderr, ": warning: ") != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d and one diagnostic %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
}

// expectBench scores one node's {"label", "answer"} with evaluators; the
// cases' expected values are given by cases.
func expectBench(cases, evaluators string) string {
	return `runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    command = ["sh", "-c", "echo '{\"label\": \"x\", \"answer\": \"Paris\"}'"]
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
` + cases + evaluators + `}
`
}

const fourCases = `
  case "c1" {
    input    = { q = "a" }
    expected = { label = "x", answer = "Paris" }
  }
  case "c2" {
    input    = { q = "b" }
    expected = { answer = "Paris" }
  }
  case "c3" {
    input    = { q = "c" }
    expected = { answer = "Paris" }
  }
  case "c4" {
    input    = { q = "d" }
    expected = { answer = "Paris" }
  }
`

// An expect path that can name nothing is an error at validate, with the
// path meant; one that names something in no case is a warning (which
// --strict fails on); a literal that reads like a path is a warning.
func TestExpectPathsAreCheckedAtValidate(t *testing.T) {
	e := newEnv(t)
	evaluator := func(expect string) string {
		return "  evaluator \"lab\" {\n    type   = \"equals\"\n    path   = \"$.label\"\n    expect = " + expect + "\n  }\n"
	}
	e.write("cases.jsonl", `{"id": "f1", "input": {}, "expected": {"label": "x"}}`+"\n"+`{"id": "f2", "input": {}, "expected": {"label": "y"}}`+"\n")
	for _, tc := range []struct {
		name, cases, expect string
		code                int
		strictCode          int
		want                []string
	}{
		{"unknown-root", fourCases, `"$.expect.label"`, 2, 2,
			[]string{"bench.hcl:30:14: error: Expect path names nothing", `Did you mean "$.expected.label"?`}},
		{"unknown-root-bracket", fourCases, `"$['expect']['label']"`, 2, 2,
			[]string{"error: Expect path names nothing", `Did you mean "$.expected.label"?`}},
		{"state-root", fourCases, `"$.state.label"`, 2, 2, []string{"error: Expect path names nothing", `"expected" (the case's expected values)`}},
		{"in-no-case", fourCases, `"$.expected.lable"`, 0, 2,
			[]string{"bench.hcl:30:14: warning: Expect path matches no case", "any of the 4 cases", `(they have: answer, label)`, `Did you mean "$.expected.label"?`}},
		{"in-no-case-file", `  cases = "cases.jsonl"` + "\n", `"$.expected.labels"`, 0, 2,
			[]string{"warning: Expect path matches no case", "any of the 2 cases", `Did you mean "$.expected.label"?`}},
		{"case-input", fourCases, `"$.case.input.q"`, 0, 2, []string{"warning: Expect path matches no case", `Did you mean "$.input.q"?`}},
		{"literal", fourCases, `"expected.label"`, 0, 2, []string{"warning: Expect is a literal string", `did you mean "$.expected.label"?`}},
		{"in-one-case", fourCases, `"$.expected.label"`, 0, 0, []string{"bench.hcl is valid"}},
		{"input", fourCases, `"$.input.q"`, 0, 0, []string{"bench.hcl is valid"}},
		{"case-id", fourCases, `"$.case.id"`, 0, 0, []string{"bench.hcl is valid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.write("bench.hcl", expectBench(tc.cases, evaluator(tc.expect)))
			for _, strict := range []bool{false, true} {
				args, code := []string{"validate", "--no-plugins", "bench.hcl"}, tc.code
				if strict {
					args, code = append(args, "--strict"), tc.strictCode
				}
				r := e.run(args...)
				noCrash(t, "validate", r)
				out := strings.Join(strings.Fields(r.stdout+r.stderr), " ")
				if r.code != code {
					t.Fatalf("%v: exit %d, want %d:\n%s%s", args, r.code, code, r.stdout, r.stderr)
				}
				if strings.Count(r.stderr, ": error: ")+strings.Count(r.stderr, ": warning: ") > 1 {
					t.Errorf("more than one diagnostic:\n%s", r.stderr)
				}
				for _, w := range tc.want {
					if !strict && !strings.Contains(out, w) {
						t.Errorf("output lacks %q:\n%s%s", w, r.stdout, r.stderr)
					}
				}
			}
		})
	}
	// The warning is in validate's JSON document too, and in what run prints
	// before it starts.
	e.write("bench.hcl", expectBench(fourCases, evaluator(`"$.expected.lable"`)))
	r := e.run("validate", "--no-plugins", "bench.hcl", "--format", "json")
	checkDoc(t, "validate with a warning", r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, `"warning_count": 1`) || !strings.Contains(r.stdout, "Expect path matches no case") {
		t.Errorf("validate --format json: exit %d\n%s", r.code, r.stdout)
	}
	if r := e.run("run", "bench.hcl", "--no-progress"); !strings.Contains(r.stderr, "warning: Expect path matches no case") {
		t.Errorf("run does not show the warning:\n%s", r.stderr)
	}
}

// An evaluator that found nothing to compare in most executions is named at
// the end of the run — in the output, the JSON leaderboard, `wtb results`
// and the audit trail — with its path and how many executions.
func TestRunWarnsOfEvaluatorsThatFoundNothing(t *testing.T) {
	e := newEnv(t)
	cases := strings.Replace(fourCases, `q = "a" }`, `q = "a", only_in_two = "Paris" }`, 1)
	cases = strings.Replace(cases, `q = "b" }`, `q = "b", only_in_two = "Paris" }`, 1)
	bench := expectBench(cases, `
  evaluator "label" {
    type   = "equals"
    path   = "$.label"
    expect = "$.expected.label"
  }
  evaluator "answer_typo" {
    type   = "contains"
    path   = "$.anser"
    expect = "$.expected.answer"
  }
  evaluator "answer" {
    type   = "equals"
    path   = "$.answer"
    expect = "$.expected.answer"
  }
  evaluator "half" {
    type   = "equals"
    path   = "$.answer"
    expect = "$.input.only_in_two"
  }
`)
	e.write("bench.hcl", bench)
	r := e.run("run", "bench.hcl", "--no-progress", "--format", "json")
	if r.code != 0 {
		t.Fatalf("run exited %d:\n%s", r.code, r.stderr)
	}
	checkDoc(t, "run", r.stdout)
	want := []string{
		`warning: evaluator "label" found nothing to compare in 3 of 4 successful executions: expect "$.expected.label" selects nothing in the case`,
		`warning: evaluator "answer_typo" found nothing to compare in 4 of 4 successful executions: path "$.anser" selects nothing in the final state`,
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("run's output lacks %q:\n%s", w, r.stderr)
		}
	}
	if n := strings.Count(r.stderr, "found nothing to compare"); n != 2 {
		t.Errorf("%d warnings, want 2 (not for answer, which found its paths, nor half, at 2 of 4):\n%s", n, r.stderr)
	}
	var board struct {
		Summary struct {
			Warnings []struct {
				Evaluator, Attribute, Path string
				Executions, Of             int
			} `json:"warnings"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &board); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", board.Summary.Warnings); got != "[{Evaluator:label Attribute:expect Path:$.expected.label Executions:3 Of:4} {Evaluator:answer_typo Attribute:path Path:$.anser Executions:4 Of:4}]" {
		t.Errorf("summary.warnings = %s", got)
	}
	// Stored with the batch: results shows them later, the audit trail has them.
	res := e.mustRun("results")
	if strings.Count(res.stderr, "found nothing to compare") != 2 {
		t.Errorf("wtb results does not show the warnings:\n%s", res.stderr)
	}
	audit := e.mustRun("audit").stdout
	if !regexp.MustCompile(`WARNING\s+evaluator.found_nothing\s+evaluator "answer_typo" found nothing`).MatchString(audit) {
		t.Errorf("the audit trail lacks the warning:\n%s", audit)
	}
	// Rescoring with the paths fixed: no warning.
	fixed := strings.Replace(bench, `"$.anser"`, `"$.answer"`, 1)
	e.write("fixed.hcl", strings.Replace(fixed, `evaluator "label"`, `evaluator "label_off"`, 1))
	rescored := e.run("rescore", "latest", "fixed.hcl")
	if !strings.Contains(rescored.stderr, `evaluator "label_off" found nothing`) || strings.Contains(rescored.stderr, "answer_typo") {
		t.Errorf("rescore's warnings:\n%s", rescored.stderr)
	}
}

// Everything that can be checked before a run is checked by validate, and a
// run that fails those checks leaves no batch behind.
func TestValidateCatchesWhatRunWouldReject(t *testing.T) {
	e := newEnv(t)
	files := map[string]struct {
		src  string
		want string
	}{
		"jsonpath.hcl": {`
runner "pool" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.pool
  case "c" { input = {} }
  evaluator "e" {
    type   = "equals"
    path   = "$.answer[["
    expect = "$.expected[["
  }
}
`, "jsonpath.hcl:12:14: error: Invalid JSON path"},
		"kind.hcl": {`
runner "pool" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
  node "b" {
    depends_on = ["a"]
    kind       = "llm_call"
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.pool
  case "c" { input = {} }
}
`, "kind.hcl:7:18: error: Node kind not supported by the runner"},
		// A variant environment nothing applies, and a key that is neither a
		// setting of the provider nor an environment variable (a string):
		// both were silently ignored until the environment was made, or
		// forever.
		"noenv.hcl": {`
runner "pool" { plugin = "pool" }
workflow "w" {
  node "a" {
    command = ["sh", "-c", "cat >/dev/null; echo {}"]
    variant "v" { environment = { MODEL = "large" } }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.pool
  case "c" { input = {} }
}
`, "noenv.hcl:6:33: error: Environment without an environment block"},
		"envkey.hcl": {`
runner "pool" { plugin = "pool" }
environment "local" { plugin = "local" }
workflow "w" {
  node "a" {
    command = ["sh", "-c", "cat >/dev/null; echo {}"]
    variant "v" { environment = { envs = { A = "1" } } }
  }
}
batch_test "t" {
  workflow    = workflow.w
  runner      = runner.pool
  environment = environment.local
  case "c" { input = {} }
}
`, "envkey.hcl:7:33: error: Unknown environment setting"},
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			e.write(name, f.src)
			v := e.run("validate", name)
			noCrash(t, "validate", v)
			if v.code != 2 || !strings.Contains(v.stderr, f.want) {
				t.Fatalf("validate: exit %d, want 2 with %q:\n%s", v.code, f.want, v.stderr)
			}
			r := e.run("run", name, "--no-progress")
			if r.code != 2 || !strings.Contains(r.stderr, f.want) {
				t.Fatalf("run: exit %d, want 2 with %q:\n%s", r.code, f.want, r.stderr)
			}
		})
	}
	if l := e.run("results", "--list"); strings.Contains(l.stdout, "running") || strings.Count(l.stdout, "\n") > 1 {
		t.Errorf("a rejected run left a batch behind:\n%s", l.stdout)
	}
}
