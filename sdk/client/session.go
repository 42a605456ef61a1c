package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/internal/wire"
)

// DoneFunc receives the outcome of an execution, exactly once.
type DoneFunc func(sdk.Outcome)

// Session multiplexes executions over one runner Session stream. It batches
// requests that are waiting to be sent, so many small executions cost a few
// messages rather than an RPC each. Events arrive in the SDK's Go types, in
// order and without duplicates, on the session's receive goroutine: handlers
// must not block.
type Session struct {
	stream  runnerv1.RunnerService_SessionClient
	cancel  context.CancelFunc
	outbox  chan *runnerv1.SessionRequest
	mu      sync.Mutex
	pending map[string]*pending
	broken  error
	done    chan struct{}
	// describe turns a broken stream into the message failed executions carry.
	describe func(error) string
	// violation, when set, hears of events that break the contract (sequence
	// numbers out of order, events of unknown executions); the host drops them.
	violation func(error)
}

// ReportViolations makes the session report events that break the contract
// to f instead of only dropping them (the conformance kit fails on them).
func (s *Session) ReportViolations(f func(error)) {
	s.mu.Lock()
	s.violation = f
	s.mu.Unlock()
}

type pending struct {
	ev      sdk.Events
	done    DoneFunc
	lastSeq uint64
}

// ErrSessionClosed is returned when starting an execution on a closed or broken session.
var ErrSessionClosed = errors.New("runner session is closed")

func openSession(ctx context.Context, rc runnerv1.RunnerServiceClient, describe func(error) string) (*Session, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := rc.Session(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("opening runner session: %w", err)
	}
	if describe == nil {
		describe = func(err error) string { return "runner session broke: " + err.Error() }
	}
	s := &Session{stream: stream, cancel: cancel, outbox: make(chan *runnerv1.SessionRequest, 1024),
		pending: map[string]*pending{}, done: make(chan struct{}), describe: describe}
	go s.sendLoop()
	go s.recvLoop()
	return s, nil
}

// Start sends an execution. ev gets its node events and done its outcome; an
// outcome always comes, synthesized as a retryable infrastructure failure if
// the session breaks first.
func (s *Session) Start(req *sdk.ExecuteRequest, ev sdk.Events, done DoneFunc) error {
	s.mu.Lock()
	if s.broken != nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %v", ErrSessionClosed, s.broken)
	}
	if _, dup := s.pending[req.ExecutionID]; dup {
		s.mu.Unlock()
		return fmt.Errorf("execution %s is already running", req.ExecutionID)
	}
	s.pending[req.ExecutionID] = &pending{ev: ev, done: done}
	s.mu.Unlock()
	select {
	case s.outbox <- &runnerv1.SessionRequest{Executions: []*runnerv1.ExecuteRequest{wire.ExecuteRequestToProto(req)}}:
		return nil
	case <-s.done:
		return nil // recvLoop has failed (or will fail) every pending execution
	}
}

// Cancel asks the runner to cancel an execution; its outcome still comes.
func (s *Session) Cancel(executionID, reason string) {
	select {
	case s.outbox <- &runnerv1.SessionRequest{Cancels: []*runnerv1.CancelRequest{{ExecutionId: executionID, Reason: reason}}}:
	case <-s.done:
	}
}

// Execute runs one execution and waits for its outcome; when ctx ends the
// execution is cancelled (with ctx's cause as the reason) and its outcome
// still awaited.
func (s *Session) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) (sdk.Outcome, error) {
	finished := make(chan sdk.Outcome, 1)
	if err := s.Start(req, ev, func(o sdk.Outcome) { finished <- o }); err != nil {
		return sdk.Outcome{}, err
	}
	select {
	case o := <-finished:
		return o, nil
	case <-ctx.Done():
		s.Cancel(req.ExecutionID, context.Cause(ctx).Error())
		return <-finished, nil
	}
}

