package application

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// diffEvaluators lines up A's and B's evaluators by name and says whether the
// overall scores compare: the same evaluators with the same settings and
// weights. dirA and dirB are the batches' bench file directories: a command
// naming a script under it is the same command in another checkout.
func diffEvaluators(a, b []spec.Evaluator, dirA, dirB string) ([]EvaluatorDiff, bool) {
	inB := map[string]*spec.Evaluator{}
	for i := range b {
		inB[b[i].Name] = &b[i]
	}
	same := len(a) == len(b)
	out := []EvaluatorDiff{}
	seen := map[string]bool{}
	for i := range a {
		ea := &a[i]
		seen[ea.Name] = true
		eb := inB[ea.Name]
		if eb == nil {
			out = append(out, EvaluatorDiff{Name: ea.Name, Status: EvaluatorOnlyA, A: ea})
			same = false
			continue
		}
		d := EvaluatorDiff{Name: ea.Name, Status: EvaluatorSame, A: ea, B: eb, Changes: evaluatorChanges(ea, eb, dirA, dirB)}
		d.Comparable = len(d.Changes) == 0 || (len(d.Changes) == 1 && ea.Weight != eb.Weight)
		if len(d.Changes) > 0 {
			d.Status, same = EvaluatorChanged, false
		}
		out = append(out, d)
	}
	for i := range b {
		if !seen[b[i].Name] {
			out = append(out, EvaluatorDiff{Name: b[i].Name, Status: EvaluatorOnlyB, B: &b[i]})
			same = false
		}
	}
	return out, same
}

// evaluatorChanges describes what differs between two evaluators of one name,
// one entry per setting, the weight last.
func evaluatorChanges(a, b *spec.Evaluator, dirA, dirB string) []string {
	var out []string
	diff := func(name, x, y string) {
		if x != y {
			out = append(out, fmt.Sprintf("%s %s → %s", name, orNone(x), orNone(y)))
		}
	}
	diff("type", a.Type, b.Type)
	diff("node", a.Node, b.Node)
	diff("path", a.Path, b.Path)
	diff("expect", string(a.Expect), string(b.Expect))
	diff("pattern", a.Pattern, b.Pattern)
	diff("tolerance", numfmt.Setting(a.Tolerance), numfmt.Setting(b.Tolerance))
	diff("max_ms", numfmt.Setting(a.MaxMs), numfmt.Setting(b.MaxMs))
	diff("case_sensitive", fmt.Sprint(a.CaseSensitive), fmt.Sprint(b.CaseSensitive))
	diff("command", portableCommand(a.Command, dirA), portableCommand(b.Command, dirB))
	diff("timeout", time.Duration(a.Timeout).String(), time.Duration(b.Timeout).String())
	diff("weight", numfmt.Setting(a.Weight), numfmt.Setting(b.Weight))
	return out
}

// diffCases counts the cases both batches ran alike and those they did not,
// from each batch's case digests (id → dataset.CaseDigest: the same digest,
// the same input and expectations by value), and returns the ids of the
// cases both ran alike: only their executions are paired.
func diffCases(a, b map[string]string) (CaseSets, map[string]bool) {
	var sets CaseSets
	same := map[string]bool{}
	for id, da := range a {
		db, ok := b[id]
		switch {
		case !ok:
			sets.OnlyA++
		case da == db:
			sets.Common++
			same[id] = true
		default:
			sets.Changed++
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			sets.OnlyB++
		}
	}
	return sets, same
}

// DecodeValue decodes any JSON value, keeping numbers exact (nil when raw is
// empty or not JSON).
func DecodeValue(raw json.RawMessage) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// firstDivergence finds the first node, in B's order, whose state differs
// from the same node's in A.
func firstDivergence(ctx context.Context, st store.Store, ra outcomeA, rb store.Result, d *CaseDelta) error {
	if ra.nodes != nil {
		return divergenceFromDigests(ctx, st, ra, rb, d)
	}
	ca, err := chain(ctx, st, ra.finalID)
	if err != nil {
		return err
	}
	cb, err := chain(ctx, st, rb.FinalCheckpointID)
	if err != nil {
		return err
	}
	inA := map[string]*store.Checkpoint{}
	for _, cp := range ca {
		if cp.Node != "" {
			inA[cp.Node] = cp
		}
	}
	for _, cp := range cb {
		if cp.Node == "" {
			continue
		}
		before, ok := inA[cp.Node]
		if !ok {
			d.Node, d.Detail, d.OutputB = cp.Node, "did not run in A", cp.Output
			return nil
		}
		sa, sb := DecodeState(before.State), DecodeState(cp.State)
		if !reflect.DeepEqual(sa, sb) {
			d.Node, d.Detail = cp.Node, strings.Join(StateDiff(sa, sb), "; ")
			d.OutputA, d.OutputB = before.Output, cp.Output
			return nil
		}
	}
	sameNodes(ra, rb, d)
	return nil
}

// sameNodes says why an execution whose node states are all alike in A and
// B changed: a failure, or the evaluators.
func sameNodes(ra outcomeA, rb store.Result, d *CaseDelta) {
	if !ra.success || !rb.Success {
		d.Node = rb.FailedNode + ra.failed
		if d.Node == "" {
			d.Node = "-"
		}
		d.Detail = fmt.Sprintf("A %s, B %s", ra.status, rb.Status)
		return
	}
	d.Node, d.Detail = "(none)", "same node outputs; the evaluators scored them differently"
}

// divergenceFromDigests is firstDivergence when A is a baseline file: A's
// states are known by their digests only, so the node is named and B's
// output shown, but not what changed.
func divergenceFromDigests(ctx context.Context, st store.Store, ra outcomeA, rb store.Result, d *CaseDelta) error {
	cb, err := chain(ctx, st, rb.FinalCheckpointID)
	if err != nil {
		return err
	}
	inA := map[string]string{}
	for _, n := range ra.nodes {
		inA[n.Node] = n.State
	}
	for _, cp := range cb {
		if cp.Node == "" {
			continue
		}
		digest, ok := inA[cp.Node]
		switch {
		case !ok:
			d.Node, d.Detail, d.OutputB = cp.Node, "did not run in A", cp.Output
			return nil
		case digest != StateDigest(cp.State):
			d.Node, d.OutputB = cp.Node, cp.Output
			d.Detail = "state differs from the baseline's (the file keeps digests of states, not what changed)"
			return nil
		}
	}
	sameNodes(ra, rb, d)
	return nil
}
