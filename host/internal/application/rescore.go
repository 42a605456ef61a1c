package application

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"runtime"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/judge"
	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/trajectory"
	"github.com/wtbench/wtb/sdk"
)

// RescoreOptions say what to score a stored batch with.
type RescoreOptions struct {
	// Batch is the batch to rescore ("" or "latest": the latest).
	Batch string
	// Config, when set, supplies the evaluators, pass score and thresholds
	// (of its batch_test named BatchName, or of the one with the original's
	// name, or of its only one); nil rescores with the batch's own.
	Config    *config.Config
	BatchName string
}

// RescoreOutcome is a rescored batch.
type RescoreOutcome struct {
	*Outcome
	// From is the batch whose stored states were scored again.
	From *store.Batch
	// Scored counts the executions scored; NodeRuns is always 0 — nothing
	// ran — and is reported so that tests and users can see it.
	Scored, NodeRuns int
}

// Rescore scores a stored batch's executions again — from their stored final
// states and node outputs, with the evaluators of o.Config or the batch's own —
// and stores the scores as a new batch whose parent is the original (lineage
// "rescore"). No plugin starts and no node runs.
func (a *App) Rescore(ctx context.Context, st store.Store, o RescoreOptions) (*RescoreOutcome, error) {
	from, orig, err := Batch(ctx, st, o.Batch)
	if err != nil {
		return nil, err
	}
	b := *orig
	if o.Config != nil {
		if err := rescoringWith(&b, o); err != nil {
			return nil, err
		}
	}
	evaluator, err := eval.Compile(&b)
	if err != nil {
		return nil, configErr("%v", err)
	}
	if evaluator.Judges() {
		// The judges replay what they recorded (an unchanged judge of an
		// unchanged output calls no model) and call, recording, what they
		// did not — unless the batch replays only.
		gw, err := gatewayFor(&b, rescoreMode(b.Gateway))
		if err != nil {
			return nil, err
		}
		recs, err := recordingSource(st, &b, gw)
		if err != nil {
			return nil, err
		}
		if jg := judgeFor(evaluator, gw, recs); jg != nil {
			defer jg.Close()
		}
	}
	cases := make(map[string]*spec.Case, len(b.Cases))
	for i := range b.Cases {
		cases[b.Cases[i].ID] = &b.Cases[i]
	}
	id := newBatchID()
	rec := a.newBatchRecord(ctx, id, &b, from.File)
	rec.Runner, rec.Total, rec.ParentID, rec.Lineage = from.Runner, from.Total, from.ID, store.LineageRescore
	rec.Decisions = from.Decisions // the same executions ran: the same ones were saved
	ctx, l, err := a.create(ctx, st, rec)
	if err != nil {
		return nil, err
	}
	defer l.release()
	bus := events.New(eventHistory)
	bus.Publish(events.Event{Type: events.BatchStarted, BatchID: id, Message: fmt.Sprintf("batch %s rescores batch %s; no node runs", id, from.ID)})

	start := time.Now()
	var prices *modelcalls.Prices
	if b.Gateway != nil {
		prices = modelcalls.NewPrices(b.Gateway.Prices)
	}
	scored, err := a.rescoreResults(ctx, st, from, id, evaluator, cases, b.Redactor(), prices)
	if err != nil {
		a.abandon(st, id, err)
		return nil, runtimeErr("rescoring %s: %v", from.ID, err)
	}
	bg := context.Background()
	sum, failures, err := summarize(bg, st, id, &b, from.Decisions)
	if err != nil {
		a.abandon(st, id, err)
		return nil, runtimeErr("%w", err)
	}
	sum.Warnings = scoringWarnings(nil, id, evaluator)
	status := store.StatusCompleted
	if sum.Stored < sum.Total {
		status = store.StatusCancelled // the original was incomplete
	}
	sumJSON, _ := json.Marshal(sum)
	finished := time.Now()
	if err := st.Batches().SetStatus(bg, id, status, &finished, sumJSON); err != nil {
		return nil, runtimeErr("%w", err)
	}
	rec.Status, rec.FinishedAt, rec.Summary = status, &finished, sumJSON
	entry := store.AuditEntry{ID: id + "-rescored", BatchID: id, Time: finished, Severity: "SUCCESS", EventType: string(events.BatchFinished),
		Message: fmt.Sprintf("rescored %d executions of batch %s in %s; no node ran: %s", scored, from.ID, numfmt.Elapsed(finished.Sub(start)), sum.Verdict),
		Details: json.RawMessage(fmt.Sprintf(`{"rescored_from":%q,"node_runs":0}`, from.ID))}
	entries := []store.AuditEntry{entry}
	for i, w := range sum.Warnings {
		details, _ := json.Marshal(w)
		entries = append(entries, store.AuditEntry{ID: fmt.Sprintf("%s-found-nothing-%d", id, i), BatchID: id, Time: finished, Severity: "WARNING",
			EventType: string(events.EvaluatorFoundNothing), Message: w.Message, Details: details})
	}
	if err := st.Audit().Append(bg, entries); err != nil {
		a.Log.Warn("writing the audit trail failed", "error", err)
	}
	return &RescoreOutcome{Outcome: &Outcome{Batch: rec, Spec: &b, Status: status, Summary: sum, Failures: failures},
		From: from, Scored: scored}, nil
}

