package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	pluginv1 "github.com/wtbench/wtb/proto/wtb/plugin/v1"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/internal/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Batching limits for events sent back to the host. Under load many events
// travel in one message; when idle an event is sent as soon as it happens.
const (
	maxEventsPerMessage = 512
	maxBytesPerMessage  = 4 << 20
	eventQueueLength    = 4096
)

// runnerPlugin is the go-plugin glue on the plugin's side.
type runnerPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl   sdk.Runner
	log    hclog.Logger
	server *runnerServer
}

func (p *runnerPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	p.server = newRunnerServer(p.impl, p.log)
	runnerv1.RegisterRunnerServiceServer(s, p.server)
	return nil
}

func (p *runnerPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("the serving side has no client")
}

// cancelAll cancels every running execution (used when the host has gone away).
func (p *runnerPlugin) cancelAll(cause error) {
	if p.server != nil {
		p.server.stop(cause)
	}
}

type runnerServer struct {
	runnerv1.UnimplementedRunnerServiceServer
	impl   sdk.Runner
	log    hclog.Logger
	base   context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

func newRunnerServer(impl sdk.Runner, log hclog.Logger) *runnerServer {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &runnerServer{impl: impl, log: log, base: ctx, cancel: cancel}
}

// stop cancels all executions and waits for them to report.
func (s *runnerServer) stop(cause error) {
	s.cancel(cause)
	s.wg.Wait()
}

func (s *runnerServer) GetInfo(context.Context, *runnerv1.GetInfoRequest) (*runnerv1.GetInfoResponse, error) {
	info, err := wire.InfoToProto(s.impl.Info(), pluginv1.PluginKind_PLUGIN_KIND_RUNNER)
	if err != nil {
		return nil, fmt.Errorf("describing the plugin: %w", err)
	}
	return &runnerv1.GetInfoResponse{Info: info, NodeKinds: s.impl.NodeKinds()}, nil
}

// GetMetrics reports the runner's own figures, if it keeps any.
func (s *runnerServer) GetMetrics(context.Context, *runnerv1.GetMetricsRequest) (*runnerv1.GetMetricsResponse, error) {
	r, ok := s.impl.(sdk.MetricsReporter)
	if !ok {
		return &runnerv1.GetMetricsResponse{}, nil
	}
	return &runnerv1.GetMetricsResponse{Metrics: wire.MetricsToProto(r.Metrics())}, nil
}

func (s *runnerServer) Configure(ctx context.Context, req *runnerv1.ConfigureRequest) (*runnerv1.ConfigureResponse, error) {
	capacity, diags := s.impl.Configure(ctx, req.GetConfigJson())
	if c, ok := s.impl.(sdk.Connector); ok && !diags.HasErrors() {
		if err := c.Connect(ctx); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	return &runnerv1.ConfigureResponse{Diagnostics: wire.DiagnosticsToProto(diags), MaxConcurrency: int32(capacity)}, nil
}

func (s *runnerServer) Shutdown(ctx context.Context, _ *runnerv1.ShutdownRequest) (*runnerv1.ShutdownResponse, error) {
	s.stop(errors.New("runner shut down by the host"))
	if err := s.impl.Shutdown(ctx); err != nil {
		return nil, fmt.Errorf("shutting down: %w", err)
	}
	return &runnerv1.ShutdownResponse{}, nil
}

// Session runs executions as they arrive and streams their events back. When the
// host closes its side the session finishes what runs and ends; when the stream
// breaks, everything it started is cancelled.
func (s *runnerServer) Session(stream runnerv1.RunnerService_SessionServer) error {
	// The stream's own context ends when the host goes away; executions learn
	// that with sdk.ErrHostGone as the cause, not a bare "context canceled", so a
	// runner can tell a dead host from a cancel it was asked for.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(stream.Context()))
	defer cancel(nil)
	stopOnHostGone := context.AfterFunc(stream.Context(), func() {
		cancel(fmt.Errorf("%w: its session with the plugin ended", sdk.ErrHostGone))
	})
	defer stopOnHostGone()
	stopOnShutdown := context.AfterFunc(s.base, func() { cancel(context.Cause(s.base)) })
	defer stopOnShutdown()

	events := make(chan *runnerv1.Event, eventQueueLength)
	sendDone := make(chan error, 1)
	go func() { sendDone <- sendEvents(stream, events) }()

	var (
		mu      sync.Mutex
		running = map[string]context.CancelCauseFunc{}
		wg      sync.WaitGroup
	)
	var recvErr error
	for {
		req, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				recvErr = err
				cancel(fmt.Errorf("%w: session with the host broke: %w", sdk.ErrHostGone, err))
			}
			break
		}
		mu.Lock()
		for _, c := range req.GetCancels() {
			if stop, ok := running[c.GetExecutionId()]; ok {
				stop(fmt.Errorf("cancelled by the host: %s", c.GetReason()))
			}
		}
		mu.Unlock()
		for _, pr := range req.GetExecutions() {
			id := pr.GetExecutionId()
			ectx, ecancel := context.WithCancelCause(ctx)
			mu.Lock()
			running[id] = ecancel
			mu.Unlock()
			wg.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer wg.Done()
				sink := &eventSink{id: id, out: events, ctx: ctx}
				outcome := s.execute(ectx, wire.ExecuteRequestFromProto(pr), sink)
				sink.finish(outcome)
				mu.Lock()
				delete(running, id)
				mu.Unlock()
				ecancel(nil)
			}()
		}
	}
	wg.Wait()
	close(events)
	sendErr := <-sendDone
	if recvErr != nil {
		return recvErr
	}
	return sendErr
}

