package application

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/statediff"
	"github.com/wtbench/wtb/host/internal/store"
)

// parityRow is what parity keeps of an execution of the first batch while it
// reads the second: not the whole result.
type parityRow struct {
	success    bool
	kind, node string
	scores     map[string]float64
	checkpoint string
}

// parityPair is an execution both batches ran alike so far, whose final
// states are still to compare.
type parityPair struct {
	key                string
	first, second      string // final checkpoint ids
	tolerated, ignored bool   // scores differed within the tolerance, or in ignored evaluators
}

// compareParity compares the two batches of res execution by execution. It
// holds a small row per execution of the first batch, not the results, and
// reads one pair of final states at a time. States are compared as stored;
// the values of sensitive variables are masked in what it shows.
func (a *App) compareParity(ctx context.Context, st store.Store, res *ParityResult, specs [2]*spec.Batch) error {
	first, second := res.Batches[0].ID, res.Batches[1].ID
	po := res.Options
	red := spec.NewRedactor(append(slices.Clone(specs[0].Sensitive), specs[1].Sensitive...))
	rows := map[string]*parityRow{}
	err := st.Results().EachScored(ctx, first, func(r *store.Result) error {
		rows[r.ExecutionKey] = &parityRow{success: r.Success, kind: r.FailureKind, node: r.FailedNode, scores: r.Scores, checkpoint: r.FinalCheckpointID}
		return nil
	})
	if err != nil {
		return runtimeErr("reading the results of batch %s: %w", first, err)
	}
	sides := res.Sides()
	var pairs []parityPair
	var ended []int // diffs whose outcomes need their error texts
	err = st.Results().EachScored(ctx, second, func(y *store.Result) error {
		x, ok := rows[y.ExecutionKey]
		if !ok {
			res.Diffs = append(res.Diffs, ParityDiff{ExecutionKey: y.ExecutionKey, Kind: ParityOnlySecond, Detail: "only " + sides[1] + " ran it"})
			return nil
		}
		delete(rows, y.ExecutionKey)
		res.Compared++
		if x.success != y.Success || !x.success && (x.kind != y.FailureKind || x.node != y.FailedNode) {
			kind := ParityOutcome
			if !x.success && !y.Success {
				kind = ParityFailure
			}
			d := ParityDiff{ExecutionKey: y.ExecutionKey, Kind: kind, Outcomes: [2]*SideOutcome{
				{Status: status(x.success), FailureKind: x.kind, FailedNode: x.node},
				{Status: y.Status, FailureKind: y.FailureKind, FailedNode: y.FailedNode}}}
			ended = append(ended, len(res.Diffs))
			res.Diffs = append(res.Diffs, d)
			return nil // what follows a different ending differs too: it says nothing more
		}
		if !x.success {
			res.FailedAlike++
		}
		p := parityPair{key: y.ExecutionKey, first: x.checkpoint, second: y.FinalCheckpointID}
		var scores []ScoreDifference
		scores, p.tolerated, p.ignored = compareScores(x.scores, y.Scores, po)
		if len(scores) > 0 {
			res.Diffs = append(res.Diffs, ParityDiff{ExecutionKey: y.ExecutionKey, Kind: ParityScores, Scores: scores,
				Detail: "scores differ: " + scoreDiff(scores)})
		}
		pairs = append(pairs, p)
		return nil
	})
	if err != nil {
		return runtimeErr("reading the results of batch %s: %w", second, err)
	}
	for _, key := range spec.SortedKeys(rows) {
		res.Diffs = append(res.Diffs, ParityDiff{ExecutionKey: key, Kind: ParityOnlyFirst, Detail: "only " + sides[0] + " ran it"})
	}
	rows = nil
	scoresDiffer := map[string]bool{}
	for _, d := range res.Diffs {
		if d.Kind == ParityScores {
			scoresDiffer[d.ExecutionKey] = true
		}
	}
	for _, p := range pairs {
		sa, err := finalState(ctx, st, p.first)
		if err != nil {
			return runtimeErr("reading the final state of %s in batch %s: %w", p.key, first, err)
		}
		sb, err := finalState(ctx, st, p.second)
		if err != nil {
			return runtimeErr("reading the final state of %s in batch %s: %w", p.key, second, err)
		}
		changes, more, tolerated := compareStates(sa, sb, po.StateTolerance)
		if len(changes) > 0 {
			for i := range changes {
				changes[i].Before, changes[i].After = redactValue(red, changes[i].Before), redactValue(red, changes[i].After)
			}
			lines := make([]string, 0, len(changes)+1)
			for _, c := range changes {
				lines = append(lines, c.Line(70))
			}
			if more {
				lines = append(lines, "… more changes")
			}
			res.Diffs = append(res.Diffs, ParityDiff{ExecutionKey: p.key, Kind: ParityState, State: changes, MoreState: more,
				Detail: "final state differs: " + strings.Join(lines, "; ")})
			continue
		}
		if scoresDiffer[p.key] {
			continue
		}
		if p.tolerated || tolerated {
			res.Tolerated++
		}
		if p.ignored {
			res.IgnoredOnly++
		}
	}
	// The error texts of executions that ended differently: shown, not
	// compared, and read only for those.
	for _, i := range ended {
		d := &res.Diffs[i]
		for side, id := range []string{first, second} {
			if r, err := st.Results().Get(ctx, id, d.ExecutionKey); err == nil {
				d.Outcomes[side].Error = r.Error
			}
		}
		d.Detail = outcomeDetail(d, sides)
	}
	order := map[string]int{ParityOnlyFirst: 0, ParityOnlySecond: 1, ParityOutcome: 2, ParityFailure: 3, ParityScores: 4, ParityState: 5}
	sort.SliceStable(res.Diffs, func(i, j int) bool {
		if res.Diffs[i].ExecutionKey != res.Diffs[j].ExecutionKey {
			return res.Diffs[i].ExecutionKey < res.Diffs[j].ExecutionKey
		}
		return order[res.Diffs[i].Kind] < order[res.Diffs[j].Kind]
	})
	return nil
}

