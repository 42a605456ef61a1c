package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

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
