package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/audit"
	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/report"
	"github.com/wtbench/wtb/host/internal/sched"
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
	quiet      bool // no leaderboard (parity prints its own report)
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
	cmd.Flags().StringVar(&f.resume, "resume", "", "finish the stored batch BATCH_ID, running only what is not stored")
	return cmd
}

func addRunFlags(cmd *cobra.Command, f *runFlags) {
	cmd.Flags().StringVar(&f.batch, "batch", "", "which batch_test to run when the file has several")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable: --var name=value (repeatable; wins over WTB_VAR_name)")
	cmd.Flags().StringVar(&f.junit, "junit", "", "write a JUnit XML report to this file")
	cmd.Flags().StringVar(&f.format, "format", "table", "leaderboard format: table, json or csv")
	cmd.Flags().BoolVar(&f.noProgress, "no-progress", false, "no progress bar or progress lines")
	cmd.Flags().BoolVar(&f.auditNodes, "audit-nodes", false, "record node-level events in the audit trail too")
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

func (a *app) loadConfig(path string, vars []string) (*config.Config, error) {
	vm, err := parseVars(vars)
	if err != nil {
		return nil, exitf(ExitConfig, "%v", err)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, exitf(ExitConfig, "%v", err)
	}
	cfg, diags := config.Load(path, config.Options{Vars: vm})
	a.printDiagnostics(cfg.Files(), diags)
	if diags.HasErrors() {
		return nil, exitf(ExitConfig, "%s has %s", path, plural(countErrors(diags), "error", "errors"))
	}
	return cfg, nil
}

func newBatchID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

func (a *app) run(ctx context.Context, path string, f *runFlags) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	cfg, err := a.loadConfig(path, f.vars)
	if err != nil {
		return err
	}
	bd, err := cfg.Batch(f.batch)
	if err != nil {
		return exitf(ExitConfig, "%v", err)
	}
	st, err := a.openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	bus := events.New(10000)
	ps, diags, err := a.startPluginsFromConfig(ctx, cfg, bd, bus, true)
	a.printDiagnostics(cfg.Files(), diags)
	if err != nil {
		return exitf(ExitRuntime, "%v", err)
	}
	if diags.HasErrors() {
		return exitf(ExitConfig, "%s has %s", path, plural(countErrors(diags), "error", "errors"))
	}
	defer ps.close()

	b := bd.Spec
	if !ps.runner.HasCapability(sdk.CapabilityStartState) && b.SharePrefixes {
		fmt.Fprintf(a.stderr, "note: runner plugin %s cannot start from a checkpoint; prefix sharing is off\n", b.Runner.Plugin)
		b.SharePrefixes = false
	}
	evaluator, err := compileEvaluators(b)
	if err != nil {
		return err
	}
	rec := newBatchRecord(newBatchID(), b, path)
	ctx, l, err := a.create(ctx, st, rec)
	if err != nil {
		return err
	}
	defer l.release()
	return a.execute(ctx, batchRun{st: st, ps: ps, bus: bus, rec: rec, spec: b, evaluator: evaluator, lease: l}, f)
}

// newBatchRecord describes a batch about to run, with its resolved spec (what
// resume and fork run again).
func newBatchRecord(id string, b *spec.Batch, file string) *store.Batch {
	if b.FileHashes == nil {
		plan.RecordFiles(b)
	}
	specJSON, _ := json.Marshal(b)
	host, _ := os.Hostname()
	now := time.Now()
	return &store.Batch{ID: id, Name: b.Name, File: file, Status: store.StatusRunning, Spec: specJSON, SpecHash: b.Hash(),
		Runner: b.Runner.Block + " (" + b.Runner.Plugin + ")", Total: b.Total(), Host: host, Version: Version,
		CreatedAt: now, StartedAt: now}
}

func (a *app) resume(ctx context.Context, id string, f *runFlags) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	st, err := a.openStore(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	rec, err := st.Batches().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return exitf(ExitConfig, "no batch %s in %s (see `wtb%s results --list`)", id, st.Describe(), a.dbHint())
	}
	if err != nil {
		return exitf(ExitRuntime, "%v", err)
	}
	var b spec.Batch
	if err := json.Unmarshal(rec.Spec, &b); err != nil {
		return exitf(ExitRuntime, "batch %s: its stored spec is unreadable: %v", id, err)
	}
	if err := checkScripts(&b, "resume batch "+id, "Restore them, or run the file again as a new batch with `wtb run`."); err != nil {
		return err
	}
	// Own the batch before reading what is stored: another process running it
	// would be adding results meanwhile.
	ctx, l, err := a.own(ctx, st, id)
	if err != nil {
		return err
	}
	defer l.release()
	done, err := st.Results().Keys(ctx, id)
	if err != nil {
		return exitf(ExitRuntime, "%v", err)
	}
	if len(done) >= b.Total() {
		fmt.Fprintf(a.stderr, "batch %s is complete (%d of %d executions stored); nothing to resume\n", id, len(done), b.Total())
	} else {
		fmt.Fprintf(a.stderr, "resuming batch %s: %d of %d executions stored, %d to run\n", id, len(done), b.Total(), b.Total()-len(done))
	}
	evaluator, err := compileEvaluators(&b)
	if err != nil {
		return err
	}
	bus := events.New(10000)
	ps, err := a.startPluginsFromSpec(ctx, &b, bus)
	if err != nil {
		return exitf(ExitRuntime, "%v", err)
	}
	defer ps.close()
	if err := st.Batches().SetStatus(ctx, id, store.StatusRunning, nil, nil); err != nil {
		return exitf(ExitRuntime, "%v", err)
	}
	return a.execute(ctx, batchRun{st: st, ps: ps, bus: bus, rec: rec, spec: &b, evaluator: evaluator, done: done, lease: l}, f)
}

