package application

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

	"github.com/wtbench/wtb/host/internal/audit"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/leaderboard"
	"github.com/wtbench/wtb/host/internal/metrics"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/sched"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// RunOptions are what a caller wants of a run besides the batch.
type RunOptions struct {
	Progress Progress
	// AuditNodes records node-level events in the audit trail too.
	AuditNodes bool
	// OnStart hears of the batch and the size of what will run, before
	// anything runs.
	OnStart func(rec *store.Batch, b *spec.Batch, counts PlanCounts)
	// Metrics, when set, counts the batch (and asks the runner plugin for its
	// figures) for a Prometheus endpoint or a push.
	Metrics *metrics.Metrics
	// Complete (resume) runs every planned execution: adaptive repeats and
	// racing stop nothing, and earlier decisions are dropped.
	Complete bool
	// ModelCalls overrides the gateway block's mode (--model-calls).
	ModelCalls string
	// BudgetUSD and BudgetTokens, when more than 0, override the batch's
	// budget for the batch as a whole (--budget-usd, --budget-tokens): a
	// batch stopped for its budget resumes with a larger one.
	BudgetUSD    float64
	BudgetTokens int64
	// TraceExport, when set, sends the batch as a trace to an OTLP
	// collector (--otlp-endpoint), beside a bench file's bridge "otlp".
	TraceExport *TraceExport
}

// Outcome is how a run ended. The batch row has its final status.
type Outcome struct {
	Batch   *store.Batch
	Spec    *spec.Batch
	Status  string // completed, cancelled or failed
	Summary leaderboard.Summary
	// Failures are the first failed executions by key (at most MaxFailures).
	Failures []store.Result
	Report   RunReport
	// Err is a failure of the host during the run (the store, the runner
	// given up on); what finished is stored.
	Err error
	// CancelRequest is the request (`wtb cancel`) the run stopped for; nil
	// when it was not cancelled that way (Ctrl-C, or not at all).
	CancelRequest *store.CancelRequest
}

// MaxFailures bounds the failed executions an Outcome or a Board lists.
const MaxFailures = 5

// Run stores a new batch for a prepared one and runs it.
func (a *App) Run(ctx context.Context, st store.Store, p *Prepared, file string, opts RunOptions) (*Outcome, error) {
	rec := a.newBatchRecord(ctx, newBatchID(), p.Spec, file)
	ctx, l, err := a.create(ctx, st, rec)
	if err != nil {
		return nil, err
	}
	defer l.release()
	return a.execute(ctx, job{st: st, plugins: p.Plugins, bus: p.Bus, rec: rec, spec: p.Spec, evaluator: p.Evaluator, lease: l}, opts)
}

// ErrNoBatch is wrapped by the error for a batch id a store does not hold.
var ErrNoBatch = errors.New("no such batch")

// Resume finishes a stored batch, running only what is not stored. It is
// refused while another process runs the batch, and when a script the batch
// ran has changed since.
func (a *App) Resume(ctx context.Context, st store.Store, id string, opts RunOptions) (*Outcome, error) {
	rec, b, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	if rec.Lineage == store.LineageRescore {
		return nil, configErr("batch %s rescored batch %s and runs no node: rescore %s again instead of resuming", id, rec.ParentID, rec.ParentID)
	}
	if err := checkScripts(b, "resume batch "+id, "Restore them, or run the file again as a new batch with `wtb run`."); err != nil {
		return nil, err
	}
	// Own the batch before reading what is stored: another process running it
	// would be adding results meanwhile.
	ctx, l, err := a.own(ctx, st, id)
	if err != nil {
		return nil, err
	}
	defer l.release()
	var done keySet
	if err := st.Results().EachKey(ctx, id, done.add); err != nil {
		return nil, runtimeErr("reading the stored executions of %s: %w", id, err)
	}
	done.seal()
	if n := done.len(); n >= b.Total() {
		a.notice("batch %s is complete (%d of %d executions stored); nothing to resume", id, n, b.Total())
	} else {
		a.notice("resuming batch %s: %d of %d executions stored, %d to run", id, n, b.Total(), b.Total()-n)
	}
	evaluator, err := eval.Compile(b)
	if err != nil {
		return nil, configErr("%v", err)
	}
	bus := events.New(eventHistory)
	ps, err := a.startFromSpec(ctx, b, bus)
	if err != nil {
		return nil, err
	}
	defer ps.Close()
	if err := st.Batches().SetStatus(ctx, id, store.StatusRunning, nil, nil); err != nil {
		return nil, runtimeErr("%w", err)
	}
	return a.execute(ctx, job{st: st, plugins: ps, bus: bus, rec: rec, spec: b, evaluator: evaluator, done: &done, lease: l}, opts)
}

// job is a stored batch about to run (or resume): everything about it was
// checked before its row was written.
type job struct {
	st        store.Store
	plugins   *Plugins
	bus       *events.Bus
	rec       *store.Batch
	spec      *spec.Batch
	evaluator *eval.Evaluator
	done      *keySet // execution keys stored already (resume)
	lease     *lease
}

