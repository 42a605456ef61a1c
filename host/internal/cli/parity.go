package cli

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

func (a *app) parityCommand() *cobra.Command {
	f := &runFlags{}
	var runners string
	var limit int
	cmd := &cobra.Command{
		Use:   "parity FILE --runners A,B",
		Short: "Run the same batch on two runners and report per-execution differences (exit 0 when they agree)",
		Long: `Run a batch once on runner block A and once on runner block B (everything
else identical) and compare every execution: success, final state and
evaluator scores. Use it to show that a cluster gives the same results as the
local pool on deterministic workflows. Latency evaluators compare too, so
leave them out of parity runs or give them room.

Exit codes: 0 no differences, 1 differences found, 2 usage or configuration
error, 3 runtime failure.`,
		Example: `  wtb parity bench.hcl --runners local,cluster`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := strings.Split(runners, ",")
			if len(names) != 2 || names[0] == "" || names[1] == "" {
				return exitf(ExitConfig, "--runners needs two runner block names, e.g. --runners local,cluster")
			}
			return a.parity(cmd.Context(), args[0], names, limit, f)
		},
	}
	addRunFlags(cmd, f)
	cmd.Flags().StringVar(&runners, "runners", "", "the two runner blocks to compare, A,B")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many differences listed")
	return cmd
}

func (a *app) parity(ctx context.Context, file string, runners []string, limit int, f *runFlags) error {
	cfg, err := a.loadConfig(file, f.vars)
	if err != nil {
		return err
	}
	base, err := cfg.Batch(f.batch)
	if err != nil {
		return exitf(ExitConfig, "%v", err)
	}
	st, err := a.openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	f.quiet = true
	var ids []string
	for _, name := range runners {
		pb, ok := cfg.Runners[name]
		if !ok {
			return exitf(ExitConfig, "%s declares no runner %q (it has: %s)", file, name, strings.Join(spec.SortedKeys(cfg.Runners), ", "))
		}
		specCopy := *base.Spec
		bd := &config.BatchDecl{Spec: &specCopy, Runner: pb, Environment: base.Environment, DefRange: base.DefRange}
		bus := events.New(10000)
		ps, diags, err := a.startPluginsFromConfig(ctx, cfg, bd, bus, true)
		a.printDiagnostics(cfg.Files(), diags)
		if err != nil {
			return exitf(ExitRuntime, "%v", err)
		}
		if diags.HasErrors() {
			return exitf(ExitConfig, "%s has %s", file, plural(countErrors(diags), "error", "errors"))
		}
		b := bd.Spec
		if !ps.runner.HasCapability(sdk.CapabilityStartState) {
			b.SharePrefixes = false
		}
		evaluator, err := compileEvaluators(b)
		if err != nil {
			ps.close()
			return err
		}
		rec := newBatchRecord(newBatchID(), b, file)
		rec.Name = b.Name + " (parity: " + name + ")"
		runCtx, l, err := a.create(ctx, st, rec)
		if err != nil {
			ps.close()
			return err
		}
		fmt.Fprintf(a.stderr, "parity: running %s on runner %s (%s)\n", b.Name, name, pb.Plugin)
		err = a.execute(runCtx, batchRun{st: st, ps: ps, bus: bus, rec: rec, spec: b, evaluator: evaluator, lease: l}, f)
		l.release()
		ps.close()
		if ee, ok := err.(*exitError); ok && ee.code != ExitThresholds {
			return err
		}
		ids = append(ids, rec.ID)
	}
	diffs, compared, err := parityDiffs(ctx, st, ids[0], ids[1])
	if err != nil {
		return exitf(ExitRuntime, "%v", err)
	}
	fmt.Fprintf(a.stdout, "parity %s vs %s: %d executions compared (batches %s and %s)\n", runners[0], runners[1], compared, ids[0], ids[1])
	if len(diffs) == 0 {
		fmt.Fprintln(a.stdout, "no differences: same outcomes, final states and scores")
		return nil
	}
	fmt.Fprintf(a.stdout, "%s:\n", plural(len(diffs), "difference", "differences"))
	for i, d := range diffs {
		if i == limit {
			fmt.Fprintf(a.stdout, "  … %d more (raise --limit)\n", len(diffs)-limit)
			break
		}
		fmt.Fprintf(a.stdout, "  %s\n", d)
	}
	return exitCode(ExitThresholds)
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
			diffs = append(diffs, fmt.Sprintf("%s: scores %s vs %s", x.ExecutionKey, brief(x.Scores), brief(y.Scores)))
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
			diffs = append(diffs, fmt.Sprintf("%s: final state differs: %s", x.ExecutionKey, strings.Join(stateDiff(sa, sb), "; ")))
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
	return decodeState(cp.State), nil
}
