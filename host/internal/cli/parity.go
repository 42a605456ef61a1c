package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
)

// parityFlags are what parity tolerates.
type parityFlags struct {
	tolerance, stateTolerance float64
	ignore                    []string
	limit                     int
}

func (p parityFlags) options() application.ParityOptions {
	return application.ParityOptions{Tolerance: p.tolerance, StateTolerance: p.stateTolerance, IgnoreEvaluators: p.ignore}
}

// runOnlyFlags apply to running a batch: with parity --batches nothing runs.
var runOnlyFlags = []string{"runners", "batch", "var", "junit", "progress-every", "metrics-addr", "metrics-linger",
	"metrics-detail", "pushgateway", "model-calls", "audit-nodes", "otlp-endpoint", "otlp-header"}

func (a *app) parityCommand() *cobra.Command {
	f := &runFlags{}
	var runners string
	var batches bool
	var pf parityFlags
	cmd := &cobra.Command{
		Use:   "parity (FILE --runners A,B | --batches A B)",
		Short: "Show that two runners give the same results: run a batch on both, or compare two stored batches (exit 0 when they agree)",
		Long: `Compare a batch on two runners, execution by execution. With FILE and
--runners A,B, parity runs the batch once on runner block A and once on
runner block B, everything else identical; the node cache, fail_fast,
adaptive repeats and racing are off for both runs, so each runner runs every
node of every execution. With --batches A B it compares two
stored batches that ran the same bench file on two runners (a nightly batch
on the cluster, one on a laptop), and says first what else differs between
them: nodes, scripts, cases, repeats, evaluators.

For every execution both batches ran, parity compares
  - how it ended: succeeded on both, or failed on both at the same node with
    the same failure kind (exit, timeout, invalid_output, ...). Error texts
    are shown, not compared: they name paths, processes and hosts;
  - each evaluator's score, within --tolerance (score units), leaving out the
    --ignore-evaluator ones (a latency evaluator differs between runners by
    nature). The overall score and pass/fail follow from these and the
    weights, so they are not compared on their own;
  - the final state (of a failed execution, the state before the node that
    failed), numbers within --state-tolerance of the larger of the two.
An execution only one batch ran is a difference too. Durations, workers,
attempts, logs and the nodes' _metrics are not compared.

The verdict goes to the audit trail of both batches (event parity.checked;
see wtb audit BATCH_ID).

Exit codes: 0 no differences, 1 differences found, 2 usage or configuration
error, 3 runtime failure.`,
		Example: `  wtb parity bench.hcl --runners local,cluster
  wtb parity bench.hcl --runners local,cluster --ignore-evaluator latency --tolerance 0.02
  wtb parity --batches 20261125-101010-1a2b3c4d 20261126-101010-5e6f7a8b --format json`,
		Args: cobra.ArbitraryArgs, // counted below, where the mode is known
		RunE: func(cmd *cobra.Command, args []string) error {
			switch f.format {
			case "table", "text", "json":
			default:
				return exitf(ExitConfig, "unknown --format %q for parity: use table or json (schema: wtb schema parity)", f.format)
			}
			if batches {
				if len(args) != 2 {
					return exitf(ExitConfig, "--batches needs two batch ids: wtb parity --batches A B")
				}
				for _, name := range runOnlyFlags {
					if cmd.Flags().Changed(name) {
						return exitf(ExitConfig, "--%s applies to running a batch on two runners; with --batches nothing runs", name)
					}
				}
				return a.parityBatches(cmd.Context(), [2]string{args[0], args[1]}, pf, f.format)
			}
			if len(args) != 1 {
				return exitf(ExitConfig, "wtb parity takes one bench file and --runners A,B, or --batches A B for two stored batches (got %s)", plural(len(args), "argument", "arguments"))
			}
			if runners == "" {
				return exitf(ExitConfig, "wtb parity FILE needs --runners A,B: the two runner blocks to run the batch on (or --batches A B for two stored batches)")
			}
			names := strings.Split(runners, ",")
			if len(names) != 2 || names[0] == "" || names[1] == "" {
				return exitf(ExitConfig, "--runners needs two runner block names, e.g. --runners local,cluster")
			}
			return a.parity(cmd.Context(), args[0], [2]string{names[0], names[1]}, pf, f)
		},
	}
	addRunFlags(cmd, f)
	cmd.Flags().StringVar(&runners, "runners", "", "the two runner blocks of FILE to run the batch on, A,B")
	cmd.Flags().BoolVar(&batches, "batches", false, "compare two stored batches, A B, instead of running one")
	cmd.Flags().Float64Var(&pf.tolerance, "tolerance", 0, "an evaluator's scores may differ by this much (scores are 0 to 1)")
	cmd.Flags().Float64Var(&pf.stateTolerance, "state-tolerance", 0, "numbers in the final state may differ by this fraction of the larger (0.01: 100 and 101 agree)")
	cmd.Flags().StringArrayVar(&pf.ignore, "ignore-evaluator", nil, "leave this evaluator's scores out (repeatable), e.g. a latency evaluator")
	cmd.Flags().Lookup("format").Usage = "table or json: the differences (schema: wtb schema parity)"
	cmd.Flags().IntVar(&pf.limit, "limit", 20, "at most this many differences listed")
	return cmd
}

