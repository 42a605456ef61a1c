package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/store"
)

func stoppingBench(rules string, cases int) string {
	var cs strings.Builder
	for i := 0; i < cases; i++ {
		fmt.Fprintf(&cs, "  case \"c%02d\" { input = { q = %d } }\n", i, i)
	}
	return `
runner "pool" {
  plugin      = "pool"
  max_workers = 2
}
workflow "w" {
  node "answer" {
    command = ["sh", "-c", "in=$(cat); case \"$in\" in *wrong*) echo '{\"answer\": \"Lyon\"}';; *) echo '{\"answer\": \"Paris\"}';; esac"]
    variant "right" {}
    variant "wrong" { params = { style = "wrong" } }
  }
}
batch_test "s" {
  workflow    = workflow.w
  runner      = runner.pool
  max_pending = 2
` + rules + cs.String() + `
  evaluator "correct" {
    type   = "equals"
    path   = "$.answer"
    expect = "Paris"
  }
}
`
}

func leaderboardOf(t *testing.T, out string) jsondoc.Leaderboard {
	t.Helper()
	var b jsondoc.Leaderboard
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return b
}

// Racing prunes a combination that always loses once min_cases are in; the
// batch completes with what it saved said, and resume --complete runs it.
func TestRacingPrunesAndResumeCompletes(t *testing.T) {
	e := newEnv(t)
	e.write("race.hcl", stoppingBench("  racing {\n    confidence = 0.95\n    min_cases  = 4\n  }\n", 12))
	plan := e.mustRunOK("plan", "race.hcl")
	if !strings.Contains(plan, "racing: after 4 cases") {
		t.Errorf("plan does not show racing:\n%s", plan)
	}
	r := e.run("run", "race.hcl", "--no-progress", "--format", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	checkDoc(t, "racing leaderboard", r.stdout)
	b := leaderboardOf(t, r.stdout)
	by := map[string]report{}
	for _, c := range b.Summary.Combos {
		by[c.Combination] = report{c.Executions, c.Stopped != nil && c.Stopped.Kind == "pruned", c.Stopped}
	}
	wrong, right := by["answer=wrong"], by["answer=right"]
	if !wrong.pruned || wrong.n >= 12 || wrong.d.Best != "answer=right" || wrong.d.CasesSeen < 4 || wrong.d.Skipped != 12-wrong.n {
		t.Errorf("the always-wrong combination: %d executions, decision %+v", wrong.n, wrong.d)
	}
	if right.n != 12 || right.pruned {
		t.Errorf("the right combination: %+v", right)
	}
	if b.Summary.Saved != 12-wrong.n || b.Summary.Total != 24-b.Summary.Saved || b.Summary.Verdict != "no thresholds" || b.Batch.Status != "completed" {
		t.Errorf("summary: %+v, batch %s", b.Summary, b.Batch.Status)
	}
	table := e.mustRunOK("results", b.BatchID)
	if !strings.Contains(table, "pruned (vs answer=right") || !strings.Contains(table, "saved") {
		t.Errorf("results table:\n%s", table)
	}
	if aud := e.mustRunOK("audit", b.BatchID); !strings.Contains(aud, "combination.stopped") {
		t.Errorf("the audit trail lacks the decision:\n%s", aud)
	}
	// A plain resume honours the decision; --complete runs the rest.
	e.mustRun("resume", b.BatchID)
	if n := len(e.results(e.store(), b.BatchID)); n != 12+wrong.n {
		t.Errorf("a plain resume ran what racing stopped: %d results", n)
	}
	e.mustRun("resume", b.BatchID, "--complete")
	full := leaderboardOf(t, e.mustRunOK("results", b.BatchID, "--format", "json"))
	if full.Summary.Stored != 24 || full.Summary.Saved != 0 || full.Summary.Total != 24 {
		t.Errorf("after resume --complete: %+v", full.Summary)
	}
	assertExactlyOnce(t, e.results(e.store(), b.BatchID), 24)
}

type report struct {
	n      int
	pruned bool
	d      *store.Decision
}

// Adaptive repeats stop at min when every execution scores the same (the CI
// has no width), saving the rest of the repeats. Groups planned before the
// decision still run — those in flight and in the ready queue (max_pending
// each), and any that finished while the deciding execution was being scored
// (scoring is asynchronous) — so allow up to two more rounds of the 3 cases.
func TestAdaptiveRepeatsConverge(t *testing.T) {
	e := newEnv(t)
	e.write("adapt.hcl", stoppingBench("  repeat {\n    min   = 2\n    max   = 10\n    until = { ci_half_width = 0.05 }\n  }\n", 3))
	if plan := e.mustRunOK("plan", "adapt.hcl"); !strings.Contains(plan, "adaptive repeats: 2 to 10 per combination") ||
		!strings.Contains(plan, "between 12 and 60 executions") {
		t.Errorf("plan does not show the bounds:\n%s", plan)
	}
	r := e.run("run", "adapt.hcl", "--no-progress", "--format", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	b := leaderboardOf(t, r.stdout)
	for _, c := range b.Summary.Combos {
		if c.Stopped == nil || c.Stopped.Kind != "converged" || c.Stopped.Repeats != 2 || c.Executions < 6 || c.Executions > 12 || c.Stopped.CIHalfWidth != 0 {
			t.Errorf("%s: %d executions, %d repeats, decision %+v", c.Combination, c.Executions, c.Repeats, c.Stopped)
		}
	}
	if b.Summary.Saved != 60-b.Summary.Stored || b.Summary.Stored > 24 || b.Summary.Total != b.Summary.Stored {
		t.Errorf("summary: %+v", b.Summary)
	}
}