func newBatchID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// newBatchRecord describes a batch about to run, with its resolved spec (what
// resume and fork run again), the hashes of the scripts it runs with, and its
// dataset version: the hash of its cases and the git state of the bench
// file's directory.
func (a *App) newBatchRecord(ctx context.Context, id string, b *spec.Batch, file string) *store.Batch {
	if b.FileHashes == nil {
		plan.RecordFiles(b)
	}
	specJSON, _ := json.Marshal(b)
	host, _ := os.Hostname()
	now := time.Now()
	rec := &store.Batch{ID: id, Name: b.Name, File: file, Status: store.StatusRunning, Spec: specJSON, SpecHash: b.Hash(),
		Runner: b.Runner.Block + " (" + b.Runner.Plugin + ")", Total: b.Total(), Host: host, Version: a.Version,
		CreatedAt: now, StartedAt: now, CasesHash: dataset.HashOf(b.Cases)}
	if b.Dir != "" {
		g := dataset.ReadGit(ctx, b.Dir)
		rec.GitCommit, rec.GitBranch, rec.GitDirty = g.Commit, g.Branch, g.Dirty
	}
	return rec
}

// create stores a new batch and takes ownership of it.
func (a *App) create(ctx context.Context, st store.Store, rec *store.Batch) (context.Context, *lease, error) {
	if err := st.Batches().Create(ctx, rec); err != nil {
		return nil, nil, runtimeErr("%w", err)
	}
	ctx, l, err := a.own(ctx, st, rec.ID)
	if err != nil {
		a.abandon(st, rec.ID, err)
		return nil, nil, err
	}
	return ctx, l, nil
}

// abandon marks a batch that ended before it could be finished normally as
// failed, so it never stays "running".
func (a *App) abandon(st store.Store, id string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	if err := st.Batches().SetStatus(ctx, id, store.StatusFailed, &now, nil); err != nil {
		a.Log.Warn("could not mark the batch failed", "batch", id, "error", err, "cause", cause)
	}
}