// rescoreMode is the gateway mode a rescore's judges call in: replay when
// the batch replays only (offline stays offline), auto otherwise.
func rescoreMode(g *spec.Gateway) string {
	if g == nil {
		return ""
	}
	if g.Mode == sdk.ModeReplay {
		return sdk.ModeReplay
	}
	return sdk.ModeAuto
}

// rescoringWith takes the scoring parts of a bench file's batch_test: its
// evaluators, pass score and thresholds; the workflow, cases and everything
// that ran stay the original's.
func rescoringWith(b *spec.Batch, o RescoreOptions) error {
	name := o.BatchName
	if name == "" && len(o.Config.Batches) > 1 {
		name = b.Name
	}
	bd, err := o.Config.Batch(name)
	if err != nil {
		return configErr("%v", err)
	}
	for _, ev := range bd.Spec.Evaluators {
		if ev.Node == "" {
			continue
		}
		if n, _ := b.Workflow.NodeByName(ev.Node); n == nil {
			return configErr("evaluator %q scores node %q, which the rescored batch's workflow does not have", ev.Name, ev.Node)
		}
	}
	b.Evaluators, b.PassScore, b.Thresholds, b.Dir = bd.Spec.Evaluators, bd.Spec.PassScore, bd.Spec.Thresholds, bd.Spec.Dir
	if bd.Spec.Gateway != nil {
		// The judges call through the file's gateway (its upstreams, mode
		// and prices); the nodes ran long ago.
		b.Gateway = bd.Spec.Gateway
	}
	return nil
}

// rescoreWriteBatch is how many rescored results go in one transaction.
const rescoreWriteBatch = 1000

