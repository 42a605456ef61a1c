package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/bench"
	"github.com/wtbench/wtb/host/internal/doc"
	"github.com/wtbench/wtb/host/internal/metrics"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

type runFlags struct {
	batch      string
	vars       []string
	junit      string
	resume     string
	format     string
	noProgress bool
	auditNodes bool
	complete   bool

	modelCalls    string
	budgetUSD     float64
	budgetTokens  int64
	metricsAddr   string
	metricsLinger lingerFlag
	metricsDetail detailFlag
	pushgateway   string
	progressEvery time.Duration
	metrics       *runMetrics
	otlpEndpoint  string
	otlpHeaders   []string

	// ci is --summary, --baseline and --fail-on (run, resume, fork).
	ci ciFlags
}

// runFailOn is --fail-on's usage on the commands that run a batch: a missed
// threshold fails them anyway.
const runFailOn = "also exit 1 on: regression (a significant regression against --baseline); a missed threshold always does"

// addRunCIFlags adds --summary, --baseline and --fail-on.
func addRunCIFlags(cmd *cobra.Command, f *runFlags) {
	addCIFlags(cmd, &f.ci, "summary", false, runFailOn)
}

func (a *app) runCommand() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a batch test: every combination × case × repeat, scored, stored and ranked",
		Long: `Run a batch test from a bench file. Every combination of node variants is run
on every case, repeat times, through the batch's runner plugin; each execution
is scored by the evaluators and stored; the combinations are ranked and the
thresholds decide the exit code.

Ctrl-C stops dispatching, cancels what is running and stores what finished;
'wtb resume BATCH_ID' finishes the batch later. A second Ctrl-C exits at once.`,
		Example: `  wtb run examples/quickstart/bench.hcl
  wtb run bench.hcl --var model=large --junit report.xml
  wtb run --resume 20261125-1a2b3c4d`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.resume != "" {
				return a.resume(cmd.Context(), f.resume, f)
			}
			if len(args) != 1 {
				return exitf(ExitConfig, "wtb run needs a bench file (or --resume BATCH_ID)")
			}
			return a.run(cmd.Context(), args[0], f)
		},
	}
	addRunFlags(cmd, f)
	addRunCIFlags(cmd, f)
	cmd.Flags().StringVar(&f.resume, "resume", "", "finish the stored batch BATCH_ID, running only what is not stored")
	cmd.Flags().BoolVar(&f.complete, "complete", false, "with --resume: also run what adaptive repeats and racing stopped")
	return cmd
}

func addRunFlags(cmd *cobra.Command, f *runFlags) {
	cmd.Flags().StringVar(&f.batch, "batch", "", "which batch_test to run when the file has several")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable: --var name=value (repeatable; wins over WTB_VAR_name)")
	cmd.Flags().StringVar(&f.junit, "junit", "", "write a JUnit XML report to this file")
	cmd.Flags().StringVar(&f.format, "format", "table", "leaderboard format: table, json or csv")
	cmd.Flags().BoolVar(&f.noProgress, "no-progress", false, "no progress bar or progress lines")
	cmd.Flags().DurationVar(&f.progressEvery, "progress-every", DefaultProgressEvery, "when output is not a terminal, print a status line this often (also while nothing finishes)")
	cmd.Flags().StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics of the run at http://ADDR/metrics (e.g. 127.0.0.1:9464)")
	cmd.Flags().Var(&f.metricsLinger, "metrics-linger", "with --metrics-addr, how long to keep serving after the batch ends so a scraper sees the final figures: auto waits until one more scrape has read them, at most 15s (longer when scrapes came further apart), a duration waits that long, 0 stops at once")
	cmd.Flags().Var(&f.metricsDetail, "metrics-detail", fmt.Sprintf("with --metrics-addr or --pushgateway, how finely the execution series are labelled: combination (35 series a combination), batch (35 in all), or auto: by combination up to %d combinations, by batch past them", metrics.AutoCombinations))
	cmd.Flags().StringVar(&f.pushgateway, "pushgateway", "", "push the batch's final metrics to this Prometheus Pushgateway URL when it ends")
	cmd.Flags().StringVar(&f.modelCalls, "model-calls", "", "model calls through the gateway: live, record, replay or auto (default: the gateway block's mode)")
	cmd.Flags().Float64Var(&f.budgetUSD, "budget-usd", 0, "stop the batch once its model calls cost more than this many dollars (overrides the budget block's usd; a resume counts what the batch spent before)")
	cmd.Flags().Int64Var(&f.budgetTokens, "budget-tokens", 0, "stop the batch once its model calls used more than this many tokens (overrides the budget block's tokens)")
	cmd.Flags().StringVar(&f.otlpEndpoint, "otlp-endpoint", "", otlpUsage)
	cmd.Flags().StringArrayVar(&f.otlpHeaders, "otlp-header", nil, otlpHeaderUsage)
	cmd.Flags().BoolVar(&f.auditNodes, "audit-nodes", false, "record every execution's finish and its node events in the audit trail (by default it records failures, retries, cancellations and plugin events)")
}

