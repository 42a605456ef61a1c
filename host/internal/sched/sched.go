// Package sched runs a planned batch through a runner plugin: a bounded number
// of segments in flight, per-execution timeouts, retries with backoff for
// retryable failures, fail-fast, cancellation that stores what finished,
// resume from stored checkpoints, node cache lookups, evaluation, and batched
// idempotent writes of checkpoints and results.
package sched

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/pluginhost"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Runner is what the scheduler needs of a runner plugin.
type Runner interface {
	Start(ctx context.Context, req *runnerv1.ExecuteRequest, onEvent client.EventFunc) error
	Cancel(executionID, reason string)
	Capacity() int
}

// Environments is what the scheduler needs of an environment provider.
type Environments interface {
	Create(ctx context.Context, batchID, variantID string, config []byte) (sdk.RuntimeEnv, sdk.Diagnostics, error)
	Cleanup(ctx context.Context, variantID string) error
}

// Progress receives progress; implementations must be safe for concurrent use.
type Progress interface {
	Start(total int)
	Add(succeeded, failed int)
	Finish()
}

// Config is one run of a batch.
type Config struct {
	Plan      *plan.Plan
	BatchID   string
	Runner    Runner
	Env       Environments // nil: nodes run in the bench file's directory
	Store     store.Store
	Bus       *events.Bus
	Evaluator *eval.Evaluator
	Progress  Progress
	Log       hclog.Logger
	// StartState says the runner can start from a checkpoint; without it a
	// failed segment is retried from its beginning.
	StartState bool
}

// Report is what a run did.
type Report struct {
	Planned    int
	Succeeded  int
	Failed     int
	Unfinished int
	NodeRuns   int
	CachedRuns int
	Resumed    int
	Retries    int
	Cancelled  bool
	FailFast   bool
	Elapsed    time.Duration
	// Latencies are the round trips of the runner requests (dispatch to
	// outcome), which include the runner's own overhead.
	Latencies []time.Duration
}

// Percentile returns the p-th percentile (0..1) of the request latencies.
func (r Report) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.Latencies...)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

type nodeDone struct {
	step     *plan.Step
	state    json.RawMessage
	output   json.RawMessage
	duration time.Duration
	metrics  map[string]float64
	worker   string
}

// segRun is one attempt at a segment.
type segRun struct {
	seg        *plan.Segment
	attempt    int
	startIdx   int
	startState json.RawMessage
	startID    string
	execID     string
	done       []nodeDone
	outcome    *runnerv1.ExecutionFinished
	timedOut   atomic.Bool
	timer      *time.Timer
	byName     map[string]*plan.Step
	lastWorker string
	sentAt     time.Time
}

type stepInfo struct {
	durationMs float64
	metrics    map[string]float64
	worker     string
	state      json.RawMessage // kept while children still need it
}

type scheduler struct {
	cfg   Config
	b     *spec.Batch
	p     *plan.Plan
	log   hclog.Logger
	ctx   context.Context
	limit int

	ready       []*segRun
	inflight    map[string]*segRun
	completions chan *segRun
	retries     chan *segRun
	timers      map[*segRun]*time.Timer

	steps     map[string]*stepInfo // completed steps
	existing  map[string]store.Checkpoint
	envs      map[string]sdk.RuntimeEnv
	envErrs   map[string]error
	writer    *writer
	evalSem   chan struct{}
	evalWG    sync.WaitGroup
	stopping  bool
	stopCause string

	mu         sync.Mutex // guards the counters below (eval goroutines update them)
	rep        Report
	comboLeft  map[string]int
	comboStart map[string]bool
}

