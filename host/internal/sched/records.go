package sched

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/judge"
	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/trajectory"
	"github.com/wtbench/wtb/sdk"
)

// newCheckpoint is the checkpoint of a node run of step st, whatever its
// source (ran, cached, forked).
func newCheckpoint(batchID string, st *plan.Step, parentID, segmentKey, source string, state, output json.RawMessage) store.Checkpoint {
	return store.Checkpoint{ID: st.ID, BatchID: batchID, ParentID: parentID, Node: st.Node.Name, Position: st.Position,
		Variant: st.Node.Variant, ConfigHash: st.Node.ConfigHash, Source: source, SegmentKey: segmentKey,
		State: state, Output: output, CreatedAt: time.Now()}
}

// storeDone writes the checkpoints of the nodes an attempt finished and keeps
// what the group's executions need of them.
func (s *scheduler) storeDone(a *attempt, done []nodeDone) {
	if len(done) == 0 {
		return
	}
	cps := make([]store.Checkpoint, 0, len(done))
	var calls []store.ModelCall
	var spans []store.NodeSpans
	parentID, parentState := a.startID, a.startState
	for _, d := range done {
		st := d.step
		spanUsage := trajectory.Usage(d.spans.Spans)
		d.metrics = withSpanUsage(d.metrics, spanUsage)
		cp := newCheckpoint(s.cfg.BatchID, st, parentID, a.seg.Key, store.SourceRan, d.state, d.output)
		cp.Metrics, cp.DurationMs, cp.WorkerID, cp.Logs = d.metrics, ms(d.duration), d.worker, d.logs
		if st.Node.Cache {
			cp.CacheKey = s.planner.CacheKey(parentState, st)
		}
		cps = append(cps, cp)
		before := len(calls)
		calls = s.modelCalls(calls, modelcalls.Where{BatchID: s.cfg.BatchID, RunID: st.ID, RunKey: st.RunKey, Node: st.Node.Name,
			ExecutionKey: a.seg.Key, Outcome: store.OutcomeRan}, d.calls)
		if row, ok := s.nodeSpans(st.ID, st.Node.Name, a.seg.Key, store.OutcomeRan, d.spans); ok {
			spans = append(spans, row)
		}
		a.group.record(st, d.state, d.output, cp.DurationMs, d.metrics, d.worker)
		if s.steps {
			a.group.infos[st].steps = trajectory.Steps(st.Node.Name, d.spans.Spans)
		}
		for _, c := range calls[before:] {
			a.group.infos[st].llm.add(c)
		}
		s.compareUsage(a.seg.Key, st.Node.Name, d.metrics, a.group.infos[st].llm)
		s.compareSpanUsage(a.seg.Key, st.Node.Name, spanUsage, a.group.infos[st].llm)
		s.obs.NodeRun(st.Node.Name, st.Node.Variant, d.duration, len(st.Executions))
		parentID, parentState = st.ID, d.state
		a.lastWorker = d.worker
	}
	s.tally.nodeRuns(len(done))
	s.writer.send(store.WriteSet{Checkpoints: cps, ModelCalls: calls, Spans: spans})
}