func (a *app) resumeCommand() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "resume BATCH_ID",
		Short: "Finish a batch whose host was interrupted or killed, running only what is not stored",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.resume(cmd.Context(), args[0], f)
		},
	}
	addRunFlags(cmd, f)
	addRunCIFlags(cmd, f)
	cmd.Flags().BoolVar(&f.complete, "complete", false, "also run what adaptive repeats and racing stopped: every planned execution")
	return cmd
}

func (a *app) forkCommand() *cobra.Command {
	f := &runFlags{}
	var from string
	var onlyNew bool
	cmd := &cobra.Command{
		Use:   "fork BATCH_ID --from NODE [FILE]",
		Short: "Re-run only the nodes after NODE, starting from a prior batch's checkpoints",
		Long: `Fork a new batch from the stored checkpoints of BATCH_ID: the nodes up to and
including NODE are not run again; every execution starts from the parent's
checkpoint after NODE and runs only the nodes after it. With FILE the new
batch uses that file's workflow and variants (say, a new prompt variant for
the last node) and its database; without it, the parent's own spec runs again
(new samples of nondeterministic nodes).

The nodes up to NODE must be configured as they were when the parent ran
(command, params, env, scripts, environment): the scripts are compared with
the hashes stored with the parent. Otherwise the fork is refused, naming the
node and file that changed. The new batch records its parent, and
` + "`wtb compare PARENT CHILD`" + ` compares them.

When FILE adds a variant after NODE, the combinations the parent ran as they
are still configured would only run again: --only-new runs just the
combinations that are new (the fork says how many are, and offers it).

The reused node runs keep the stderr and runner lines the parent stored.`,
		Example: `  wtb fork 20261125-101010-1a2b3c4d --from retrieve bench.hcl
  wtb fork 20261125-101010-1a2b3c4d --from retrieve bench.hcl --only-new
  wtb compare 20261125-101010-1a2b3c4d latest --cases`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return exitf(ExitConfig, "wtb fork needs --from NODE: the last node whose checkpoints are reused")
			}
			file := ""
			if len(args) == 2 {
				file = args[1]
			}
			return a.fork(cmd.Context(), bench.ForkOptions{Parent: args[0], Node: from, File: file, OnlyNew: onlyNew}, f)
		},
	}
	addRunFlags(cmd, f)
	addRunCIFlags(cmd, f)
	cmd.Flags().StringVar(&from, "from", "", "reuse the checkpoints up to and including this node")
	cmd.Flags().BoolVar(&onlyNew, "only-new", false, "run only the combinations the parent did not run as they are configured now (say, those of a variant FILE adds)")
	return cmd
}

// parityFlags are what parity tolerates.
type parityFlags struct {
	tolerance, stateTolerance float64
	ignore                    []string
	limit                     int
}

func (p parityFlags) options() bench.ParityOptions {
	return bench.ParityOptions{Tolerance: p.tolerance, StateTolerance: p.stateTolerance, IgnoreEvaluators: p.ignore}
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

func parseVars(vars []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vars {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--var %q: want name=value", v)
		}
		out[k] = val
	}
	return out, nil
}

// loadConfig loads a bench file and shows its diagnostics.
func (a *app) loadConfig(path string, vars []string) (*bench.Config, error) {
	vm, err := parseVars(vars)
	if err != nil {
		return nil, exitf(ExitConfig, "%v", err)
	}
	cfg, diags, err := bench.Load(path, vm)
	if cfg != nil {
		a.printDiagnostics(cfg.Files(), diags)
	}
	if err != nil {
		return nil, a.failed(err)
	}
	return cfg, nil
}

