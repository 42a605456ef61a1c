package sched

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/adapt"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

// scoredVariants: node a with variants steady and noisy; the evaluator
// scores 1 when a wrote "hit". cases and the stopping rule are given.
func scoredVariants(cases int, stopping string) string {
	var cs strings.Builder
	for i := range cases {
		fmt.Fprintf(&cs, "  case \"c%02d\" { input = { i = %d } }\n", i, i)
	}
	return `
workflow "w" {
  node "a" {
    kind = "go"
    variant "steady" {}
    variant "noisy" {}
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.test
` + cs.String() + stopping + `
  evaluator "hit" {
    type   = "equals"
    path   = "$.a"
    expect = "hit"
  }
}
`
}

// scoreBy makes node a write "hit" when hit says so.
func scoreBy(hit func(variant string, in *executor.NodeInput) bool) nodeFunc {
	return func(_ context.Context, _ sdk.Node, in *executor.NodeInput, _ sdk.Events) (map[string]any, error) {
		if hit(in.Variant, in) {
			return map[string]any{"a": "hit"}, nil
		}
		return map[string]any{"a": "miss"}, nil
	}
}

// paceByScores makes the runner take one request at a time and start each
// only once every execution before it is scored. Scoring runs off the
// scheduler's loop, in goroutines the Go scheduler may run late; paced, a
// run's adaptive decisions come at the same point every time.
func (h *harness) paceByScores() {
	h.runner.capacity = 1
	h.runner.onRequest = func(*sdk.ExecuteRequest) {
		before := len(h.runner.reqs()) - 1
		deadline := time.Now().Add(2 * time.Second)
		for h.count(events.ExecutionFinished)+h.count(events.ExecutionFailed) < before && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// perCombination counts stored results by combination.
func perCombination(res map[string]store.Result) map[string]int {
	out := map[string]int{}
	for _, r := range res {
		out[r.Combination]++
	}
	return out
}

// Adaptive repeats: a combination whose scores never vary converges after
// min repeats and its later repeats are not planned; one whose scores keep
// varying runs to max. What is planned shrinks with what is skipped.
func TestAdaptiveRepeats(t *testing.T) {
	h := newHarness(t, scoredVariants(3, "repeat {\n  min = 2\n  max = 5\n  until = { ci_half_width = 0.05 }\n}"))
	h.runner.on("a", scoreBy(func(v string, in *executor.NodeInput) bool {
		return v == "steady" || in.Execution.Repeat%2 == 0
	}))
	h.paceByScores()
	ctl := adapt.New(h.batch, nil)
	prog := &progress{}
	rep := h.run("b1", func(c *Config) { c.Adapt, c.Progress = ctl, prog })

	got := perCombination(h.results("b1"))
	if got["a=noisy"] != 5*3 {
		t.Errorf("noisy ran %d executions; want all 15", got["a=noisy"])
	}
	// Converged after 2 repeats: 6 executions, and the group of the third
	// the planner opened while the second was being scored.
	if got["a=steady"] < 6 || got["a=steady"] > 8 {
		t.Errorf("steady ran %d executions; want 6 to 8", got["a=steady"])
	}
	total := got["a=noisy"] + got["a=steady"]
	if rep.Planned != total || rep.Succeeded != total || rep.Unfinished != 0 {
		t.Errorf("report %+v; %d executions ran", rep, total)
	}
	if prog.total != total || prog.retotals == 0 {
		t.Errorf("progress total %d after %d changes; want %d", prog.total, prog.retotals, total)
	}
	ds := map[string]store.Decision{}
	for _, d := range ctl.Decisions() {
		ds[d.Combination] = d
	}
	if d := ds["a=steady"]; d.Kind != store.DecisionConverged || d.Repeats != 2 || d.Skipped != 15-got["a=steady"] {
		t.Errorf("steady: %+v", d)
	}
	if d := ds["a=noisy"]; d.Kind != store.DecisionMaxRepeats || d.Repeats != 5 || d.Skipped != 0 {
		t.Errorf("noisy: %+v", d)
	}
	if n := len(h.events(events.CombinationFinished)); n != 2 {
		t.Errorf("%d combination.finished events", n)
	}
}

// Racing: once min_cases cases are scored for both, the combination that is
// always worse is pruned and its remaining cases are not planned.
func TestRacingStopsTheWorse(t *testing.T) {
	const cases = 12
	h := newHarness(t, scoredVariants(cases, "racing {\n  confidence = 0.95\n  min_cases = 2\n}"))
	h.runner.on("a", scoreBy(func(v string, _ *executor.NodeInput) bool { return v == "steady" }))
	h.paceByScores()
	ctl := adapt.New(h.batch, nil)
	rep := h.run("b1", func(c *Config) { c.Adapt = ctl })
	got := perCombination(h.results("b1"))
	// Pruned once c00 and c01 are scored; c02 was planned by then.
	if got["a=steady"] != cases || got["a=noisy"] < 2 || got["a=noisy"] > 4 {
		t.Errorf("executions per combination %v; want all %d of steady, 2 to 4 of noisy", got, cases)
	}
	if rep.Planned != rep.Succeeded || rep.Succeeded != got["a=steady"]+got["a=noisy"] || rep.Unfinished != 0 {
		t.Errorf("report %+v", rep)
	}
	ds := ctl.Decisions()
	if len(ds) != 1 || ds[0].Combination != "a=noisy" || ds[0].Kind != store.DecisionPruned || ds[0].Best != "a=steady" ||
		ds[0].Skipped != cases-got["a=noisy"] {
		t.Errorf("decisions %+v", ds)
	}
}

// When every execution of a combination is skipped, its end is told as a
// stop; a run whose combinations were all decided earlier (a resume of a
// stopped batch) runs nothing of them.
func TestStoppedCombinationIsToldAsStopped(t *testing.T) {
	h := newHarness(t, scoredVariants(3, "racing {\n  min_cases = 2\n}"))
	ctl := adapt.New(h.batch, nil)
	if err := ctl.Restore([]store.Decision{{Combination: "a=noisy", Kind: store.DecisionPruned}},
		func(func(*store.Result) error) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rep := h.run("b1", func(c *Config) { c.Adapt = ctl })
	if got := perCombination(h.results("b1")); got["a=noisy"] != 0 || got["a=steady"] != 3 || rep.Planned != 3 {
		t.Errorf("results %v, report %+v", got, rep)
	}
	stopped := false
	for _, e := range h.events(events.CombinationFinished) {
		stopped = stopped || (e.Combination == "a=noisy" && strings.Contains(e.Message, "stopped early"))
	}
	if !stopped {
		t.Error("no combination.finished event says a=noisy was stopped early")
	}
}