// InFlight is the number of executions started and not yet finished.
func (s *Session) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended (nil after a clean Close).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(s.broken, errClosedByHost) {
		return nil
	}
	return s.broken
}

var errClosedByHost = errors.New("session closed by the host")

// Close ends the session after the executions in flight have finished, or at
// once when ctx ends (they then fail as retryable).
func (s *Session) Close(ctx context.Context) error {
	select {
	case s.outbox <- nil: // tells sendLoop to close the send side
	case <-s.done:
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	return s.Err()
}

func (s *Session) sendLoop() {
	for {
		var req *runnerv1.SessionRequest
		select {
		case req = <-s.outbox:
		case <-s.done:
			return
		}
		if req == nil {
			_ = s.stream.CloseSend()
			return
		}
		// Take whatever else is waiting: one message for many executions.
		closing := false
	drain:
		for len(req.Executions)+len(req.Cancels) < 512 {
			select {
			case more := <-s.outbox:
				if more == nil {
					closing = true
					break drain
				}
				req.Executions = append(req.Executions, more.Executions...)
				req.Cancels = append(req.Cancels, more.Cancels...)
			default:
				break drain
			}
		}
		if err := s.stream.Send(req); err != nil {
			// recvLoop sees the same failure and fails what is pending.
			return
		}
		if closing {
			_ = s.stream.CloseSend()
			return
		}
	}
}

func (s *Session) recvLoop() {
	var err error
	for {
		var resp *runnerv1.SessionResponse
		resp, err = s.stream.Recv()
		if err != nil {
			break
		}
		for _, ev := range resp.GetEvents() {
			s.deliver(ev)
		}
	}
	if errors.Is(err, io.EOF) {
		err = errClosedByHost
	}
	s.mu.Lock()
	s.broken = err
	orphans := s.pending
	s.pending = map[string]*pending{}
	s.mu.Unlock()
	close(s.done)
	msg := s.describe(err)
	if errors.Is(err, errClosedByHost) {
		msg = "runner session closed before the execution finished"
	}
	for _, p := range orphans {
		p.done(sdk.Outcome{Status: sdk.StatusFailed, Error: msg, Retryable: true, FailureKind: sdk.FailureInfrastructure})
	}
}

// deliver hands one wire event to its execution's handlers, dropping
// duplicates and events of executions it does not know.
func (s *Session) deliver(ev *runnerv1.Event) {
	id := ev.GetExecutionId()
	s.mu.Lock()
	p, ok := s.pending[id]
	if !ok || ev.GetSeq() <= p.lastSeq {
		report := s.violation
		s.mu.Unlock()
		if report != nil {
			report(fmt.Errorf("event %d of execution %q: unknown execution or a sequence number already seen", ev.GetSeq(), id))
		}
		return
	}
	if ev.GetSeq() != p.lastSeq+1 && s.violation != nil {
		s.violation(fmt.Errorf("execution %q: event seq %d follows %d; events are numbered 1, 2, 3, … per execution", id, ev.GetSeq(), p.lastSeq))
	}
	p.lastSeq = ev.GetSeq()
	fin := ev.GetExecutionFinished()
	if fin != nil {
		delete(s.pending, id)
	}
	s.mu.Unlock()
	switch pl := ev.GetPayload().(type) {
	case *runnerv1.Event_NodeStarted:
		p.ev.NodeStarted(pl.NodeStarted.GetNode(), pl.NodeStarted.GetWorkerId())
	case *runnerv1.Event_NodeFinished:
		p.ev.NodeFinished(wire.NodeResultFromProto(pl.NodeFinished))
	case *runnerv1.Event_NodeFailed:
		p.ev.NodeFailed(wire.NodeFailureFromProto(pl.NodeFailed))
	case *runnerv1.Event_Log:
		p.ev.Log(pl.Log.GetNode(), sdk.LogStream(pl.Log.GetStream()), pl.Log.GetLine())
	case *runnerv1.Event_ExecutionFinished:
		p.done(wire.OutcomeFromProto(fin))
	}
}