// prepare loads a bench file and prepares one of its batches.
func (a *app) prepare(ctx context.Context, path string, f *runFlags) (*bench.Config, *bench.Prepared, error) {
	cfg, err := a.loadConfig(path, f.vars)
	if err != nil {
		return nil, nil, err
	}
	p, diags, err := a.bench().Prepare(ctx, cfg, bench.PrepareOptions{Batch: f.batch})
	a.printDiagnostics(cfg.Files(), diags)
	if err != nil {
		return nil, nil, a.failed(err)
	}
	return cfg, p, nil
}

func (a *app) run(ctx context.Context, path string, f *runFlags) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	if err := f.ci.check(a); err != nil {
		return err
	}
	cfg, p, err := a.prepare(ctx, path, f)
	if err != nil {
		return err
	}
	defer p.Close()
	st, err := a.openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := f.ci.checkStored(ctx, a, st); err != nil {
		return err
	}
	opts, err := a.runOptions(st, f)
	if err != nil {
		return err
	}
	out, err := a.bench().Run(ctx, st, p, path, opts)
	return a.finish(out, err, st, f)
}

func (a *app) resume(ctx context.Context, id string, f *runFlags) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	if err := f.ci.check(a); err != nil {
		return err
	}
	st, err := a.openStore(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	if err := f.ci.checkStored(ctx, a, st); err != nil {
		return err
	}
	opts, err := a.runOptions(st, f)
	if err != nil {
		return err
	}
	out, err := a.bench().Resume(ctx, st, id, opts)
	return a.finish(out, err, st, f)
}

