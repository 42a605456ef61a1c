package eval

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/trajectory"
)

func tool(node, name, args string) trajectory.Step {
	return trajectory.Step{Kind: "tool", Node: node, Name: name, Arguments: json.RawMessage(args)}
}

// Pairing puts the entries that give arguments first, so a looser entry does
// not take the call a stricter one needs; an expect path reads the list from
// the case; a failed execution scores 0 as with every evaluator.
func TestTrajectoryPairingAndExpectPaths(t *testing.T) {
	steps := []trajectory.Step{
		tool("answer", "search", `{"q":"paris"}`),
		tool("answer", "search", `{"q":"lyon","page":2}`),
		{Kind: "model", Node: "plan", Name: "chat m"},
		tool("plan", "fetch", `null`),
	}
	cs := spec.Case{ID: "c", Input: json.RawMessage(`{}`), Expected: json.RawMessage(`{"tools":["search","search"]}`)}
	for _, c := range []struct {
		ev    spec.Evaluator
		score float64
		note  string
	}{
		{spec.Evaluator{Type: "trajectory", Match: "unordered", Arguments: true, Node: "answer",
			Expect: json.RawMessage(`["search", {"name":"search","arguments":{"q":"paris"}}]`)}, 1,
			`called [search{"q":"paris"}, search{"page":2,"q":"lyon"}] in node answer; expected [search, search{"q":"paris"}]: the same calls`},
		{spec.Evaluator{Type: "trajectory", Match: "strict", Node: "answer", Expect: json.RawMessage(`"$.expected.tools"`)}, 1,
			"called [search, search] in node answer; expected [search, search]: the same calls in the same order"},
		{spec.Evaluator{Type: "trajectory", Match: "superset", Expect: json.RawMessage(`"$.expected.missing"`)}, 0,
			`expectation "$.expected.missing" not found in the case`},
		{spec.Evaluator{Type: "trajectory", Match: "superset", Arguments: true, Node: "answer",
			Expect: json.RawMessage(`[{"name":"search","arguments":{"q":"rome"}}]`)}, 0,
			`called [search{"q":"paris"}, search{"page":2,"q":"lyon"}] in node answer; expected [search{"q":"rome"}]: not a superset of them, not called: search{"q":"rome"}; not expected: search{"q":"paris"}, search{"page":2,"q":"lyon"}; F1 0.00`},
		{spec.Evaluator{Type: "step_count", MaxSteps: ptr(0), Node: "plan"}, 0, "1 model turn in node plan, more than max = 0"},
		{spec.Evaluator{Type: "tool_used", Tool: "fetch", Node: "answer"}, 0, "fetch never called in node answer; called search, search"},
	} {
		c.ev.Name, c.ev.Weight = "t", 1
		e, err := Compile(&spec.Batch{Evaluators: []spec.Evaluator{c.ev}})
		if err != nil {
			t.Fatal(err)
		}
		out := e.Evaluate(context.Background(), Input{Success: true, State: json.RawMessage(`{}`), Case: cs, Steps: steps})
		if math.Abs(out.Scores["t"]-c.score) > 1e-9 || out.Notes["t"] != c.note {
			t.Errorf("%s %s: %.3f %q\nwant %.3f %q", c.ev.Type, c.ev.Expect, out.Scores["t"], out.Notes["t"], c.score, c.note)
		}
		failed := e.Evaluate(context.Background(), Input{Success: false, Case: cs, Steps: steps})
		if failed.Scores["t"] != 0 || failed.Notes["t"] != "execution failed" {
			t.Errorf("a failed execution: %v %v", failed.Scores, failed.Notes)
		}
	}
	if !(&Evaluator{evs: []compiled{{Evaluator: spec.Evaluator{Type: "tool_used", Node: "x"}}}}).Trajectories() {
		t.Error("Trajectories() false with a tool_used evaluator")
	}
	if n := (&Evaluator{evs: []compiled{{Evaluator: spec.Evaluator{Type: "tool_used", Node: "x"}}}}).NodesScored(); len(n) != 0 {
		t.Errorf("a trajectory evaluator keeps node outputs: %v", n)
	}
}

func ptr(i int) *int { return &i }
