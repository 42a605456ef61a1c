package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/jsondoc"
)

// compareDoc is what these tests read of `compare --format json`.
type compareDoc struct {
	Regressions       int  `json:"regressions"`
	OverallComparable bool `json:"overall_comparable"`
	Evaluators        []struct {
		Name, Status string
		Comparable   bool
		Changes      []string
	} `json:"evaluators"`
	CaseSets struct {
		Common int `json:"common"`
		OnlyA  int `json:"only_a"`
		OnlyB  int `json:"only_b"`
	} `json:"case_sets"`
	Combinations []struct {
		Combination string   `json:"combination"`
		Verdict     string   `json:"verdict"`
		Delta       *float64 `json:"delta"`
		PassRateA   *float64 `json:"pass_rate_a"`
		Regression  bool     `json:"regression"`
		Evaluators  []struct {
			Name       string   `json:"name"`
			MeanA      *float64 `json:"mean_a"`
			MeanB      *float64 `json:"mean_b"`
			Tested     bool     `json:"tested"`
			Regression bool     `json:"regression"`
		} `json:"evaluators"`
	} `json:"combinations"`
}

func readCompare(t *testing.T, out string) compareDoc {
	t.Helper()
	checkDoc(t, "compare", out)
	var d compareDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return d
}

// A rescore with other evaluators is not a regression of the workflow: the
// same executions were scored by something else. compare says how B came
// from A (a rescore, not "forked at node "), which evaluators differ, shows
// each evaluator's change, and judges only the evaluators scored alike —
// which did not change — so nothing is a REGRESSION (it was: every
// combination, exit 1).
func TestCompareAfterARescoreWithOtherEvaluators(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", rescoreBench)
	a := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
	stricter := strings.Replace(rescoreBench, `  evaluator "exact" {`, `  evaluator "london" {
    type   = "equals"
    path   = "$.answer"
    expect = "London"
    weight = 3
  }
  evaluator "exact" {`, 1)
	e.write("stricter.hcl", stricter)
	b := batchID(t, e.mustRunOK("rescore", a, "stricter.hcl"))
	_ = b
	r := e.run("compare", a, "latest")
	if r.code != 0 {
		t.Errorf("compare of a rescore with another evaluator: exit %d, want 0 (no workflow changed)\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	for _, want := range []string{
		"B rescored A: the same executions, scored again",
		"A and B were scored by different evaluators",
		"only in B: london (equals)",
		"scored alike: exact",
		"Per evaluator:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("compare should say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "forked from A at node") || strings.Contains(out, "REGRESSION") {
		t.Errorf("a rescore is not a fork, and other evaluators are not a regression:\n%s", out)
	}
	if !regexp.MustCompile(`answer=terse\s+exact\s+1\.000\s+1\.000\s+0\.000\s+0\.000 \[0\.000, 0\.000\] n=4\s+1`).MatchString(out) ||
		!regexp.MustCompile(`\s+london\s+—\s+0\.000\s+—\s+—\s+—\s+only in B`).MatchString(out) {
		t.Errorf("the per-evaluator table:\n%s", out)
	}
	d := readCompare(t, e.mustRun("compare", a, "latest", "--format", "json").stdout)
	if d.OverallComparable || d.Regressions != 0 || len(d.Evaluators) != 2 || d.Evaluators[0].Name != "exact" ||
		d.Evaluators[0].Status != "same" || !d.Evaluators[0].Comparable || d.Evaluators[1].Status != "only_b" {
		t.Errorf("compare --format json: %+v", d)
	}
	for _, c := range d.Combinations {
		if c.Verdict != "not_significant" || c.Regression || len(c.Evaluators) != 2 || !c.Evaluators[0].Tested || c.Evaluators[1].MeanA != nil {
			t.Errorf("combination %+v", c)
		}
	}
}

// When B's workflow really got worse on an evaluator both batches score alike,
// that is the regression compare names, even though B has an evaluator more
// and a case more. A combination only one batch ran shows "—", not Δ +0.000
// and PASS A 0%.
func TestCompareJudgesTheEvaluatorsScoredAlike(t *testing.T) {
	e := newEnv(t)
	e.write("a.hcl", rescoreBench)
	a := batchID(t, e.mustRun("run", "a.hcl", "--no-progress").stderr)
	worse := strings.NewReplacer(
		// terse now answers wrongly on every case
		`*terse*) echo '{\"answer\": \"Paris\"}';;`, `*terse*) echo '{\"answer\": \"Lyon\"}';;`,
		`    variant "long" { params = { style = "long" } }`, `    variant "long" { params = { style = "long" } }
    variant "brief" { params = { style = "terse brief" } }`,
		`  case "c2" { input = { q = 2 } }`, `  case "c2" { input = { q = 2 } }
  case "c3" { input = { q = 3 } }`,
		`  evaluator "exact" {`, `  evaluator "short" {
    type    = "regex"
    path    = "$.answer"
    pattern = "^[A-Z][a-z]+$"
  }
  evaluator "exact" {`).Replace(rescoreBench)
	if worse == rescoreBench {
		t.Fatal("the replacements did not apply")
	}
	e.write("b.hcl", worse)
	b := batchID(t, e.mustRun("run", "b.hcl", "--no-progress").stderr)
	r := e.run("compare", a, b)
	if r.code != 1 {
		t.Errorf("a real drop of an evaluator scored alike: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	for _, want := range []string{"only in B: short (regex)", "A and B ran different cases: 0 only in A, 1 only in B, 0 changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare should say %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^answer=terse\s.*REGRESSION in exact$`).MatchString(out) {
		t.Errorf("answer=terse regressed on exact:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^answer=brief\s+—\s+\d\.\d{3}\s+—\s+—\s+—\s+—\s+\d+%\s+—\s+new in B$`).MatchString(out) {
		t.Errorf("a combination only B ran shows — for what A has not:\n%s", out)
	}
	d := readCompare(t, e.mustRunOK("compare", a, b, "--format", "json"))
	if d.Regressions != 1 || d.CaseSets.OnlyB != 1 || d.CaseSets.Common != 2 {
		t.Errorf("compare --format json: %+v", d)
	}
	for _, c := range d.Combinations {
		switch c.Combination {
		case "answer=brief":
			if c.Verdict != "only_b" || c.Delta != nil || c.PassRateA != nil {
				t.Errorf("brief: %+v", c)
			}
		case "answer=terse":
			if c.Verdict != "regression" || !c.Evaluators[0].Regression {
				t.Errorf("terse: %+v", c)
			}
		}
	}
	if err := jsondoc.Check([]byte(e.mustRunOK("compare", b, a, "--format", "json"))); err != nil {
		t.Error(err)
	}
}
