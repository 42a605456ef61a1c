package bench

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// ParityResult compares a batch run on two runners.
type ParityResult struct {
	Runners  [2]string
	Outcomes [2]*Outcome
	// Compared is the number of executions of the first run.
	Compared int
	// Diffs lists every execution whose outcome, final state or scores
	// differ, sorted.
	Diffs []ParityDiff
}

// ParityDiff is one way an execution differs between the two runs.
type ParityDiff struct {
	ExecutionKey string
	// Kind is only_first, only_second, outcome, scores or state.
	Kind   string
	Detail string
}

func (d ParityDiff) String() string { return d.ExecutionKey + ": " + d.Detail }

// Parity runs a batch once on each of two runner blocks (everything else
// identical) and compares them execution by execution.
func (a *App) Parity(ctx context.Context, st store.Store, cfg *config.Config, batch string, runners [2]string, opts RunOptions) (*ParityResult, error) {
	res := &ParityResult{Runners: runners}
	// Both names first: a typo in the second must not cost a run on the first.
	for _, name := range runners {
		if _, ok := cfg.Runners[name]; !ok {
			return nil, unknownRunner(cfg, name)
		}
	}
	for i, name := range runners {
		p, diags, err := a.Prepare(ctx, cfg, PrepareOptions{Batch: batch, Runner: name})
		if err != nil {
			return nil, withDiagnostics(err, diags)
		}
		a.notice("parity: running %s on runner %s (%s)", p.Spec.Name, name, p.Spec.Runner.Plugin)
		rec := a.newBatchRecord(ctx, newBatchID(), p.Spec, cfg.Path)
		rec.Name = p.Spec.Name + " (parity: " + name + ")"
		runCtx, l, err := a.create(ctx, st, rec)
		if err != nil {
			p.Close()
			return nil, err
		}
		out, err := a.execute(runCtx, job{st: st, plugins: p.Plugins, bus: p.Bus, rec: rec, spec: p.Spec, evaluator: p.Evaluator, lease: l}, opts)
		l.release()
		p.Close()
		if err != nil {
			return nil, err
		}
		res.Outcomes[i] = out
	}
	diffs, compared, err := parityDiffs(ctx, st, res.Outcomes[0].Batch.ID, res.Outcomes[1].Batch.ID)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	res.Diffs, res.Compared = diffs, compared
	return res, nil
}

// parityDiffs compares two batches execution by execution.
func parityDiffs(ctx context.Context, st store.Store, a, b string) ([]ParityDiff, int, error) {
	ra, err := st.Results().List(ctx, a)
	if err != nil {
		return nil, 0, err
	}
	rb, err := st.Results().List(ctx, b)
	if err != nil {
		return nil, 0, err
	}
	byKey := map[string]store.Result{}
	for _, r := range rb {
		byKey[r.ExecutionKey] = r
	}
	diffs := []ParityDiff{}
	seen := map[string]bool{}
	for _, x := range ra {
		seen[x.ExecutionKey] = true
		y, ok := byKey[x.ExecutionKey]
		if !ok {
			diffs = append(diffs, ParityDiff{x.ExecutionKey, "only_first", "only in the first run"})
			continue
		}
		if x.Success != y.Success {
			diffs = append(diffs, ParityDiff{x.ExecutionKey, "outcome", fmt.Sprintf("%s vs %s (%s%s)", x.Status, y.Status, x.Error, y.Error)})
			continue
		}
		if !reflect.DeepEqual(x.Scores, y.Scores) {
			diffs = append(diffs, ParityDiff{x.ExecutionKey, "scores", "scores differ: " + scoreDiff(x.Scores, y.Scores)})
		}
		sa, err := finalState(ctx, st, x)
		if err != nil {
			return nil, 0, err
		}
		sb, err := finalState(ctx, st, y)
		if err != nil {
			return nil, 0, err
		}
		if !reflect.DeepEqual(sa, sb) {
			diffs = append(diffs, ParityDiff{x.ExecutionKey, "state", "final state differs: " + strings.Join(StateDiff(sa, sb), "; ")})
		}
	}
	for _, y := range rb {
		if !seen[y.ExecutionKey] {
			diffs = append(diffs, ParityDiff{y.ExecutionKey, "only_second", "only in the second run"})
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].String() < diffs[j].String() })
	return diffs, len(ra), nil
}

func finalState(ctx context.Context, st store.Store, r store.Result) (map[string]any, error) {
	if r.FinalCheckpointID == "" {
		return nil, nil
	}
	cp, err := st.Checkpoints().Get(ctx, r.FinalCheckpointID)
	if err != nil {
		return nil, err
	}
	return DecodeState(cp.State), nil
}

// scoreDiff names the evaluators whose scores differ, each as "name a vs b"
// with three decimals, or every digit where three would hide the difference.
func scoreDiff(a, b map[string]float64) string {
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	var parts []string
	for _, k := range spec.SortedKeys(names) {
		x, inA := a[k]
		y, inB := b[k]
		if inA && inB && x == y {
			continue
		}
		sx, sy := numfmt.Score(x), numfmt.Score(y)
		if sx == sy {
			sx, sy = numfmt.Setting(x), numfmt.Setting(y)
		}
		if !inA {
			sx = numfmt.Dash
		}
		if !inB {
			sy = numfmt.Dash
		}
		parts = append(parts, k+" "+sx+" vs "+sy)
	}
	return strings.Join(parts, ", ")
}