// Run executes the plan and returns what happened. It returns an error only for
// failures of the host itself (the store); failed executions are results.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	s := &scheduler{cfg: cfg, b: cfg.Plan.Batch, p: cfg.Plan, log: cfg.Log, ctx: ctx,
		inflight: map[string]*segRun{}, timers: map[*segRun]*time.Timer{}, steps: map[string]*stepInfo{},
		envs: map[string]sdk.RuntimeEnv{}, envErrs: map[string]error{}, comboLeft: map[string]int{}, comboStart: map[string]bool{},
		evalSem: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	s.limit = s.b.MaxPending
	if c := cfg.Runner.Capacity(); c > 0 && c < s.limit {
		s.limit = c
	}
	s.completions = make(chan *segRun, s.limit+16)
	s.retries = make(chan *segRun, len(s.p.Segments)+16)
	s.rep.Planned = len(s.p.Executions)
	for _, ex := range s.p.Executions {
		s.comboLeft[ex.Combination.Name]++
	}
	if cfg.Progress != nil {
		cfg.Progress.Start(len(s.p.Executions))
		defer cfg.Progress.Finish()
	}
	s.writer = newWriter(cfg.Store, s.log)
	err := s.run(ctx)
	s.evalWG.Wait()
	if werr := s.writer.close(); werr != nil && err == nil {
		err = werr
	}
	s.cleanupEnvironments()
	s.mu.Lock()
	rep := s.rep
	s.mu.Unlock()
	rep.Unfinished = rep.Planned - rep.Succeeded - rep.Failed
	rep.Elapsed = time.Since(start)
	return rep, err
}

func (s *scheduler) run(ctx context.Context) error {
	if err := s.loadExisting(ctx); err != nil {
		return err
	}
	s.writeRoots()
	s.createEnvironments(ctx)
	for _, seg := range s.p.Roots {
		s.ready = append(s.ready, &segRun{seg: seg, attempt: 1})
	}
	pendingRetries := 0
	done := ctx.Done()
	for {
		for !s.stopping && len(s.inflight) < s.limit && len(s.ready) > 0 {
			sr := s.ready[0]
			s.ready = s.ready[1:]
			s.dispatch(ctx, sr)
		}
		if werr := s.writer.err(); werr != nil && !s.stopping {
			s.stop(fmt.Sprintf("cannot store results: %v", werr))
		}
		if len(s.inflight) == 0 && (len(s.ready) == 0 || s.stopping) && pendingRetries == 0 {
			break
		}
		select {
		case sr := <-s.completions:
			s.complete(sr, &pendingRetries)
		case sr := <-s.retries:
			pendingRetries--
			delete(s.timers, sr)
			if !s.stopping {
				s.ready = append([]*segRun{sr}, s.ready...)
			}
		case <-done:
			done = nil
			s.mu.Lock()
			s.rep.Cancelled = true
			s.mu.Unlock()
			s.stop("batch interrupted")
			for sr, t := range s.timers {
				if t.Stop() {
					pendingRetries--
					delete(s.timers, sr)
				}
			}
		}
	}
	return s.writer.err()
}

func (s *scheduler) stop(reason string) {
	if s.stopping {
		return
	}
	s.stopping = true
	s.stopCause = reason
	for id := range s.inflight {
		s.cfg.Runner.Cancel(id, reason)
	}
}

// loadExisting finds checkpoints stored by an earlier run of this batch, so a
// resume continues from them instead of running their nodes again.
func (s *scheduler) loadExisting(ctx context.Context) error {
	cps, err := s.cfg.Store.Checkpoints().ListByBatch(ctx, s.cfg.BatchID)
	if err != nil {
		return fmt.Errorf("reading stored checkpoints: %w", err)
	}
	s.existing = make(map[string]store.Checkpoint, len(cps))
	for _, c := range cps {
		s.existing[c.ID] = c
	}
	return nil
}

func (s *scheduler) writeRoots() {
	var cps []store.Checkpoint
	now := time.Now()
	for _, c := range s.b.Cases {
		id := s.p.RootIDs[c.ID]
		if _, ok := s.existing[id]; ok {
			continue
		}
		cps = append(cps, store.Checkpoint{ID: id, BatchID: s.cfg.BatchID, Source: store.SourceRoot, State: c.Input,
			SegmentKey: c.ID, CreatedAt: now})
	}
	s.writer.send(store.WriteSet{Checkpoints: cps})
}