// nodeSpans is the row of a node run's spans (false: it has none). Their
// attributes pass the batch's redactor, as its logs do.
func (s *scheduler) nodeSpans(runID, node, execKey, outcome string, sp sdk.Spans) (store.NodeSpans, bool) {
	if len(sp.Spans) == 0 && sp.Dropped == 0 {
		return store.NodeSpans{}, false
	}
	list := sp.Spans
	if list == nil {
		list = []sdk.Span{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		s.log.Warn("encoding spans", "node", node, "error", err)
		return store.NodeSpans{}, false
	}
	return store.NodeSpans{BatchID: s.cfg.BatchID, RunID: runID, Node: node, ExecutionKey: execKey, Outcome: outcome,
		Spans: json.RawMessage(s.redact.String(string(b))), Dropped: int(sp.Dropped), CreatedAt: time.Now()}, true
}

// storeFailedCalls keeps the model calls of a node run that failed, under the
// attempt (every attempt's, for `wtb show`); replay never uses them.
func (s *scheduler) storeFailedCalls(a *attempt) {
	e := a.events
	if e == nil {
		return
	}
	e.mu.Lock()
	node, calls, sp := e.failedNode, e.failedCalls, e.failedSpans
	e.mu.Unlock()
	st := e.byName[node]
	if st == nil {
		return
	}
	runID := fmt.Sprintf("%s#a%d", st.ID, a.number)
	rows := s.modelCalls(nil, modelcalls.Where{BatchID: s.cfg.BatchID, RunID: runID,
		RunKey: st.RunKey, Node: node, ExecutionKey: a.seg.Key, Outcome: store.OutcomeFailed}, calls)
	w := store.WriteSet{ModelCalls: rows}
	if row, ok := s.nodeSpans(runID, node, a.seg.Key, store.OutcomeFailed, sp); ok {
		w.Spans = []store.NodeSpans{row}
	}
	s.writer.send(w)
}

// modelCalls appends a node run's calls as rows, and counts them.
func (s *scheduler) modelCalls(rows []store.ModelCall, w modelcalls.Where, calls []sdk.Interaction) []store.ModelCall {
	now := time.Now()
	for _, x := range calls {
		row := modelcalls.ToStore(w, x, now, s.prices)
		rows = append(rows, row)
		s.tally.modelCall(x, row)
		s.budget.add(row)
		s.obs.ModelCall(&row)
	}
	return rows
}

// llmTotals add up model calls: how many, the tokens they used, what the
// priced ones cost and how many could not be priced.
type llmTotals struct {
	calls, unpriced int
	usage           sdk.Usage
	cost            float64
	// queueMs is the time the calls waited in the gateway (rate limits,
	// retries after a push back); retries the attempts past each call's first.
	queueMs float64
	retries int
	// liveUSD and liveTokens count only the calls sent to an upstream
	// (what a budget counts): a replayed call costs nothing.
	liveUSD    float64
	liveTokens int64
}

func (t *llmTotals) add(c store.ModelCall) {
	t.calls++
	u := modelcalls.UsageOf(c)
	t.usage = t.usage.Plus(u)
	t.queueMs += c.QueueMs
	t.retries += max(0, c.Attempts-1)
	if c.Source != sdk.SourceReplayed {
		t.liveTokens += u.Total()
		if c.Priced {
			t.liveUSD += c.CostUSD
		}
	}
	if c.Priced {
		t.cost += c.CostUSD
	} else {
		t.unpriced++
	}
}

func (t *llmTotals) plus(o llmTotals) {
	t.calls += o.calls
	t.unpriced += o.unpriced
	t.cost += o.cost
	t.usage = t.usage.Plus(o.usage)
	t.queueMs += o.queueMs
	t.retries += o.retries
	t.liveUSD += o.liveUSD
	t.liveTokens += o.liveTokens
}

// into counts the totals in an execution's metrics (its node runs' calls,
// shared prefixes in full for every execution that shares them: what the
// execution would cost run alone).
func (t llmTotals) into(metrics map[string]float64) {
	if t.calls == 0 {
		return
	}
	metrics[modelcalls.MetricCalls] = float64(t.calls)
	metrics[modelcalls.MetricUnpriced] = float64(t.unpriced)
	metrics[modelcalls.MetricCost] = t.cost
	metrics[modelcalls.MetricInput] = float64(t.usage.Input)
	metrics[modelcalls.MetricOutput] = float64(t.usage.Output)
	metrics[modelcalls.MetricCacheRead] = float64(t.usage.CacheRead)
	metrics[modelcalls.MetricCacheWrite] = float64(t.usage.CacheWrite)
	metrics[modelcalls.MetricReasoning] = float64(t.usage.Reasoning)
	// Only when there was any: most batches never wait.
	if t.queueMs > 0 {
		metrics[modelcalls.MetricQueueMs] = t.queueMs
	}
	if t.retries > 0 {
		metrics[modelcalls.MetricRetries] = float64(t.retries)
	}
}

// finish is how an execution ended.
type finish struct {
	ok      bool
	state   json.RawMessage // the final state, when ok
	err     string
	node    string // the node that failed
	kind    sdk.FailureKind
	finalID string // the last checkpoint
	worker  string
	logs    []store.LogLine // the failed node's lines
}

// finishExecution scores an execution and stores its result. Scoring runs
// off the loop (a command evaluator may take a while), bounded in number.
func (s *scheduler) finishExecution(ex *plan.Execution, a *attempt, f finish) {
	var durMs float64
	metrics := map[string]float64{}
	var nodes map[string]eval.NodeRun
	var llm llmTotals
	var steps []trajectory.Step
	for _, st := range ex.Steps {
		if info, done := a.group.infos[st]; done {
			steps = append(steps, info.steps...)
			durMs += info.durationMs
			for k, v := range info.metrics {
				metrics[k] = v
			}
			llm.plus(info.llm)
			if info.output != nil {
				if nodes == nil {
					nodes = map[string]eval.NodeRun{}
				}
				nodes[st.Node.Name] = eval.NodeRun{Output: info.output, DurationMs: info.durationMs}
			}
		}
	}
	llm.into(metrics)
	if reason := s.overExecutionBudget(llm); reason != "" && f.ok {
		// Its output stands, but an execution that costs more than it may
		// is no success: it fails with a kind of its own, not retried.
		f.ok, f.kind, f.err = false, sdk.FailureBudget, "over budget: "+reason
		if n := len(ex.Steps); n > 0 {
			f.node = ex.Steps[n-1].Node.Name
		}
	}
	if f.worker == "" {
		f.worker = a.outcome.WorkerID
	}
	res := store.Result{BatchID: s.cfg.BatchID, ExecutionKey: ex.Key, ExecutionID: a.execID,
		Combination: ex.Combination.Name, Variants: ex.Combination.Variants, CaseID: ex.Case.ID, Repeat: ex.Repeat,
		Success: f.ok, Error: s.redact.String(f.err), FailedNode: f.node, Logs: f.logs, Metrics: metrics, DurationMs: durMs,
		WorkerID: f.worker, Attempts: a.number, FinalCheckpointID: f.finalID, CreatedAt: time.Now()}
	if !f.ok {
		res.FailureKind = f.kind.String()
	}
	if res.ExecutionID == "" {
		res.ExecutionID = fmt.Sprintf("%s-%s-resumed", shortID(s.cfg.BatchID), spec.HashStrings(ex.Key)[:12])
	}
	res.Status = store.ResultFailed
	if f.ok {
		res.Status = store.ResultSucceeded
	}
	s.feed.executionFinished(a.group)
	in := eval.Input{Success: f.ok, State: f.state, Case: *ex.Case, DurationMs: durMs, Metrics: metrics, Nodes: nodes, Key: ex.Key, Steps: steps}
	s.evalWG.Add(1)
	s.evalSem <- struct{}{}
	go func() {
		defer s.evalWG.Done()
		defer func() { <-s.evalSem }()
		// Not the run's context: scoring what finished must complete even when
		// the batch is being interrupted.
		outcome := s.cfg.Evaluator.Evaluate(context.Background(), in)
		res.Scores, res.OverallScore, res.Passed = outcome.Scores, outcome.Overall, outcome.Passed
		for name, note := range outcome.Notes {
			if res.Notes == nil {
				res.Notes = make(map[string]string, len(outcome.Notes))
			}
			res.Notes[name] = s.redact.String(note)
		}
		// The judges' calls are stored with the result and counted apart
		// from the workflow's; a judge that could not grade fails the
		// execution as infrastructure, never scores it 0.
		judged := judge.Rows(s.cfg.BatchID, ex.Key, outcome.Judged, s.prices, time.Now())
		judge.Count(res.Metrics, judged)
		judge.Fail(&res, outcome.Errors)
		if len(outcome.Errors) > 0 {
			res.Error = s.redact.String(res.Error)
		}
		for _, c := range judged {
			s.tally.judgeCall(c)
			s.budget.add(c) // the batch's budget pays for its judges too
		}
		s.writer.send(store.WriteSet{Results: []store.Result{res}, ModelCalls: judged})
		s.tally.executionFinished(res, res.Notes)
		if s.adapt != nil {
			s.adapt.Scored(&res)
		}
	}()
}
