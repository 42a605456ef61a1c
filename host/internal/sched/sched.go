// Package sched runs a batch through a runner plugin: a bounded number of
// segments in flight, per-execution timeouts, retries with backoff for
// retryable failures, fail-fast, cancellation that stores what finished,
// resume from stored checkpoints, node cache lookups, evaluation, and batched
// idempotent writes of checkpoints and results.
//
// The batch is planned one group (case × repeat) at a time and a group is
// forgotten once its executions are stored, so memory follows what is in
// flight, not the size of the batch. The work is split by job: this file is
// the loop (dispatch and completion), groups.go feeds it, resume.go decides
// where an attempt starts (stored checkpoints, the node cache), attempt.go
// collects an attempt's events, records.go builds checkpoints and results,
// and report.go counts and tells.
package sched

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/host/internal/adapt"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

// Runner is what the scheduler needs of a runner plugin: pluginhost.Runner.
type Runner interface {
	// Execute runs an execution and returns its outcome; cancelling ctx
	// cancels it (the cause is the reason given).
	Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome
	Capacity() int
	// Failed is non-nil once the runner cannot be used any more.
	Failed() error
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

// LoadReporter is a Progress that also shows the load: runner requests in
// flight and ready to send.
type LoadReporter interface {
	Load(inFlight, queued int)
}

// Config is one run of a batch.
type Config struct {
	Batch     *spec.Batch
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
	// Done says an execution is stored already (resume); nil: none is.
	Done func(executionKey string) bool
	// Stored says a checkpoint of this batch is stored already (resume, fork);
	// nil: none is.
	Stored func(checkpointID string) bool
	// Observer is told about load, latencies, node runs and store writes
	// (nil: nobody).
	Observer Observer
	// Adapt, when set, hears every scored execution and stops combinations
	// (adaptive repeats, racing): their later executions are not planned.
	Adapt *adapt.Controller
	// ModelCalls, when set, puts the model-call gateway beside the nodes;
	// Recordings answers what it may replay (needed when it replays).
	ModelCalls *sdk.ModelCalls
	Recordings RecordingSource
	// SpentBefore is what earlier runs of the batch spent on model calls
	// (a resume): the batch's budget counts it.
	SpentBefore Spent
	// OnStored, when set, hears each store transaction once it committed
	// (a result's checkpoints and spans are stored with or before it): the
	// trace export takes the results and what it needs of the rest. Called
	// from the writer's goroutine; it must return at once.
	OnStored func(ws store.WriteSet)

	// storeRetry is the writer's first wait between attempts of a failed
	// store write (0: 100 ms) and writerQueue how many write sets it queues
	// before the scheduler waits for it (0: 4096): the package's tests
	// shorten them to see retries and back-pressure in milliseconds.
	storeRetry  time.Duration
	writerQueue int
}

// RecordingSource finds what the gateway may replay for node runs: in the
// database or in cassette files.
type RecordingSource interface {
	// For returns the recordings of the nodes' runs (by Node.RunKey), and for
	// runs with none, the nearest recordings of the same node.
	For(ctx context.Context, nodes []sdk.Node) ([]sdk.Recordings, error)
}

// Retotaler is a Progress whose total can shrink while it runs (combinations
// stopped early).
type Retotaler interface {
	SetTotal(total int)
}

// errTimedOut is the cause of an attempt cancelled by the batch's timeout.
var errTimedOut = errors.New("execution timed out")

// attempt is one request for a segment.
type attempt struct {
	seg        *plan.Segment
	group      *groupRun
	number     int
	startIdx   int
	startState []byte
	startID    string
	execID     string
	events     *attemptEvents
	outcome    sdk.Outcome
	cancel     context.CancelCauseFunc
	ctx        context.Context
	sentAt     time.Time
	lastWorker string
}

type scheduler struct {
	cfg     Config
	b       *spec.Batch
	planner *plan.Planner
	log     hclog.Logger
	redact  *spec.Redactor
	obs     Observer
	load    LoadReporter
	scored  map[string]bool // nodes evaluators score by name
	// steps: a trajectory evaluator scores the node runs' steps, so each
	// run's are kept from its spans until its executions are scored.
	steps  bool
	prices *modelcalls.Prices

	builtinOnce sync.Once
	builtinExec *executor.Executor
	adapt       *adapt.Controller
	limit       int

	ready       []*attempt
	inflight    map[*attempt]bool
	completions chan *attempt
	retries     chan *attempt
	timers      map[*attempt]*time.Timer
	feed        *feeder

	envs     map[string]sdk.RuntimeEnv
	envErrs  map[string]error
	writer   *writer
	evalSem  chan struct{}
	evalWG   sync.WaitGroup
	stopping bool

	tally  *tally
	budget *budget // nil: the batch has none
}

// Run executes the batch and returns what happened. It returns an error only
// for failures of the host itself (the store); failed executions are results.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	s := &scheduler{cfg: cfg, b: cfg.Batch, log: cfg.Log, inflight: map[*attempt]bool{}, timers: map[*attempt]*time.Timer{},
		envs: map[string]sdk.RuntimeEnv{}, envErrs: map[string]error{}, evalSem: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	s.adapt = cfg.Adapt
	opts := plan.Options{BatchID: cfg.BatchID, Skip: cfg.Done}
	if s.adapt != nil {
		opts.SkipCombination = func(name string) bool {
			if !s.adapt.Skip(name) {
				return false
			}
			s.tally.skipped(name)
			return true
		}
	}
	s.planner = plan.NewPlanner(cfg.Batch, opts)
	if g := cfg.Batch.Gateway; g != nil {
		s.prices = modelcalls.NewPrices(g.Prices)
	}
	s.redact = cfg.Batch.Redactor()
	s.budget = newBudget(cfg.Batch.Budget, cfg.SpentBefore)
	if s.cfg.Observer == nil {
		s.cfg.Observer = nopObserver{}
	}
	s.obs = s.cfg.Observer
	s.load, _ = cfg.Progress.(LoadReporter)
	s.scored = cfg.Evaluator.NodesScored()
	s.steps = cfg.Evaluator.Trajectories()
	s.limit = s.b.MaxPending
	if c := cfg.Runner.Capacity(); c > 0 && c < s.limit {
		s.limit = c
	}
	s.completions = make(chan *attempt, s.limit+16)
	s.retries = make(chan *attempt, s.limit+16)
	s.feed = newFeeder(s)
	s.tally = newTally(cfg, s.feed.census())
	if cfg.Progress != nil {
		cfg.Progress.Start(s.tally.planned)
		defer cfg.Progress.Finish()
	}
	s.writer = newWriter(cfg.Store, s.log, s.obs, s.tally, cfg.storeRetry, cfg.writerQueue)
	s.writer.onStored = cfg.OnStored
	s.createEnvironments(ctx)
	s.loop(ctx)
	s.evalWG.Wait()
	err := s.writer.close()
	s.cleanupEnvironments()
	return s.tally.report(time.Since(start)), err
}