func (s *scheduler) createEnvironments(ctx context.Context) {
	used := map[string]bool{}
	for _, ex := range s.p.Executions {
		used[ex.EnvKey] = true
	}
	for _, key := range spec.SortedKeys(used) {
		es := s.p.EnvSpecs[key]
		if s.cfg.Env == nil {
			s.envs[key] = sdk.RuntimeEnv{WorkingDir: s.b.Dir}
			continue
		}
		env, diags, err := s.cfg.Env.Create(ctx, s.cfg.BatchID, es.Combination, es.Spec)
		if err == nil && diags.HasErrors() {
			err = errors.New(diags[0].Error())
		}
		if err != nil {
			s.envErrs[key] = fmt.Errorf("creating the environment for %s: %w", es.Combination, err)
			s.log.Error("environment setup failed", "combination", es.Combination, "error", err)
			continue
		}
		if env.WorkingDir == "" {
			env.WorkingDir = s.b.Dir
		}
		s.envs[key] = env
	}
}

func (s *scheduler) cleanupEnvironments() {
	if s.cfg.Env == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for key := range s.envs {
		if err := s.cfg.Env.Cleanup(ctx, s.p.EnvSpecs[key].Combination); err != nil {
			s.log.Warn("environment cleanup failed", "combination", s.p.EnvSpecs[key].Combination, "error", err)
		}
	}
}

// prepare decides where an attempt starts: after steps that are already stored
// (resume) or found in the node cache. It returns false when nothing is left
// to run.
func (s *scheduler) prepare(ctx context.Context, sr *segRun) bool {
	seg := sr.seg
	if sr.startState == nil {
		if seg.Parent == nil {
			sr.startState, sr.startID = seg.Case.Input, seg.RootID
		} else {
			parent := seg.Parent.Last()
			sr.startState, sr.startID = s.stateOf(ctx, parent), parent.ID
		}
	}
	for sr.startIdx < len(seg.Steps) {
		st := seg.Steps[sr.startIdx]
		if cp, ok := s.existing[st.ID]; ok {
			full, err := s.cfg.Store.Checkpoints().Get(ctx, cp.ID)
			if err != nil {
				break
			}
			s.recordStep(st, full.State, full.DurationMs, full.Metrics, full.WorkerID)
			s.mu.Lock()
			s.rep.Resumed++
			s.mu.Unlock()
			sr.startState, sr.startID = full.State, st.ID
			sr.startIdx++
			continue
		}
		if st.Node.Cache {
			key := s.p.CacheKey(sr.startState, st)
			if hit, err := s.cfg.Store.Checkpoints().FindCached(ctx, key); err == nil {
				s.writer.send(store.WriteSet{Checkpoints: []store.Checkpoint{{ID: st.ID, BatchID: s.cfg.BatchID,
					ParentID: sr.startID, Node: st.Node.Name, Position: st.Position, Variant: st.Node.Variant,
					ConfigHash: st.Node.ConfigHash, CacheKey: key, Source: store.SourceCached, SegmentKey: seg.Key,
					State: hit.State, Output: hit.Output, Metrics: hit.Metrics, DurationMs: hit.DurationMs,
					WorkerID: hit.WorkerID, CreatedAt: time.Now()}}})
				s.recordStep(st, hit.State, hit.DurationMs, hit.Metrics, hit.WorkerID)
				s.mu.Lock()
				s.rep.CachedRuns++
				s.mu.Unlock()
				s.cfg.Bus.Publish(events.Event{Type: events.NodeFinished, BatchID: s.cfg.BatchID, ExecutionKey: seg.Key,
					Node: st.Node.Name, Message: "node " + st.Node.Name + " reused from the node cache", Data: map[string]any{"cached_from": hit.ID}})
				sr.startState, sr.startID = hit.State, st.ID
				sr.startIdx++
				continue
			}
		}
		break
	}
	return sr.startIdx < len(seg.Steps)
}