// batchRun is a stored batch about to run (or resume): everything about it was
// checked before its row was written.
type batchRun struct {
	st        store.Store
	ps        *plugins
	bus       *events.Bus
	rec       *store.Batch
	spec      *spec.Batch
	evaluator *eval.Evaluator
	done      map[string]bool // execution keys already stored (resume)
	lease     *lease
}

// create stores a new batch and takes ownership of it.
func (a *app) create(ctx context.Context, st store.Store, rec *store.Batch) (context.Context, *lease, error) {
	if err := st.Batches().Create(ctx, rec); err != nil {
		return nil, nil, exitf(ExitRuntime, "%v", err)
	}
	ctx, l, err := a.own(ctx, st, rec.ID)
	if err != nil {
		a.abandon(st, rec.ID, err)
		return nil, nil, err
	}
	return ctx, l, nil
}

// compileEvaluators checks the evaluators can run; callers do it before a
// batch row exists, so a batch never starts that cannot be scored.
func compileEvaluators(b *spec.Batch) (*eval.Evaluator, error) {
	ev, err := eval.Compile(b)
	if err != nil {
		return nil, exitf(ExitConfig, "%v", err)
	}
	return ev, nil
}

// execute runs (or resumes) a stored batch and reports the verdict. Whatever
// happens, the batch row ends in a final status: completed, failed or
// cancelled, never left "running".
func (a *app) execute(ctx context.Context, br batchRun, f *runFlags) (err error) {
	st, ps, bus, rec, b, done, evaluator := br.st, br.ps, br.bus, br.rec, br.spec, br.done, br.evaluator
	finalized := false
	defer func() {
		if !finalized && !br.lease.Lost() {
			a.abandon(st, rec.ID, err)
		}
	}()
	trail := audit.Attach(bus, st.Audit(), rec.ID, audit.Options{Nodes: f.auditNodes,
		OnError: func(err error) { a.log.Warn("writing the audit trail failed; will retry", "error", err) }})
	bus.Publish(events.Event{Type: events.BatchStarted, BatchID: rec.ID,
		Message: fmt.Sprintf("batch %s (%s) started: %s", rec.ID, b.Name, plural(b.Total()-len(done), "execution", "executions"))})

	skip := func(key string) bool { return done[key] }
	a.printPlan(b, plan.NewPlanner(b, plan.Options{BatchID: rec.ID, Skip: skip}).Count(), rec.ID, st)
	stored, err := storedCheckpoints(ctx, st, rec.ID)
	if err != nil {
		_ = trail.Close(context.Background())
		return exitf(ExitRuntime, "%v", err)
	}

	var prog sched.Progress
	if !f.noProgress {
		prog = newProgress(a.stderr, isTerminal(a.stderr))
	}
	var env sched.Environments
	if ps.env != nil {
		env = ps.env
	}
	rep, runErr := sched.Run(ctx, sched.Config{Batch: b, BatchID: rec.ID, Runner: ps.runner, Env: env, Store: st, Bus: bus,
		Evaluator: evaluator, Progress: prog, Log: a.log, StartState: ps.runner.HasCapability(sdk.CapabilityStartState),
		Done: skip, Stored: stored})

	// Verdict from what is stored, so a resumed batch counts earlier results too.
	bg := context.Background()
	results, err := st.Results().List(bg, rec.ID)
	if err != nil {
		_ = trail.Close(bg)
		return exitf(ExitRuntime, "%v", err)
	}
	sum := report.Summarize(b, results)
	status := store.StatusCompleted
	switch {
	case runErr != nil:
		status = store.StatusFailed
	case rep.Cancelled || sum.Stored < sum.Total:
		status = store.StatusCancelled
	}
	if br.lease.Lost() {
		// The new owner decides the batch's status; this process only stops.
		finalized = true
		_ = trail.Close(bg)
		return exitf(ExitRuntime, "batch %s: %v; what this process finished is stored", rec.ID, errLeaseLost)
	}
	sumJSON, _ := json.Marshal(sum)
	finished := time.Now()
	if err := st.Batches().SetStatus(bg, rec.ID, status, &finished, sumJSON); err != nil && runErr == nil {
		runErr = err
	}
	finalized = true
	switch status {
	case store.StatusCompleted:
		ev := events.Event{Type: events.BatchFinished, BatchID: rec.ID, Message: fmt.Sprintf("batch finished: %s", sum.Verdict)}
		if sum.Thresholds && !sum.Passed {
			ev.Error = "thresholds missed"
		}
		bus.Publish(ev)
	case store.StatusCancelled:
		bus.Publish(events.Event{Type: events.BatchCancelled, BatchID: rec.ID,
			Message: fmt.Sprintf("batch stopped with %d of %d executions stored", sum.Stored, sum.Total)})
	default:
		bus.Publish(events.Event{Type: events.BatchFailed, BatchID: rec.ID, Message: "batch failed", Error: fmt.Sprint(runErr)})
	}
	if err := trail.Close(bg); err != nil {
		a.log.Warn("the audit trail could not be written completely", "error", err)
	}

	if !f.quiet {
		if err := writeLeaderboard(a.stdout, f.format, rec, b, sum, results, a.dbHint()); err != nil {
			return exitf(ExitRuntime, "%v", err)
		}
	}
	fmt.Fprintf(a.stderr, "%s\n", runLine(rec.ID, rep, st))
	if f.junit != "" {
		if err := writeJUnitFile(f.junit, rec, b, sum, results); err != nil {
			return exitf(ExitRuntime, "writing %s: %v", f.junit, err)
		}
	}
	switch {
	case runErr != nil:
		return exitf(ExitRuntime, "batch %s: %v (what finished is stored; `wtb%s resume %s` runs the rest)", rec.ID, runErr, a.dbHint(), rec.ID)
	case status == store.StatusCancelled:
		fmt.Fprintf(a.stderr, "batch %s interrupted: %d of %d executions stored; finish it with `wtb%s resume %s`\n", rec.ID, sum.Stored, sum.Total, a.dbHint(), rec.ID)
		return exitCode(ExitInterrupted)
	case rep.FailFast:
		fmt.Fprintf(a.stderr, "fail_fast: stopped after the first failed execution\n")
		return exitCode(ExitThresholds)
	case sum.Thresholds && !sum.Passed:
		return exitCode(ExitThresholds)
	}
	return nil
}

