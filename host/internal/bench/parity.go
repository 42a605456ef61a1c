package bench

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/store"
)

// ParityResult compares a batch run on two runners.
type ParityResult struct {
	Runners  [2]string
	Outcomes [2]*Outcome
	// Compared is the number of executions of the first run.
	Compared int
	// Diffs lists every execution whose outcome, final state or scores
	// differ, one line each, sorted.
	Diffs []string
}

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
		rec := a.newBatchRecord(newBatchID(), p.Spec, cfg.Path)
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
func parityDiffs(ctx context.Context, st store.Store, a, b string) ([]string, int, error) {
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
	var diffs []string
	seen := map[string]bool{}
	for _, x := range ra {
		seen[x.ExecutionKey] = true
		y, ok := byKey[x.ExecutionKey]
		if !ok {
			diffs = append(diffs, x.ExecutionKey+": only in the first run")
			continue
		}
		if x.Success != y.Success {
			diffs = append(diffs, fmt.Sprintf("%s: %s vs %s (%s%s)", x.ExecutionKey, x.Status, y.Status, x.Error, y.Error))
			continue
		}
		if !reflect.DeepEqual(x.Scores, y.Scores) {
			diffs = append(diffs, fmt.Sprintf("%s: scores %s vs %s", x.ExecutionKey, Brief(x.Scores), Brief(y.Scores)))
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
			diffs = append(diffs, fmt.Sprintf("%s: final state differs: %s", x.ExecutionKey, strings.Join(StateDiff(sa, sb), "; ")))
		}
	}
	for _, y := range rb {
		if !seen[y.ExecutionKey] {
			diffs = append(diffs, y.ExecutionKey+": only in the second run")
		}
	}
	sort.Strings(diffs)
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