// stateOf returns a completed step's state, from memory or the store.
func (s *scheduler) stateOf(ctx context.Context, st *plan.Step) json.RawMessage {
	if info, ok := s.steps[st.ID]; ok && info.state != nil {
		return info.state
	}
	cp, err := s.cfg.Store.Checkpoints().Get(ctx, st.ID)
	if err != nil {
		return nil
	}
	return cp.State
}

func (s *scheduler) recordStep(st *plan.Step, state json.RawMessage, durMs float64, metrics map[string]float64, worker string) {
	info := &stepInfo{durationMs: durMs, metrics: metrics, worker: worker}
	if len(st.Children) > 0 || len(st.Ending) > 0 {
		info.state = state
	}
	s.steps[st.ID] = info
}

func (s *scheduler) dispatch(ctx context.Context, sr *segRun) {
	seg := sr.seg
	if err := s.envErrs[seg.EnvKey]; err != nil {
		s.failSegment(sr, err.Error(), seg.Steps[0].Node.Name, sdk.FailureStart)
		return
	}
	if !s.prepare(ctx, sr) {
		s.succeedSegment(sr)
		return
	}
	for _, ex := range seg.Executions() {
		s.markComboStarted(ex.Combination.Name)
	}
	sr.execID = fmt.Sprintf("%s-%s-%d", shortID(s.cfg.BatchID), spec.HashStrings(seg.Key)[:12], sr.attempt)
	sr.done = nil
	sr.outcome = nil
	sr.byName = map[string]*plan.Step{}
	req := &runnerv1.ExecuteRequest{
		ExecutionId: sr.execID, ExecutionKey: seg.Key, Attempt: int32(sr.attempt), BatchId: s.cfg.BatchID,
		Combination: spec.CombinationName(&s.b.Workflow, seg.Variants), Variants: seg.Variants,
		Case:        &runnerv1.Case{Id: seg.Case.ID, InputJson: seg.Case.Input, ExpectedJson: seg.Case.Expected},
		RepeatIndex: int32(seg.Repeat), StartStateJson: sr.startState, StartCheckpointId: sr.startID,
		RuntimeEnv: sdk.RuntimeEnvToProto(s.envs[seg.EnvKey]),
	}
	for _, st := range seg.Steps[sr.startIdx:] {
		sr.byName[st.Node.Name] = st
		n := &runnerv1.Node{Name: st.Node.Name, Kind: st.Node.Kind, Command: st.Node.Command, ParamsJson: st.Node.Params,
			Env: st.Node.Env, Variant: st.Node.Variant, DependsOn: st.Node.DependsOn, MaxOutputBytes: st.Node.MaxOutputBytes,
			ConfigHash: st.Node.ConfigHash}
		if st.Node.Timeout > 0 {
			n.Timeout = durationpb.New(st.Node.Timeout.D())
		}
		req.Nodes = append(req.Nodes, n)
	}
	if t := s.b.Timeout.D(); t > 0 {
		req.Deadline = timestamppb.New(time.Now().Add(t))
		id := sr.execID
		sr.timer = time.AfterFunc(t, func() {
			sr.timedOut.Store(true)
			s.cfg.Runner.Cancel(id, fmt.Sprintf("execution timed out after %s", t))
		})
	}
	s.inflight[sr.execID] = sr
	sr.sentAt = time.Now()
	err := s.cfg.Runner.Start(ctx, req, func(ev *runnerv1.Event) { s.onEvent(sr, ev) })
	if err != nil {
		delete(s.inflight, sr.execID)
		if sr.timer != nil {
			sr.timer.Stop()
		}
		kind := sdk.FailureInfrastructure
		s.failSegment(sr, fmt.Sprintf("cannot start on the runner: %v", err), seg.Steps[sr.startIdx].Node.Name, kind)
		if errors.Is(err, pluginhost.ErrGaveUp) {
			s.stop(err.Error())
		}
	}
}