func (a *app) parity(ctx context.Context, file string, runners [2]string, pf parityFlags, f *runFlags) error {
	cfg, err := a.loadConfig(file, f.vars)
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	opts, err := a.runOptions(st, f)
	if err != nil {
		return err
	}
	defer a.metricsDone(f.metrics, nil)
	res, err := a.bench().Parity(ctx, st, cfg, f.batch, runners, pf.options(), opts)
	if err != nil {
		var be *application.Error
		if errors.As(err, &be) {
			a.printDiagnostics(cfg.Files(), be.Diags)
		}
		return a.failed(err)
	}
	for _, out := range res.Outcomes {
		if out == nil {
			break
		}
		fmt.Fprintln(a.stderr, runLine(out.Batch.ID, out.Report, st))
		printScoringWarnings(a.stderr, out.Summary)
		if out.Err != nil {
			return exitf(ExitRuntime, "batch %s: %v", out.Batch.ID, out.Err)
		}
	}
	if out := res.Stopped; out != nil {
		sum := out.Summary
		next := fmt.Sprintf("runner %s did not run", runners[1])
		if res.Outcomes[1] != nil {
			// The first run is whole: finishing the second is enough.
			next = fmt.Sprintf("`%s` finishes it, then `%s` compares", a.command("resume", out.Batch.ID),
				a.command("parity", "--batches", res.Outcomes[0].Batch.ID, out.Batch.ID))
		}
		fmt.Fprintf(a.stderr, "parity stopped: batch %s (runner %s) was interrupted with %d of %d executions stored, so nothing was compared; %s\n",
			out.Batch.ID, out.Spec.Runner.Block, sum.Stored, sum.Total, next)
		return exitCode(ExitInterrupted)
	}
	return a.writeParity(res, pf.limit, f.format)
}

func (a *app) parityBatches(ctx context.Context, ids [2]string, pf parityFlags, format string) error {
	// The verdict is written to both batches' audit trails: the database is
	// opened for writing, and must exist.
	st, err := a.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := a.bench().ParityBatches(ctx, st, ids, pf.options())
	if err != nil {
		return a.failed(err)
	}
	return a.writeParity(res, pf.limit, format)
}

// writeParity renders a parity verdict and turns it into the exit code.
func (a *app) writeParity(res *application.ParityResult, limit int, format string) error {
	if res.RecordErr != nil {
		fmt.Fprintf(a.stderr, "warning: the verdict could not be written to the audit trails of batches %s and %s: %v\n",
			res.Batches[0].ID, res.Batches[1].ID, oneLine(res.RecordErr))
	}
	if format == "json" {
		if err := jsondoc.Write(a.stdout, jsondoc.ParityOf(res)); err != nil {
			return exitf(ExitRuntime, "%v", err)
		}
	} else {
		a.writeParityText(res, limit)
	}
	if !res.Agree() {
		return exitCode(ExitThresholds)
	}
	return nil
}

func (a *app) writeParityText(res *application.ParityResult, limit int) {
	w := a.stdout
	sides := res.Sides()
	compared := plural(res.Compared, "execution", "executions") + " compared"
	if res.FailedAlike > 0 {
		compared += fmt.Sprintf(" (%d failed on both, alike)", res.FailedAlike)
	}
	fmt.Fprintf(w, "parity %s vs %s: %s; batches %s and %s\n", sides[0], sides[1], compared, res.Batches[0].ID, res.Batches[1].ID)
	if len(res.Notes) > 0 {
		fmt.Fprintln(w, "the batches differ besides their runners, so differences may come from this:")
		for _, n := range res.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	if t := res.Options.Describe(); t != "" {
		var within []string
		if res.Tolerated > 0 {
			within = append(within, fmt.Sprintf("%s only within the tolerances", plural(res.Tolerated, "execution differs", "executions differ")))
		}
		if res.IgnoredOnly > 0 {
			within = append(within, fmt.Sprintf("%s only in ignored evaluators", plural(res.IgnoredOnly, "execution differs", "executions differ")))
		}
		if len(within) == 0 {
			within = append(within, "nothing needed it")
		}
		fmt.Fprintf(w, "tolerated: %s — %s\n", t, strings.Join(within, "; "))
	}
	if res.Agree() {
		fmt.Fprintln(w, "no differences: the same executions, outcomes and failures, final states and scores")
	} else {
		fmt.Fprintf(w, "%s in %s:\n", plural(len(res.Diffs), "difference", "differences"), plural(res.Differing(), "execution", "executions"))
		for i, d := range res.Diffs {
			if i == limit {
				fmt.Fprintf(w, "  … %d more (raise --limit, or --format json for all)\n", len(res.Diffs)-limit)
				break
			}
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	if res.Recorded {
		fmt.Fprintf(w, "verdict recorded in the audit trail of both batches (`%s`)\n", a.command("audit", res.Batches[0].ID))
	}
}