func (a *app) fork(ctx context.Context, o bench.ForkOptions, f *runFlags) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	if err := f.ci.check(a); err != nil {
		return err
	}
	file := o.File
	// With FILE, the database is the one that file names (unless --db or
	// WTB_DATABASE_URL say otherwise), as for `wtb run FILE`.
	dbFromFile := ""
	if file != "" {
		cfg, p, err := a.prepare(ctx, file, f)
		if err != nil {
			return err
		}
		defer p.Close()
		o.Prepared, dbFromFile = p, cfg.Database
	}
	st, err := a.openStore(ctx, dbFromFile)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := f.ci.checkStored(ctx, a, st); err != nil {
		return err
	}
	opts, err := a.runOptions(st, f)
	if err != nil {
		return err
	}
	o.OnNew = func(parent string, news []string, total int) {
		if o.OnlyNew || len(news) == 0 || len(news) == total {
			return
		}
		args := []string{"fork", parent, "--from", o.Node}
		if file != "" {
			args = append(args, file)
		}
		fmt.Fprintf(a.stderr, "%d of %d combinations are new since batch %s (%s); the other %d would run again as the parent ran them: `%s` runs only the new\n",
			len(news), total, parent, strings.Join(news, ", "), total-len(news), a.command(append(args, "--only-new")...))
	}
	out, err := a.bench().Fork(ctx, st, o, opts)
	return a.finish(out, err, st, f)
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
		var be *bench.Error
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
func (a *app) writeParity(res *bench.ParityResult, limit int, format string) error {
	if res.RecordErr != nil {
		fmt.Fprintf(a.stderr, "warning: the verdict could not be written to the audit trails of batches %s and %s: %v\n",
			res.Batches[0].ID, res.Batches[1].ID, oneLine(res.RecordErr))
	}
	if format == "json" {
		if err := doc.Write(a.stdout, doc.ParityOf(res)); err != nil {
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

func (a *app) writeParityText(res *bench.ParityResult, limit int) {
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

// runOptions are the progress bar, the plan summary and the metrics of a run.
func (a *app) runOptions(st store.Store, f *runFlags) (bench.RunOptions, error) {
	if f.budgetUSD < 0 || f.budgetTokens < 0 {
		return bench.RunOptions{}, exitf(ExitConfig, "--budget-usd and --budget-tokens must be more than 0")
	}
	o := bench.RunOptions{AuditNodes: f.auditNodes, Complete: f.complete, ModelCalls: f.modelCalls,
		BudgetUSD: f.budgetUSD, BudgetTokens: f.budgetTokens,
		OnStart: func(rec *store.Batch, b *spec.Batch, counts bench.PlanCounts) { a.printPlan(b, counts, rec.ID, st) }}
	x, err := traceExport(f.otlpEndpoint, f.otlpHeaders)
	if err != nil {
		return o, err
	}
	o.TraceExport = x
	if !f.noProgress {
		o.Progress = newProgress(a.stderr, isTerminal(a.stderr), f.progressEvery)
	}
	rm, err := a.startMetrics(f)
	if err != nil {
		return o, err
	}
	if rm != nil {
		f.metrics, o.Metrics = rm, rm.m
	}
	return o, nil
}

// finish renders a run's outcome and turns it into the exit code.
func (a *app) finish(out *bench.Outcome, err error, st store.Store, f *runFlags) error {
	a.metricsDone(f.metrics, out)
	if err != nil {
		return a.failed(err)
	}
	rec, b, sum := out.Batch, out.Spec, out.Summary
	if err := writeLeaderboard(a.stdout, f.format, rec, b, sum, out.Failures, a.followUps(context.Background(), st, rec, b, sum, out.Failures)); err != nil {
		return exitf(ExitRuntime, "%v", err)
	}
	fmt.Fprintf(a.stderr, "%s\n", runLine(rec.ID, out.Report, st))
	printScoringWarnings(a.stderr, sum)
	if f.junit != "" {
		results, err := st.Results().List(context.Background(), rec.ID)
		if err == nil {
			err = writeJUnitFile(f.junit, rec, b, sum, results)
		}
		if err != nil {
			return exitf(ExitRuntime, "writing %s: %v", f.junit, err)
		}
	}
	// The summary says what is stored, also of a batch that stopped early:
	// the CI job that failed is the one whose summary is read.
	regressed := false
	if f.ci.summary != "" || f.ci.baseline != "" {
		_, c, err := a.ciSummary(context.Background(), st, rec.ID, &f.ci)
		if err != nil {
			return err
		}
		regressed = c != nil && c.Regressions > 0 && f.ci.failsOn(failOnRegression)
	}
	switch {
	case out.Err != nil:
		return exitf(ExitRuntime, "batch %s: %v (what finished is stored; `%s` runs the rest)", rec.ID, out.Err, a.command("resume", rec.ID))
	case out.Status == store.StatusCancelled && out.Report.BudgetStop != "":
		fmt.Fprintf(a.stderr, "batch %s stopped for its budget: %s; %d of %d executions stored; `%s` finishes it\n", rec.ID,
			out.Report.BudgetStop, sum.Stored, sum.Total, a.command("resume", rec.ID, "--budget-usd", "N"))
		return exitCode(ExitInterrupted)
	case out.Status == store.StatusCancelled:
		how := "interrupted"
		if out.CancelRequest != nil {
			how = "cancelled by " + out.CancelRequest.By
		}
		fmt.Fprintf(a.stderr, "batch %s %s: %d of %d executions stored; finish it with `%s`\n", rec.ID, how, sum.Stored, sum.Total, a.command("resume", rec.ID))
		return exitCode(ExitInterrupted)
	case out.Report.FailFast:
		fmt.Fprintf(a.stderr, "fail_fast: stopped after the first failed execution\n")
		return exitCode(ExitThresholds)
	case sum.Thresholds && !sum.Passed:
		return exitCode(ExitThresholds)
	case regressed:
		return exitf(ExitThresholds, "a significant regression against the baseline %s (--fail-on regression)", f.ci.baseline)
	}
	return nil
}

// failed turns an error of the application layer into an exit code, with the
// follow-up command a user needs where there is one.
func (a *app) failed(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	code := ExitRuntime
	if bench.KindOf(err) == bench.KindConfig {
		code = ExitConfig
	}
	var ke *bench.KeyError
	switch {
	case errors.Is(err, bench.ErrNoBatch):
		return exitf(code, "%v (list them with `%s`)", err, a.command("results", "--list"))
	case errors.As(err, &ke) && len(ke.Executions) > 1:
		lines := []string{fmt.Sprintf("%q is a node run that %d executions of batch %s share; show one of them:", ke.Key, len(ke.Executions), ke.Batch)}
		for _, k := range ke.Executions {
			lines = append(lines, "  "+a.command("show", k, "--batch", ke.Batch))
		}
		return exitf(code, "%s", strings.Join(lines, "\n"))
	case errors.As(err, &ke):
		return exitf(code, "%v (list them with `%s`)", err, a.command("results", ke.Batch, "--executions"))
	}
	return exitf(code, "%v", err)
}

func runLine(id string, rep bench.RunReport, st store.Store) string {
	parts := []string{fmt.Sprintf("batch %s: %d succeeded, %d failed", id, rep.Succeeded, rep.Failed)}
	if rep.Unfinished > 0 {
		parts = append(parts, fmt.Sprintf("%d not run", rep.Unfinished))
	}
	parts = append(parts, fmt.Sprintf("%d node runs", rep.NodeRuns))
	if rep.CachedRuns > 0 {
		parts = append(parts, fmt.Sprintf("%d from cache", rep.CachedRuns))
	}
	if rep.Resumed > 0 {
		parts = append(parts, fmt.Sprintf("%d reused from stored checkpoints", rep.Resumed))
	}
	if rep.Retries > 0 {
		parts = append(parts, plural(rep.Retries, "retry", "retries"))
	}
	if len(rep.ModelCalls) > 0 {
		parts = append(parts, modelCallsPart(rep))
	}
	if len(rep.JudgeCalls) > 0 {
		parts = append(parts, judgeCallsPart(rep))
	}
	if rep.RoundTrips > 0 {
		parts = append(parts, fmt.Sprintf("runner round trip p50 %s p95 %s", numfmt.Elapsed(rep.RoundTripP50), numfmt.Elapsed(rep.RoundTripP95)))
	}
	parts = append(parts, "in "+numfmt.Elapsed(rep.Elapsed))
	if rep.Elapsed > 0 && rep.Succeeded+rep.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%.0f executions/s", float64(rep.Succeeded+rep.Failed)/rep.Elapsed.Seconds()))
	}
	return strings.Join(parts, ", ") + "; stored in " + st.Describe()
}

func checkFormat(f string) error {
	switch f {
	case "table", "json", "csv":
		return nil
	}
	return exitf(ExitConfig, "unknown --format %q: use table, json or csv", f)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (a *app) rescoreCommand() *cobra.Command {
	var name, format, junit string
	var vars []string
	cmd := &cobra.Command{
		Use:   "rescore BATCH_ID [FILE]",
		Short: "Score a stored batch again, with its own evaluators or those of FILE, without running any node",
		Long: `Score every stored execution of a batch again — from its stored final state
and, for evaluators with node = "NAME", that node's stored output — and store
the new scores as a new batch whose parent is the original (lineage
"rescore"). No plugin starts and no node runs: change an evaluator, a weight,
pass_score or the thresholds and see the leaderboard they give, for free.

Without FILE the batch's own evaluators are used (the scores come out the
same). With FILE its batch_test's evaluators, pass_score and thresholds replace
the original's (--batch names the batch_test when FILE has several); the
workflow and cases stay the batch's. Exit codes as for run: 1 when the new
thresholds are missed.`,
		Example: `  wtb rescore latest stricter.hcl
  wtb compare 20261126-101010-abcd1234 $(wtb results --list --format json | jq -r '.batches[0].id')`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			o := bench.RescoreOptions{Batch: args[0], BatchName: name}
			fromFile := ""
			if len(args) == 2 {
				cfg, err := a.loadConfig(args[1], vars)
				if err != nil {
					return err
				}
				o.Config, fromFile = cfg, cfg.Database
			}
			st, err := a.openStore(cmd.Context(), fromFile)
			if err != nil {
				return err
			}
			defer st.Close()
			out, err := a.bench().Rescore(cmd.Context(), st, o)
			if err != nil {
				return a.failed(err)
			}
			rec, b, sum := out.Batch, out.Spec, out.Summary
			fmt.Fprintf(a.stderr, "batch %s: rescored %d executions of batch %s; %d node runs\n", rec.ID, out.Scored, out.From.ID, out.NodeRuns)
			printScoringWarnings(a.stderr, sum)
			if err := writeLeaderboard(a.stdout, format, rec, b, sum, out.Failures, a.followUps(cmd.Context(), st, rec, b, sum, out.Failures)); err != nil {
				return exitf(ExitRuntime, "%v", err)
			}
			if junit != "" {
				results, err := st.Results().List(context.Background(), rec.ID)
				if err == nil {
					err = writeJUnitFile(junit, rec, b, sum, results)
				}
				if err != nil {
					return exitf(ExitRuntime, "writing %s: %v", junit, err)
				}
			}
			if sum.Thresholds && !sum.Passed {
				return exitCode(ExitThresholds)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "batch", "", "which batch_test of FILE supplies the evaluators (default: the one named like the rescored batch)")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable of FILE: --var name=value")
	cmd.Flags().StringVar(&format, "format", "table", "leaderboard format: table, json or csv")
	cmd.Flags().StringVar(&junit, "junit", "", "write a JUnit XML report to this file")
	return cmd
}
