package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// EventFunc receives the events of one execution, in order and without
// duplicates, on the session's receive goroutine: it must not block. The last
// event it gets carries an ExecutionFinished payload.
type EventFunc func(*runnerv1.Event)

// Session multiplexes executions over one runner Session stream. It batches
// requests that are waiting to be sent, so many small executions cost a few
// messages rather than an RPC each.
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
}

type pending struct {
	onEvent EventFunc
	lastSeq uint64
}

// ErrSessionClosed is returned when starting an execution on a closed or broken session.
var ErrSessionClosed = errors.New("runner session is closed")

// OpenSession opens a session on a runner. describe (optional) words the error
// that executions in flight get when the session breaks, e.g. because the plugin
// crashed.
func OpenSession(ctx context.Context, rc runnerv1.RunnerServiceClient, describe func(error) string) (*Session, error) {
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

// Start sends an execution. onEvent gets its events; a final ExecutionFinished
// always comes, synthesized as a retryable infrastructure failure if the session
// breaks first.
func (s *Session) Start(req *runnerv1.ExecuteRequest, onEvent EventFunc) error {
	s.mu.Lock()
	if s.broken != nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %v", ErrSessionClosed, s.broken)
	}
	if _, dup := s.pending[req.GetExecutionId()]; dup {
		s.mu.Unlock()
		return fmt.Errorf("execution %s is already running", req.GetExecutionId())
	}
	s.pending[req.GetExecutionId()] = &pending{onEvent: onEvent}
	s.mu.Unlock()
	select {
	case s.outbox <- &runnerv1.SessionRequest{Executions: []*runnerv1.ExecuteRequest{req}}:
		return nil
	case <-s.done:
		return nil // recvLoop has failed (or will fail) every pending execution
	}
}

// Cancel asks the runner to cancel an execution; its final event still comes.
func (s *Session) Cancel(executionID, reason string) {
	select {
	case s.outbox <- &runnerv1.SessionRequest{Cancels: []*runnerv1.CancelRequest{{ExecutionId: executionID, Reason: reason}}}:
	case <-s.done:
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
	for id, p := range orphans {
		p.onEvent(&runnerv1.Event{ExecutionId: id, Seq: p.lastSeq + 1, Time: timestamppb.Now(),
			Payload: &runnerv1.Event_ExecutionFinished{ExecutionFinished: &runnerv1.ExecutionFinished{
				Status: runnerv1.ExecutionStatus_EXECUTION_STATUS_FAILED, Error: msg, Retryable: true,
				FailureKind: runnerv1.FailureKind(sdk.FailureInfrastructure),
			}}})
	}
}

func (s *Session) deliver(ev *runnerv1.Event) {
	id := ev.GetExecutionId()
	s.mu.Lock()
	p, ok := s.pending[id]
	if !ok || ev.GetSeq() <= p.lastSeq {
		s.mu.Unlock()
		return // unknown execution or a duplicate: drop it
	}
	p.lastSeq = ev.GetSeq()
	final := ev.GetExecutionFinished() != nil
	if final {
		delete(s.pending, id)
	}
	s.mu.Unlock()
	p.onEvent(ev)
}

// Run executes one request and waits for its outcome, collecting its events. It
// cancels the execution when ctx ends.
func (s *Session) Run(ctx context.Context, req *runnerv1.ExecuteRequest) ([]*runnerv1.Event, *runnerv1.ExecutionFinished, error) {
	var events []*runnerv1.Event
	finished := make(chan *runnerv1.ExecutionFinished, 1)
	err := s.Start(req, func(ev *runnerv1.Event) {
		events = append(events, ev)
		if f := ev.GetExecutionFinished(); f != nil {
			finished <- f
		}
	})
	if err != nil {
		return nil, nil, err
	}
	select {
	case f := <-finished:
		return events, f, nil
	case <-ctx.Done():
		s.Cancel(req.GetExecutionId(), context.Cause(ctx).Error())
		f := <-finished
		return events, f, nil
	}
}