// onEvent runs on the session's receive goroutine: it only records.
func (s *scheduler) onEvent(sr *segRun, ev *runnerv1.Event) {
	switch p := ev.GetPayload().(type) {
	case *runnerv1.Event_NodeStarted:
		s.cfg.Bus.Publish(events.Event{Type: events.NodeStarted, BatchID: s.cfg.BatchID, ExecutionKey: sr.seg.Key,
			Node: p.NodeStarted.GetNode(), Attempt: sr.attempt})
	case *runnerv1.Event_NodeFinished:
		nf := p.NodeFinished
		if st := sr.byName[nf.GetNode()]; st != nil {
			sr.done = append(sr.done, nodeDone{step: st, state: nf.GetStateJson(), output: nf.GetOutputJson(),
				duration: nf.GetDuration().AsDuration(), metrics: nf.GetMetrics(), worker: nf.GetWorkerId()})
		}
		s.cfg.Bus.Publish(events.Event{Type: events.NodeFinished, BatchID: s.cfg.BatchID, ExecutionKey: sr.seg.Key,
			Node: nf.GetNode(), Attempt: sr.attempt, Data: map[string]any{"duration_ms": ms(nf.GetDuration().AsDuration())}})
	case *runnerv1.Event_NodeFailed:
		s.cfg.Bus.Publish(events.Event{Type: events.NodeFailed, BatchID: s.cfg.BatchID, ExecutionKey: sr.seg.Key,
			Node: p.NodeFailed.GetNode(), Attempt: sr.attempt, Error: p.NodeFailed.GetError()})
	case *runnerv1.Event_Log:
		s.log.Debug("node log", "execution", sr.seg.Key, "node", p.Log.GetNode(), "line", p.Log.GetLine())
	case *runnerv1.Event_ExecutionFinished:
		sr.outcome = p.ExecutionFinished
		s.completions <- sr
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s *scheduler) complete(sr *segRun, pendingRetries *int) {
	delete(s.inflight, sr.execID)
	s.mu.Lock()
	s.rep.Latencies = append(s.rep.Latencies, time.Since(sr.sentAt))
	s.mu.Unlock()
	if sr.timer != nil {
		sr.timer.Stop()
	}
	s.storeDone(sr)
	out := sr.outcome
	status := out.GetStatus()
	if status == runnerv1.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED && len(sr.done) == len(sr.seg.Steps)-sr.startIdx {
		s.succeedSegment(sr)
		return
	}
	if status == runnerv1.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED {
		out = &runnerv1.ExecutionFinished{Status: runnerv1.ExecutionStatus_EXECUTION_STATUS_FAILED,
			Error:       fmt.Sprintf("runner reported success but finished %d of %d nodes", len(sr.done), len(sr.seg.Steps)-sr.startIdx),
			FailureKind: runnerv1.FailureKind_FAILURE_KIND_INFRASTRUCTURE}
	}
	failedNode := out.GetFailedNode()
	if failedNode == "" && sr.startIdx+len(sr.done) < len(sr.seg.Steps) {
		failedNode = sr.seg.Steps[sr.startIdx+len(sr.done)].Node.Name
	}
	if sr.timedOut.Load() {
		s.failSegment(sr, fmt.Sprintf("execution timed out after %s (in node %s)", s.b.Timeout.D(), failedNode), failedNode, sdk.FailureTimeout)
		return
	}
	if s.stopping {
		return // cancelled or interrupted: stays unfinished, a resume runs it
	}
	if status == runnerv1.ExecutionStatus_EXECUTION_STATUS_CANCELLED {
		s.failSegment(sr, out.GetError(), failedNode, sdk.FailureCancelled)
		return
	}
	if out.GetRetryable() && sr.attempt <= s.b.MaxRetries {
		next := &segRun{seg: sr.seg, attempt: sr.attempt + 1}
		if s.cfg.StartState && len(sr.done) > 0 {
			// Keep the work done: start after the last node that finished.
			last := sr.done[len(sr.done)-1]
			next.startIdx = sr.startIdx + len(sr.done)
			next.startState, next.startID = last.state, last.step.ID
		} else if s.cfg.StartState {
			next.startIdx, next.startState, next.startID = sr.startIdx, sr.startState, sr.startID
		}
		delay := backoff(s.b.RetryDelay.D(), sr.attempt)
		s.mu.Lock()
		s.rep.Retries++
		s.mu.Unlock()
		s.cfg.Bus.Publish(events.Event{Type: events.ExecutionRetried, BatchID: s.cfg.BatchID, ExecutionKey: sr.seg.Key,
			Node: failedNode, Attempt: sr.attempt, Error: out.GetError(),
			Message: fmt.Sprintf("attempt %d failed; retrying in %s", sr.attempt, delay.Round(time.Millisecond))})
		*pendingRetries++
		s.timers[next] = time.AfterFunc(delay, func() { s.retries <- next })
		return
	}
	msg := out.GetError()
	if out.GetRetryable() && s.b.MaxRetries > 0 {
		msg = fmt.Sprintf("%s (after %d attempts)", msg, sr.attempt)
	}
	s.failSegment(sr, msg, failedNode, sdk.FailureKind(out.GetFailureKind()))
}

func backoff(base time.Duration, attempt int) time.Duration {
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	d := base << (attempt - 1)
	if d > 30*time.Second || d <= 0 {
		d = 30 * time.Second
	}
	// ±20% jitter so retries after a plugin crash do not arrive all at once.
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// storeDone writes the checkpoints of the nodes that finished in this attempt.
func (s *scheduler) storeDone(sr *segRun) {
	if len(sr.done) == 0 {
		return
	}
	cps := make([]store.Checkpoint, 0, len(sr.done))
	parentID, parentState := sr.startID, sr.startState
	now := time.Now()
	for _, d := range sr.done {
		st := d.step
		cp := store.Checkpoint{ID: st.ID, BatchID: s.cfg.BatchID, ParentID: parentID, Node: st.Node.Name,
			Position: st.Position, Variant: st.Node.Variant, ConfigHash: st.Node.ConfigHash, Source: store.SourceRan,
			SegmentKey: sr.seg.Key, State: d.state, Output: d.output, Metrics: d.metrics, DurationMs: ms(d.duration),
			WorkerID: d.worker, CreatedAt: now}
		if st.Node.Cache {
			cp.CacheKey = s.p.CacheKey(parentState, st)
		}
		cps = append(cps, cp)
		s.recordStep(st, d.state, cp.DurationMs, d.metrics, d.worker)
		parentID, parentState = st.ID, d.state
		sr.lastWorker = d.worker
	}
	s.mu.Lock()
	s.rep.NodeRuns += len(sr.done)
	s.mu.Unlock()
	s.writer.send(store.WriteSet{Checkpoints: cps})
}

func (s *scheduler) succeedSegment(sr *segRun) {
	seg := sr.seg
	last := seg.Last()
	for _, child := range seg.Children {
		s.ready = append([]*segRun{{seg: child, attempt: 1}}, s.ready...)
	}
	if len(last.Ending) == 0 {
		return
	}
	state := s.steps[last.ID].state
	if len(last.Children) == 0 {
		s.steps[last.ID].state = nil // nobody else needs it
	}
	worker := sr.lastWorker
	if worker == "" && sr.outcome != nil {
		worker = sr.outcome.GetWorkerId()
	}
	for _, ex := range last.Ending {
		s.finishExecution(ex, true, state, "", "", "", last.ID, worker, sr)
	}
}

// failSegment fails every execution under the segment with the same error.
func (s *scheduler) failSegment(sr *segRun, msg, node string, kind sdk.FailureKind) {
	if msg == "" {
		msg = "execution failed"
	}
	lastID := sr.startID
	if n := len(sr.done); n > 0 {
		lastID = sr.done[n-1].step.ID
	}
	for _, ex := range sr.seg.Executions() {
		s.finishExecution(ex, false, nil, msg, node, kind.String(), lastID, sr.lastWorker, sr)
	}
	if s.b.FailFast {
		s.mu.Lock()
		s.rep.FailFast = true
		s.mu.Unlock()
		s.stop(fmt.Sprintf("fail_fast: %s failed", sr.seg.Key))
	}
}

func (s *scheduler) finishExecution(ex *plan.Execution, ok bool, state json.RawMessage, errMsg, failedNode, kind, finalID, worker string, sr *segRun) {
	var durMs float64
	metrics := map[string]float64{}
	for _, st := range ex.Steps {
		if info, done := s.steps[st.ID]; done {
			durMs += info.durationMs
			for k, v := range info.metrics {
				metrics[k] = v
			}
		}
	}
	res := store.Result{BatchID: s.cfg.BatchID, ExecutionKey: ex.Key, ExecutionID: sr.execID,
		Combination: ex.Combination.Name, Variants: ex.Combination.Variants, CaseID: ex.Case.ID, Repeat: ex.Repeat,
		Success: ok, Error: errMsg, FailedNode: failedNode, FailureKind: kind, Metrics: metrics, DurationMs: durMs,
		WorkerID: worker, Attempts: sr.attempt, FinalCheckpointID: finalID, CreatedAt: time.Now()}
	if res.ExecutionID == "" {
		res.ExecutionID = fmt.Sprintf("%s-%s-resumed", shortID(s.cfg.BatchID), spec.HashStrings(ex.Key)[:12])
	}
	res.Status = "failed"
	if ok {
		res.Status = "succeeded"
	}
	in := eval.Input{Success: ok, State: state, Case: *ex.Case, DurationMs: durMs, Metrics: metrics}
	s.evalWG.Add(1)
	s.evalSem <- struct{}{}
	go func() {
		defer s.evalWG.Done()
		defer func() { <-s.evalSem }()
		outcome := s.cfg.Evaluator.Evaluate(s.ctxForEval(), in)
		res.Scores, res.OverallScore, res.Passed = outcome.Scores, outcome.Overall, outcome.Passed
		s.writer.send(store.WriteSet{Results: []store.Result{res}})
		s.counted(ex, res, outcome)
	}()
}

// ctxForEval is not the run's context: scoring what finished must complete
// even when the batch is being interrupted.
func (s *scheduler) ctxForEval() context.Context { return context.Background() }

func (s *scheduler) counted(ex *plan.Execution, res store.Result, outcome eval.Outcome) {
	s.mu.Lock()
	if res.Success {
		s.rep.Succeeded++
	} else {
		s.rep.Failed++
	}
	s.comboLeft[ex.Combination.Name]--
	comboDone := s.comboLeft[ex.Combination.Name] == 0
	s.mu.Unlock()
	if s.cfg.Progress != nil {
		if res.Success {
			s.cfg.Progress.Add(1, 0)
		} else {
			s.cfg.Progress.Add(0, 1)
		}
	}
	typ := events.ExecutionFinished
	msg := fmt.Sprintf("score %.3f", res.OverallScore)
	if !res.Success {
		typ = events.ExecutionFailed
		msg = "execution failed"
		if res.FailedNode != "" {
			msg = "node " + res.FailedNode + " failed"
		}
	}
	data := map[string]any{"overall_score": res.OverallScore, "duration_ms": res.DurationMs, "attempts": res.Attempts}
	if len(outcome.Notes) > 0 {
		data["notes"] = outcome.Notes
	}
	s.cfg.Bus.Publish(events.Event{Type: typ, BatchID: s.cfg.BatchID, Combination: ex.Combination.Name,
		ExecutionKey: ex.Key, Node: res.FailedNode, Attempt: res.Attempts, Message: msg, Error: res.Error, Data: data})
	if comboDone {
		s.cfg.Bus.Publish(events.Event{Type: events.CombinationFinished, BatchID: s.cfg.BatchID, Combination: ex.Combination.Name,
			Message: "all executions of " + ex.Combination.Name + " finished"})
	}
}

func (s *scheduler) markComboStarted(name string) {
	s.mu.Lock()
	first := !s.comboStart[name]
	s.comboStart[name] = true
	s.mu.Unlock()
	if first {
		s.cfg.Bus.Publish(events.Event{Type: events.CombinationStarted, BatchID: s.cfg.BatchID, Combination: name,
			Message: "combination " + name + " started"})
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