// rescoreResults scores every stored result of from again, several at a time
// (a command evaluator may take a while), and stores them under id.
func (a *App) rescoreResults(ctx context.Context, st store.Store, from *store.Batch, id string, evaluator *eval.Evaluator,
	cases map[string]*spec.Case, redact *spec.Redactor, prices *modelcalls.Prices) (int, error) {
	scoredNodes := evaluator.NodesScored()
	type job struct{ r store.Result }
	type scored struct {
		r     store.Result
		calls []store.ModelCall
	}
	jobs := make(chan job, 64)
	out := make(chan scored, 64)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r, calls, err := a.rescoreOne(ctx, st, id, j.r, evaluator, cases, scoredNodes, redact, prices)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					continue
				}
				r.BatchID = id
				out <- scored{r, calls}
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		readErr <- st.Results().Each(ctx, from.ID, func(r *store.Result) error {
			jobs <- job{*r}
			return nil
		})
		close(jobs)
		wg.Wait()
		close(out)
	}()
	n := 0
	var pending []store.Result
	var calls []store.ModelCall
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := st.Write(ctx, store.WriteSet{Results: pending, ModelCalls: calls})
		pending, calls = pending[:0], calls[:0]
		return err
	}
	var writeErr error
	for r := range out {
		n++
		pending = append(pending, r.r)
		calls = append(calls, r.calls...)
		if len(pending) >= rescoreWriteBatch && writeErr == nil {
			writeErr = flush()
		}
	}
	if writeErr == nil {
		writeErr = flush()
	}
	for _, err := range []error{<-readErr, firstErr, writeErr} {
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// rescoreOne scores one stored execution again from its stored final state
// and, for evaluators with a node, that node's stored output.
func (a *App) rescoreOne(ctx context.Context, st store.Store, batchID string, r store.Result, evaluator *eval.Evaluator, cases map[string]*spec.Case,
	scoredNodes map[string]bool, redact *spec.Redactor, prices *modelcalls.Prices) (store.Result, []store.ModelCall, error) {
	cs := cases[r.CaseID]
	if cs == nil {
		return r, nil, fmt.Errorf("execution %s: case %q is not in the batch's spec", r.ExecutionKey, r.CaseID)
	}
	if judge.FailedByJudge(&r) {
		// Its workflow finished; only its judge could not grade it: grade it
		// again.
		r.Success, r.Status, r.FailureKind, r.FailedNode, r.Error = true, store.ResultSucceeded, "", "", ""
	}
	if r.Metrics == nil {
		r.Metrics = map[string]float64{}
	}
	in := eval.Input{Success: r.Success, Case: *cs, DurationMs: r.DurationMs, Metrics: r.Metrics, Key: r.ExecutionKey}
	switch {
	case r.Success && len(scoredNodes) == 0:
		cp, err := st.Checkpoints().Get(ctx, r.FinalCheckpointID)
		if err != nil {
			return r, nil, fmt.Errorf("execution %s: reading its final state: %w", r.ExecutionKey, err)
		}
		in.State = cp.State
	case r.Success:
		chainCPs, err := chain(ctx, st, r.FinalCheckpointID)
		if err != nil {
			return r, nil, fmt.Errorf("execution %s: reading its checkpoints: %w", r.ExecutionKey, err)
		}
		if n := len(chainCPs); n > 0 {
			in.State = chainCPs[n-1].State
		}
		for _, cp := range chainCPs {
			if scoredNodes[cp.Node] {
				if in.Nodes == nil {
					in.Nodes = map[string]eval.NodeRun{}
				}
				in.Nodes[cp.Node] = eval.NodeRun{Output: cp.Output, DurationMs: cp.DurationMs}
			}
		}
	}
	if r.Success && evaluator.Trajectories() {
		steps, err := storedSteps(ctx, st, r.FinalCheckpointID)
		if err != nil {
			return r, nil, fmt.Errorf("execution %s: %w", r.ExecutionKey, err)
		}
		in.Steps = steps
	}
	outcome := evaluator.Evaluate(ctx, in)
	r.Scores, r.OverallScore, r.Passed, r.Notes = outcome.Scores, outcome.Overall, outcome.Passed, nil
	for k, v := range outcome.Notes {
		if r.Notes == nil {
			r.Notes = map[string]string{}
		}
		r.Notes[k] = redact.String(v)
	}
	r.CreatedAt = time.Now()
	// The judges' calls of this rescore are its own: stored under it and
	// counted in place of the original's.
	calls := judge.Rows(batchID, r.ExecutionKey, outcome.Judged, prices, r.CreatedAt)
	judge.Count(r.Metrics, calls)
	judge.Fail(&r, outcome.Errors)
	r.Error = redact.String(r.Error)
	return r, calls, nil
}

// storedSteps are the model turns and tool calls of an execution's node runs
// from their stored spans, node run by node run in workflow order: what the
// trajectory evaluators score, with no node run again. A node run's spans are
// stored under its checkpoint's id in the batch that ran it.
func storedSteps(ctx context.Context, st store.Store, finalCheckpointID string) ([]trajectory.Step, error) {
	cps, err := chain(ctx, st, finalCheckpointID)
	if err != nil {
		return nil, fmt.Errorf("reading its checkpoints: %w", err)
	}
	byBatch := map[string][]string{}
	for _, cp := range cps {
		byBatch[cp.BatchID] = append(byBatch[cp.BatchID], cp.ID)
	}
	spans := map[string][]sdk.Span{}
	for batchID, ids := range byBatch {
		rows, err := st.Spans().ListByRuns(ctx, batchID, ids)
		if err != nil {
			return nil, fmt.Errorf("reading its spans: %w", err)
		}
		for _, row := range rows {
			var list []sdk.Span
			if err := json.Unmarshal(row.Spans, &list); err != nil {
				return nil, fmt.Errorf("reading the spans of node run %s: %w", row.RunID, err)
			}
			spans[row.RunID] = list
		}
	}
	var steps []trajectory.Step
	for _, cp := range cps {
		steps = append(steps, trajectory.Steps(cp.Node, spans[cp.ID])...)
	}
	return steps, nil
}