func runLine(id string, rep sched.Report, st store.Store) string {
	parts := []string{fmt.Sprintf("batch %s: %d succeeded, %d failed", id, rep.Succeeded, rep.Failed)}
	if rep.Unfinished > 0 {
		parts = append(parts, fmt.Sprintf("%d not run", rep.Unfinished))
	}
	parts = append(parts, fmt.Sprintf("%d node runs", rep.NodeRuns))
	if rep.CachedRuns > 0 {
		parts = append(parts, fmt.Sprintf("%d from cache", rep.CachedRuns))
	}
	if rep.Resumed > 0 {
		parts = append(parts, fmt.Sprintf("%d resumed from checkpoints", rep.Resumed))
	}
	if rep.Retries > 0 {
		parts = append(parts, plural(rep.Retries, "retry", "retries"))
	}
	if rep.RoundTrips > 0 {
		parts = append(parts, fmt.Sprintf("runner round trip p50 %s p95 %s", rep.Percentile(0.5).Round(10*time.Microsecond),
			rep.Percentile(0.95).Round(10*time.Microsecond)))
	}
	parts = append(parts, fmt.Sprintf("in %s", rep.Elapsed.Round(time.Millisecond)))
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

// checkScripts refuses to continue a stored batch with scripts that changed
// since it ran: its results would mix two versions of a node.
func checkScripts(b *spec.Batch, what, hint string) error {
	changes := plan.ChangedFiles(b)
	if len(changes) == 0 {
		return nil
	}
	var lines []string
	for _, c := range changes {
		lines = append(lines, fmt.Sprintf("  %s (%s)", c.Path, strings.Join(c.Nodes, ", ")))
	}
	return exitf(ExitConfig, "cannot %s: %s changed since it ran:\n%s\n%s", what,
		plural(len(changes), "script", "scripts"), strings.Join(lines, "\n"), hint)
}

// abandon marks a batch that ended before it could be finished normally as
// failed, so it never stays "running".
func (a *app) abandon(st store.Store, id string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	if err := st.Batches().SetStatus(ctx, id, store.StatusFailed, &now, nil); err != nil {
		a.log.Warn("could not mark the batch failed", "batch", id, "error", err, "cause", cause)
	}
}

// storedCheckpoints says which checkpoints of a batch are stored (a resume or
// a fork continues from them).
func storedCheckpoints(ctx context.Context, st store.Store, id string) (func(string) bool, error) {
	cps, err := st.Checkpoints().ListByBatch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("reading stored checkpoints: %w", err)
	}
	ids := make(map[string]bool, len(cps))
	for _, c := range cps {
		ids[c.ID] = true
	}
	return func(id string) bool { return ids[id] }, nil
}