// execute calls the runner, turning a panic into a failed outcome: one broken
// execution must not take the plugin and every other execution down.
func (s *runnerServer) execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) (out sdk.Outcome) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("runner panicked", "execution", req.ExecutionID, "panic", r, "stack", string(debug.Stack()))
			out = sdk.Outcome{Status: sdk.StatusFailed, Error: fmt.Sprintf("runner panicked: %v", r), FailureKind: sdk.FailureInfrastructure}
		}
	}()
	return s.impl.Execute(ctx, req, ev)
}

// sendEvents sends queued events, batching whatever is already waiting.
func sendEvents(stream runnerv1.RunnerService_SessionServer, events <-chan *runnerv1.Event) error {
	var failed error
	batch := make([]*runnerv1.Event, 0, 64)
	for ev := range events {
		batch = append(batch[:0], ev)
		size := approxSize(ev)
	drain:
		for len(batch) < maxEventsPerMessage && size < maxBytesPerMessage {
			select {
			case more, ok := <-events:
				if !ok {
					break drain
				}
				batch = append(batch, more)
				size += approxSize(more)
			default:
				break drain
			}
		}
		if failed != nil {
			continue // keep draining so producers never block on a dead stream
		}
		if err := stream.Send(&runnerv1.SessionResponse{Events: batch}); err != nil {
			failed = fmt.Errorf("sending events to the host: %w", err)
		}
	}
	return failed
}

func approxSize(ev *runnerv1.Event) int {
	n := 64
	switch p := ev.GetPayload().(type) {
	case *runnerv1.Event_NodeFinished:
		n += len(p.NodeFinished.GetStateJson()) + len(p.NodeFinished.GetOutputJson())
	case *runnerv1.Event_ExecutionFinished:
		n += len(p.ExecutionFinished.GetFinalStateJson())
	case *runnerv1.Event_Log:
		n += len(p.Log.GetLine())
	}
	return n
}

// eventSink numbers one execution's events and queues them for sending.
type eventSink struct {
	id       string
	out      chan<- *runnerv1.Event
	ctx      context.Context
	mu       sync.Mutex
	seq      uint64
	finished bool
	// lastState is the state of the last NodeFinished sent.
	lastState []byte
}

func (s *eventSink) emit(ev *runnerv1.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	s.seq++
	ev.ExecutionId = s.id
	ev.Seq = s.seq
	ev.Time = timestamppb.Now()
	select {
	case s.out <- ev:
	case <-s.ctx.Done():
	}
}

func (s *eventSink) NodeStarted(node, workerID string) {
	s.emit(&runnerv1.Event{Payload: &runnerv1.Event_NodeStarted{NodeStarted: &runnerv1.NodeStarted{Node: node, WorkerId: workerID}}})
}

func (s *eventSink) NodeFinished(r sdk.NodeResult) {
	s.mu.Lock()
	s.lastState = r.State
	s.mu.Unlock()
	s.emit(&runnerv1.Event{Payload: &runnerv1.Event_NodeFinished{NodeFinished: wire.NodeResultToProto(r)}})
}

func (s *eventSink) NodeFailed(f sdk.NodeFailure) {
	s.emit(&runnerv1.Event{Payload: &runnerv1.Event_NodeFailed{NodeFailed: wire.NodeFailureToProto(f)}})
}

func (s *eventSink) Log(node string, stream sdk.LogStream, line string) {
	s.emit(&runnerv1.Event{Payload: &runnerv1.Event_Log{Log: &runnerv1.LogLine{Node: node, Stream: runnerv1.LogStream(stream), Line: line}}})
}

// finish sends the final event; later events of this execution are dropped.
func (s *eventSink) finish(o sdk.Outcome) {
	if o.Status == sdk.StatusUnspecified {
		o.Status = sdk.StatusFailed
		if o.Error == "" {
			o.Error = "runner returned no outcome"
		}
	}
	s.mu.Lock()
	if bytes.Equal(o.FinalState, s.lastState) {
		// The host has it from the last NodeFinished: a large state crosses
		// the wire once, not twice.
		o.FinalState = nil
	}
	s.lastState = nil
	s.mu.Unlock()
	s.emit(&runnerv1.Event{Payload: &runnerv1.Event_ExecutionFinished{ExecutionFinished: wire.OutcomeToProto(o)}})
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
}
