package application

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/statediff"
)

// Scores differ beyond the tolerance, within it (tolerated) or in an ignored
// evaluator (ignored); an evaluator only one side has is a difference unless
// ignored.
func TestCompareScores(t *testing.T) {
	po := ParityOptions{Tolerance: 0.05, IgnoreEvaluators: []string{"latency"}}
	for _, c := range []struct {
		a, b               map[string]float64
		diffs              string
		tolerated, ignored bool
	}{
		{map[string]float64{"e": 1}, map[string]float64{"e": 1}, "", false, false},
		{map[string]float64{"e": 0.8}, map[string]float64{"e": 0.84}, "", true, false},
		{map[string]float64{"e": 0.8}, map[string]float64{"e": 0.86}, "e 0.800 vs 0.860", false, false},
		{map[string]float64{"e": 1, "latency": 1}, map[string]float64{"e": 1, "latency": 0}, "", false, true},
		{map[string]float64{"e": 1}, map[string]float64{"e": 1, "latency": 0}, "", false, true},
		{map[string]float64{"e": 1}, map[string]float64{"e": 1, "new": 0}, "new — vs 0.000", false, false},
	} {
		diffs, tol, ign := compareScores(c.a, c.b, po)
		if got := scoreDiff(diffs); got != c.diffs || tol != c.tolerated || ign != c.ignored {
			t.Errorf("%v vs %v: %q %v %v, want %q %v %v", c.a, c.b, got, tol, ign, c.diffs, c.tolerated, c.ignored)
		}
	}
}

// Numbers differ relative to the larger magnitude; anything else is
// compared exactly.
func TestCompareStates(t *testing.T) {
	state := func(s string) map[string]any { return DecodeState(json.RawMessage(s)) }
	for _, c := range []struct {
		a, b      string
		rel       float64
		changes   string
		tolerated bool
	}{
		{`{"x": 1, "y": 1e2}`, `{"x": 1.0, "y": 100}`, 0, "[]", false}, // one number, spelt two ways
		{`{"x": 9007199254740993}`, `{"x": 9007199254740992}`, 0, "[~ $.x: 9007199254740993 → 9007199254740992]", false},
		{`{"x": 100, "s": "a"}`, `{"x": 101, "s": "a"}`, 0.01, "[]", true},
		{`{"x": 100}`, `{"x": 102}`, 0.01, "[~ $.x: 100 → 102]", false},
		{`{"x": -100}`, `{"x": -101}`, 0.01, "[]", true},
		{`{"x": 0}`, `{"x": 0.001}`, 0.01, "[~ $.x: 0 → 0.001]", false},
		{`{"s": "1"}`, `{"s": "1.0"}`, 0.5, `[~ $.s: "1" → "1.0"]`, false},
		{`{"x": 1}`, `{"x": [1]}`, 0.5, "[~ $.x: 1 → [1]]", false},
		{`{"x": 1}`, `{}`, 0.5, "[- $.x (was 1)]", false},
	} {
		changes, _, tol := compareStates(state(c.a), state(c.b), c.rel)
		lines := []string{}
		for _, ch := range changes {
			lines = append(lines, ch.Line(70))
		}
		if got := fmt.Sprint(lines); got != c.changes || tol != c.tolerated {
			t.Errorf("%s vs %s at %g: %s %v, want %s %v", c.a, c.b, c.rel, got, tol, c.changes, c.tolerated)
		}
	}
	many := map[string]any{}
	for i := 0; i < MaxParityChanges+5; i++ {
		many[fmt.Sprintf("k%02d", i)] = json.Number(fmt.Sprint(i))
	}
	changes, more, _ := compareStates(map[string]any{}, many, 0)
	if len(changes) != MaxParityChanges || !more || changes[0].Op != statediff.Added {
		t.Errorf("%d changes, more %v", len(changes), more)
	}
}

// Parity runs every node of every execution on each runner: the node cache
// (the batch's and a node's own), fail_fast, adaptive repeats and racing
// are off in the spec it runs and stores, and the bench file's spec is left
// as it was.
func TestParitySpecRunsEverything(t *testing.T) {
	on := true
	b := &spec.Batch{Cache: true, FailFast: true, Repeat: 30, Adaptive: &spec.Adaptive{Min: 3, CIHalfWidth: 0.05},
		Racing:   &spec.Racing{Confidence: 0.95, MinCases: 10},
		Workflow: spec.Workflow{Nodes: []spec.Node{{Name: "a"}, {Name: "b", Cache: &on}}}}
	got, off := paritySpec(b)
	if got.Cache || got.FailFast || got.Adaptive != nil || got.Racing != nil || got.Repeat != 30 {
		t.Errorf("parity spec: %+v", got)
	}
	for _, n := range got.Workflow.Nodes {
		if r := n.Resolve("", got.Cache); r.Cache {
			t.Errorf("node %s caches", n.Name)
		}
	}
	if fmt.Sprint(off) != "[the node cache fail_fast adaptive repeats (each case runs 30 times) racing]" {
		t.Errorf("said off: %q", off)
	}
	if !b.Cache || !b.FailFast || b.Adaptive == nil || b.Racing == nil || b.Workflow.Nodes[0].Cache != nil || !*b.Workflow.Nodes[1].Cache {
		t.Errorf("the bench file's spec changed: %+v", b)
	}
	if _, off := paritySpec(&spec.Batch{Repeat: 1}); len(off) != 0 {
		t.Errorf("nothing to turn off, yet: %q", off)
	}
}