// execute runs (or resumes) a stored batch and decides its status from what
// is stored. Whatever happens, the batch row ends in a final status:
// completed, failed or cancelled, never left "running".
func (a *App) execute(ctx context.Context, j job, opts RunOptions) (out *Outcome, err error) {
	st, rec, b := j.st, j.rec, j.spec
	finalized := false
	defer func() {
		if !finalized && !j.lease.Lost() {
			a.abandon(st, rec.ID, err)
		}
	}()
	trail := audit.Attach(j.bus, st.Audit(), rec.ID, audit.Options{Nodes: opts.AuditNodes,
		OnError: func(err error) { a.Log.Warn("writing the audit trail failed; will retry", "error", err) }})
	bg := context.Background()
	defer func() {
		if err := trail.Close(bg); err != nil {
			a.Log.Warn("the audit trail could not be written completely", "error", err)
		}
	}()
	hub, err := a.startBridges(j.bus, rec.ID, b)
	if err != nil {
		return nil, err
	}
	// Closed before the trail: a bridge that dropped events says so in it.
	defer a.closeBridges(hub)
	skip := j.done.contains
	// The checkpoints stored already (a fork's copies, a resumed batch's) are
	// node runs the batch reuses: counted apart from those it runs, at the
	// start as at the end.
	var stored keySet
	if err := st.Checkpoints().EachID(ctx, rec.ID, stored.add); err != nil {
		return nil, runtimeErr("reading stored checkpoints: %w", err)
	}
	stored.seal()
	var before func(string) bool
	if stored.len() > 0 {
		before = stored.contains
	}
	traces, err := a.startTraceExports(st, rec, b, opts, j.done, before)
	if err != nil {
		return nil, err
	}
	// Closed after the batch's status is stored (the batch's span says it),
	// before the bridges and the trail.
	defer a.closeTraceExports(j.bus, rec, traces)
	var onStored func(store.WriteSet)
	if traces != nil {
		onStored = traces.stored
	}
	counts := plan.NewPlanner(b, plan.Options{BatchID: rec.ID, Skip: skip, Stored: stored.contains}).Count()
	j.bus.Publish(events.Event{Type: events.BatchStarted, BatchID: rec.ID,
		Message: fmt.Sprintf("batch %s (%s) started: %s", rec.ID, b.Name, plural(counts.Executions, "execution", "executions"))})
	if opts.OnStart != nil {
		opts.OnStart(rec, b, counts)
	}
	var env sched.Environments
	if j.plugins.Env != nil {
		env = j.plugins.Env
	}
	var observer sched.Observer
	var counted *metrics.Batch
	if opts.Metrics != nil {
		counted = opts.Metrics.Batch(j.bus, metrics.BatchInfo{ID: rec.ID, Name: b.Name, Runner: rec.Runner, Planned: counts.Executions, Combinations: len(b.Combinations)})
		observer = counted
		if opts.Metrics.Detail() == metrics.DetailAuto && counted.Detail() == metrics.DetailBatch {
			a.notice("metrics: %d combinations, more than %d: the execution series count the batch as a whole (--metrics-detail combination labels them by combination)",
				len(b.Combinations), metrics.AutoCombinations)
		}
		opts.Metrics.AddPlugin(j.plugins.Runner)
		defer opts.Metrics.RemovePlugin(j.plugins.Runner)
	}
	defer a.watchStalls(st, j.bus, rec.ID)()
	gw, err := gatewayFor(b, opts.ModelCalls)
	if err != nil {
		return nil, err
	}
	spent, err := budgetFor(ctx, st, rec.ID, b, opts, j.done != nil)
	if err != nil {
		return nil, err
	}
	recs, err := recordingSource(st, b, gw)
	if err != nil {
		return nil, err
	}
	if gw != nil {
		a.notice("model calls: %s", describeGateway(b.Gateway, gw, recs))
	}
	if jg := judgeFor(j.evaluator, gw, recs); jg != nil {
		defer jg.Close()
	}
	ctl, err := a.controller(ctx, st, j.bus, rec, b, opts.Complete)
	if err != nil {
		return nil, err
	}
	rep, runErr := sched.Run(ctx, sched.Config{Batch: b, BatchID: rec.ID, Runner: j.plugins.Runner, Env: env, Store: st,
		Bus: j.bus, Evaluator: j.evaluator, Progress: opts.Progress, Log: a.Log, Observer: observer, Adapt: ctl,
		StartState: j.plugins.Runner.HasCapability(sdk.CapabilityStartState), Done: skip, Stored: stored.contains,
		ModelCalls: gw, Recordings: recordingsOrNil(recs), SpentBefore: spent, OnStored: onStored})
	if unused := recs.unusedCassettes(); len(unused) > 0 && !rep.Cancelled && j.done == nil {
		a.notice("%s in %s no node run asked for (stale: a changed prompt, a removed variant?): %s",
			plural(len(unused), "cassette", "cassettes"), b.Gateway.Cassettes, strings.Join(firstN(unused, 5), ", "))
	}
	if ctl != nil {
		// The final decisions, with what each saved.
		rec.Decisions = ctl.Decisions()
		if err := st.Batches().SetDecisions(bg, rec.ID, rec.Decisions); err != nil && runErr == nil {
			runErr = err
		}
	}

	// The verdict comes from what is stored, so a resumed batch counts earlier
	// results too.
	sum, failures, err := summarize(bg, st, rec.ID, b, rec.Decisions)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	sum.Warnings = scoringWarnings(j.bus, rec.ID, j.evaluator)
	out = &Outcome{Batch: rec, Spec: b, Summary: sum, Failures: failures, Report: runReportOf(rep), Err: runErr, Status: store.StatusCompleted}
	if counted != nil {
		counted.Finish(sum.Passed, rep.Elapsed)
	}
	switch {
	case runErr != nil:
		out.Status = store.StatusFailed
	case rep.Cancelled || sum.Stored < sum.Total:
		out.Status = store.StatusCancelled
	}
	if j.lease.Lost() {
		// The new owner decides the batch's status; this process only stops.
		finalized = true
		return nil, runtimeErr("batch %s: %v; what this process finished is stored", rec.ID, errLeaseLost)
	}
	sumJSON, _ := json.Marshal(sum)
	finished := time.Now()
	if err := st.Batches().SetStatus(bg, rec.ID, out.Status, &finished, sumJSON); err != nil && out.Err == nil {
		out.Err = err
	}
	rec.Status, rec.FinishedAt, rec.Summary = out.Status, &finished, sumJSON
	finalized = true
	if traces != nil {
		// The batch's span goes with the run that ends the batch; one that
		// stopped with executions left leaves it to the resume.
		traces.final = out.Status != store.StatusCancelled
	}
	switch out.Status {
	case store.StatusCompleted:
		ev := events.Event{Type: events.BatchFinished, BatchID: rec.ID, Message: fmt.Sprintf("batch finished: %s", sum.Verdict)}
		if sum.Thresholds && !sum.Passed {
			ev.Error = "thresholds missed"
		}
		j.bus.Publish(ev)
	case store.StatusCancelled:
		ev := events.Event{Type: events.BatchCancelled, BatchID: rec.ID,
			Message: fmt.Sprintf("batch stopped with %d of %d executions stored", sum.Stored, sum.Total)}
		if req := j.lease.CancelRequest(); req != nil {
			out.CancelRequest = req
			ev.Message = fmt.Sprintf("batch cancelled by %s (asked at %s): %d of %d executions stored", req.By, numfmt.Date(req.At), sum.Stored, sum.Total)
			ev.Data = map[string]any{"requested_by": req.By, "requested_at": req.At.UTC().Format(time.RFC3339Nano)}
		}
		j.bus.Publish(ev)
	default:
		j.bus.Publish(events.Event{Type: events.BatchFailed, BatchID: rec.ID, Message: "batch failed", Error: fmt.Sprint(runErr)})
	}
	return out, nil
}