func (s *scheduler) loop(ctx context.Context) {
	done := ctx.Done()
	// A resumed batch may have spent its budget already.
	s.checkBudget()
	for {
		s.feed.fill()
		for !s.stopping && len(s.inflight) < s.limit && len(s.ready) > 0 {
			a := s.ready[0]
			s.ready = s.ready[1:]
			s.dispatch(ctx, a)
			s.feed.fill()
		}
		if werr := s.writer.err(); werr != nil && !s.stopping {
			s.stop(fmt.Sprintf("cannot store results: %v", werr))
		}
		s.obs.Load(len(s.inflight), len(s.ready))
		if s.load != nil {
			s.load.Load(len(s.inflight), len(s.ready))
		}
		// s.timers holds the retries waiting their backoff (or sent on
		// s.retries and not yet received).
		if len(s.inflight) == 0 && (len(s.ready) == 0 || s.stopping) && len(s.timers) == 0 {
			return
		}
		select {
		case a := <-s.completions:
			s.complete(a)
			s.checkBudget()
		case a := <-s.retries:
			delete(s.timers, a)
			if !s.stopping {
				s.ready = append([]*attempt{a}, s.ready...)
			}
		case <-done:
			done = nil
			s.tally.cancelled()
			s.stop("batch interrupted")
		}
	}
}

func (s *scheduler) stop(reason string) {
	if s.stopping {
		return
	}
	s.stopping = true
	for a := range s.inflight {
		a.cancel(errors.New(reason))
	}
	// Retries waiting their backoff will not be sent: forget them now
	// rather than wait for their timers (up to 30 s). A timer that has
	// fired already delivers its attempt on s.retries, which drops it.
	for a, t := range s.timers {
		if t.Stop() {
			delete(s.timers, a)
		}
	}
}

