package e2e

// Bad bench files get one clear diagnostic each, at file:line:col, and validate
// catches what run would reject; nothing crashes. Each runs the built binaries.

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

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
