package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/metrics"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
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

// loadConfig loads a bench file and shows its diagnostics.
func (a *app) loadConfig(path string, vars []string) (*application.Config, error) {
	vm, err := parseVars(vars)
	if err != nil {
		return nil, exitf(ExitConfig, "%v", err)
	}
	cfg, diags, err := application.Load(path, vm)
	if cfg != nil {
		a.printDiagnostics(cfg.Files(), diags)
	}
	if err != nil {
		return nil, a.failed(err)
	}
	return cfg, nil
}

// prepare loads a bench file and prepares one of its batches.
func (a *app) prepare(ctx context.Context, path string, f *runFlags) (*application.Config, *application.Prepared, error) {
	cfg, err := a.loadConfig(path, f.vars)
	if err != nil {
		return nil, nil, err
	}
	p, diags, err := a.bench().Prepare(ctx, cfg, application.PrepareOptions{Batch: f.batch})
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
	st, opts, err := a.openForRun(ctx, cfg.Database, f)
	if err != nil {
		return err
	}
	defer st.Close()
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
	st, opts, err := a.openForRun(ctx, "", f)
	if err != nil {
		return err
	}
	defer st.Close()
	out, err := a.bench().Resume(ctx, st, id, opts)
	return a.finish(out, err, st, f)
}

// runOptions are the progress bar, the plan summary and the metrics of a run.
// openForRun opens the database a run, resume or fork writes to, checks what
// the CI flags name in it (a stored baseline) and reads the run's options
// from the flags; the store is closed again when any of that fails.
func (a *app) openForRun(ctx context.Context, dbFromFile string, f *runFlags) (store.Store, application.RunOptions, error) {
	st, err := a.openStore(ctx, dbFromFile)
	if err != nil {
		return nil, application.RunOptions{}, err
	}
	if err := f.ci.checkStored(ctx, a, st); err != nil {
		st.Close()
		return nil, application.RunOptions{}, err
	}
	opts, err := a.runOptions(st, f)
	if err != nil {
		st.Close()
		return nil, application.RunOptions{}, err
	}
	return st, opts, nil
}

func (a *app) runOptions(st store.Store, f *runFlags) (application.RunOptions, error) {
	if f.budgetUSD < 0 || f.budgetTokens < 0 {
		return application.RunOptions{}, exitf(ExitConfig, "--budget-usd and --budget-tokens must be more than 0")
	}
	o := application.RunOptions{AuditNodes: f.auditNodes, Complete: f.complete, ModelCalls: f.modelCalls,
		BudgetUSD: f.budgetUSD, BudgetTokens: f.budgetTokens,
		OnStart: func(rec *store.Batch, b *spec.Batch, counts application.PlanCounts) {
			a.printPlan(b, counts, rec.ID, st)
		}}
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
func (a *app) finish(out *application.Outcome, err error, st store.Store, f *runFlags) error {
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

func runLine(id string, rep application.RunReport, st store.Store) string {
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

// modelCallsPart says how many model calls a run made, and where their
// answers came from.
func modelCallsPart(rep application.RunReport) string {
	return callsPart(rep.ModelCalls, rep.ReplayMisses, rep.LLM, "model call", "model calls")
}

// judgeCallsPart says the same of the llm_judge evaluators' calls.
func judgeCallsPart(rep application.RunReport) string {
	return callsPart(rep.JudgeCalls, 0, rep.Judge, "judge call", "judge calls")
}

func callsPart(bySource map[string]int, misses int, l application.CallTotals, one, many string) string {
	total := 0
	var srcs []string
	for src, n := range bySource {
		total += n
		srcs = append(srcs, src)
	}
	sort.Strings(srcs)
	var parts []string
	for _, src := range srcs {
		n := bySource[src]
		if src == sdk.SourceReplayed && misses > 0 {
			parts = append(parts, fmt.Sprintf("%d replayed, %d missed", n-misses, misses))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, src))
	}
	out := plural(total, one, many) + " (" + strings.Join(parts, ", ") + ")"
	if l.Usage.Reported {
		out += ", " + numfmt.Count(float64(l.Usage.Total())) + " tokens"
		switch {
		case l.Unpriced == l.Calls:
			out += ", cost unpriced"
		case l.Unpriced > 0:
			out += fmt.Sprintf(", %s for %d of them (%d unpriced)", numfmt.USD(l.CostUSD), l.Calls-l.Unpriced, l.Unpriced)
		default:
			out += ", " + numfmt.USD(l.CostUSD)
		}
	}
	return out
}