// dispatch sends an attempt to the runner (or finishes it at once when the
// stored checkpoints or the node cache cover it).
func (s *scheduler) dispatch(ctx context.Context, a *attempt) {
	seg := a.seg
	if err := s.envErrs[seg.EnvKey]; err != nil {
		s.failSegment(a, err.Error(), seg.Steps[0].Node.Name, sdk.FailureStart)
		return
	}
	if a.number == 1 && seg.Parent == nil {
		for _, ex := range seg.Executions() {
			s.obs.ExecutionStarted(ex.Combination.Name)
		}
	}
	if !s.prepare(ctx, a) {
		s.succeedSegment(a)
		return
	}
	for _, ex := range seg.Executions() {
		s.tally.comboStarted(ex.Combination.Name)
	}
	a.execID = fmt.Sprintf("%s-%s-%d", shortID(s.cfg.BatchID), spec.HashStrings(seg.Key)[:12], a.number)
	a.events = newAttemptEvents(s, a)
	req := s.request(a)
	// The attempt's context: the run's, so an interrupt reaches it, with the
	// batch's timeout as a cause of its own.
	a.ctx, a.cancel = context.WithCancelCause(ctx)
	if t := s.b.Timeout.D(); t > 0 {
		req.Deadline = time.Now().Add(t)
		tctx, tcancel := context.WithTimeoutCause(a.ctx, t, fmt.Errorf("%w after %s", errTimedOut, t))
		cancel := a.cancel
		// The outer context first: the timeout's context then ends with the
		// reason given, which is what the runner is told (tcancel first
		// would end it as a bare "context canceled").
		a.ctx, a.cancel = tctx, func(err error) { cancel(err); tcancel() }
	}
	s.inflight[a] = true
	a.sentAt = time.Now()
	if seg.BuiltinFrom(a.startIdx) {
		// Only merge nodes left: the host runs them itself, the way every
		// runner does (the SDK's executor), without a round trip.
		go func() {
			a.outcome = s.builtins().Execute(a.ctx, req, a.events)
			s.completions <- a
		}()
		return
	}
	go func() {
		if s.cfg.ModelCalls.Replaying() && s.cfg.Recordings != nil {
			// Looked up here, off the scheduler's loop: one query per node.
			recs, err := s.cfg.Recordings.For(a.ctx, req.Nodes)
			if err != nil {
				a.outcome = sdk.Outcome{Status: sdk.StatusFailed, Retryable: true, FailureKind: sdk.FailureInfrastructure,
					Error: "looking up model-call recordings: " + err.Error()}
				s.completions <- a
				return
			}
			req.Recordings = recs
		}
		a.outcome = s.cfg.Runner.Execute(a.ctx, req, a.events)
		s.completions <- a
	}()
}

// builtins is the executor of the segments made only of built-in nodes.
func (s *scheduler) builtins() *executor.Executor {
	s.builtinOnce.Do(func() { s.builtinExec = executor.New(executor.Options{WorkerID: "host"}) })
	return s.builtinExec
}

// request is the runner request for an attempt: the segment's nodes from
// where the attempt starts.
func (s *scheduler) request(a *attempt) *sdk.ExecuteRequest {
	seg := a.seg
	req := &sdk.ExecuteRequest{ExecutionID: a.execID, ExecutionKey: seg.Key, Attempt: a.number, BatchID: s.cfg.BatchID,
		Combination: spec.CombinationName(&s.b.Workflow, seg.Variants), Variants: seg.Variants,
		Case:        sdk.Case{ID: seg.Case.ID, Input: seg.Case.Input, Expected: seg.Case.Expected},
		RepeatIndex: seg.Repeat, StartState: a.startState, StartCheckpointID: a.startID, Env: s.envs[seg.EnvKey],
		ModelCalls: s.withExecutionBudget(a)}
	for _, st := range seg.Steps[a.startIdx:] {
		n := st.Node
		node := sdk.Node{Name: n.Name, Kind: n.Kind, Command: n.Command, Params: n.Params, Env: n.Env,
			Timeout: n.Timeout.D(), Variant: n.Variant, DependsOn: n.DependsOn, MaxOutputBytes: n.MaxOutputBytes, ConfigHash: n.ConfigHash,
			RunKey: st.RunKey}
		if w := n.Worker; w != nil {
			node.Worker = &sdk.WorkerSpec{Max: w.Max, MaxRequests: w.MaxRequests, IdleTimeout: w.IdleTimeout.D()}
		}
		req.Nodes = append(req.Nodes, node)
	}
	return req
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