// redactValue masks sensitive values in a decoded JSON value.
func redactValue(red *spec.Redactor, v any) any {
	if v == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	masked := red.JSON(raw)
	if string(masked) == string(raw) {
		return v
	}
	return statediff.Decode(masked)
}

func status(success bool) string {
	if success {
		return store.ResultSucceeded
	}
	return store.ResultFailed
}

// outcomeDetail says how an execution ended on each side, with the error
// texts cut to one line.
func outcomeDetail(d *ParityDiff, sides [2]string) string {
	x, y := d.Outcomes[0], d.Outcomes[1]
	var parts []string
	for i, o := range []*SideOutcome{x, y} {
		part := o.brief() + " on " + sides[i]
		if o.Error != "" {
			part += ": " + oneLineBrief(o.Error, 100)
		}
		parts = append(parts, part)
	}
	if d.Kind == ParityFailure {
		return "failed differently: " + strings.Join(parts, "; ")
	}
	return strings.Join(parts, "; ")
}

func oneLineBrief(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// compareScores lists the evaluators whose scores differ by more than the
// tolerance, ignored ones left out; tolerated says some differed within it,
// ignored that an ignored one differed.
func compareScores(a, b map[string]float64, po ParityOptions) (diffs []ScoreDifference, tolerated, ignored bool) {
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	for _, k := range spec.SortedKeys(names) {
		x, inA := a[k]
		y, inB := b[k]
		if inA && inB && x == y {
			continue
		}
		if po.ignored(k) {
			ignored = true
			continue
		}
		if inA && inB && math.Abs(x-y) <= po.Tolerance {
			tolerated = true
			continue
		}
		d := ScoreDifference{Evaluator: k}
		if inA {
			d.First = &x
		}
		if inB {
			d.Second = &y
		}
		diffs = append(diffs, d)
	}
	return diffs, tolerated, ignored
}

// compareStates lists the changes from a to b beyond the relative tolerance
// on numbers (at most MaxParityChanges; more says there were others);
// tolerated says some number differed within it.
func compareStates(a, b map[string]any, rel float64) (changes []statediff.Change, more, tolerated bool) {
	if reflect.DeepEqual(a, b) {
		return nil, false, false
	}
	all, _ := statediff.Diff(a, b, 0)
	for _, c := range all {
		if c.Op == statediff.Changed && sameNumber(c.Before, c.After) {
			continue // 1 and 1.0: one number, spelt two ways
		}
		if c.Op == statediff.Changed && rel > 0 && closeNumbers(c.Before, c.After, rel) {
			tolerated = true
			continue
		}
		if len(changes) == MaxParityChanges {
			more = true
			break
		}
		changes = append(changes, c)
	}
	return changes, more, tolerated
}

// sameNumber says x and y are JSON numbers of the same value, compared
// exactly (two large integers a float64 cannot tell apart are not the same).
func sameNumber(x, y any) bool {
	a, okA := x.(json.Number)
	b, okB := y.(json.Number)
	if !okA || !okB {
		return false
	}
	ra, okA := new(big.Rat).SetString(string(a))
	rb, okB := new(big.Rat).SetString(string(b))
	return okA && okB && ra.Cmp(rb) == 0
}

// closeNumbers says x and y are numbers that differ by at most rel of the
// larger magnitude.
func closeNumbers(x, y any, rel float64) bool {
	a, okA := jsonNumber(x)
	b, okB := jsonNumber(y)
	if !okA || !okB {
		return false
	}
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

func jsonNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

func finalState(ctx context.Context, st store.Store, checkpoint string) (map[string]any, error) {
	if checkpoint == "" {
		return nil, nil
	}
	cp, err := st.Checkpoints().Get(ctx, checkpoint)
	if err != nil {
		return nil, err
	}
	return DecodeState(cp.State), nil
}

// scoreDiff writes the evaluators whose scores differ, each as "name a vs b"
// with three decimals, or every digit where three would hide the difference.
func scoreDiff(diffs []ScoreDifference) string {
	var parts []string
	for _, d := range diffs {
		sx, sy := numfmt.Dash, numfmt.Dash
		if d.First != nil && d.Second != nil {
			sx, sy = numfmt.Score(*d.First), numfmt.Score(*d.Second)
			if sx == sy {
				sx, sy = numfmt.Setting(*d.First), numfmt.Setting(*d.Second)
			}
		} else if d.First != nil {
			sx = numfmt.Score(*d.First)
		} else if d.Second != nil {
			sy = numfmt.Score(*d.Second)
		}
		parts = append(parts, d.Evaluator+" "+sx+" vs "+sy)
	}
	return strings.Join(parts, ", ")
}
