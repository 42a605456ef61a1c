package main

// The runner's remote.v1 mappings, tested over a real gRPC connection in
// memory: what Execute sends for an sdk.ExecuteRequest (request), and what it
// makes of the events a service streams back (stream). The other half of each
// pair lives in the service (examples/grpc-environment is one, in any
// language), so the inverses here are the test's own, written field by field
// from remote.proto: a property (rapid) checks that a value comes back
// unchanged, and reflection checks (proto/prototest) that a field added to
// remote.v1 or to an SDK type without a mapping fails a test.

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/plugins/internal/remote"
	"github.com/wtbench/wtb/proto/prototest"
	remotev1 "github.com/wtbench/wtb/proto/wtb/remote/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/modelcallpb"
	"github.com/wtbench/wtb/sdk/tracepb"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"pgregory.net/rapid"
)

// service is a remote.v1 execution service that keeps the requests it gets
// and answers each with the events a test scripts.
type service struct {
	remotev1.UnimplementedExecutionServiceServer
	mu       sync.Mutex
	requests []*remotev1.ExecuteSegmentRequest
	script   []*remotev1.ExecuteSegmentResponse
}

func (s *service) ExecuteSegment(req *remotev1.ExecuteSegmentRequest, stream remotev1.ExecutionService_ExecuteSegmentServer) error {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	script := s.script
	s.mu.Unlock()
	for i, ev := range script {
		ev = proto.Clone(ev).(*remotev1.ExecuteSegmentResponse)
		ev.Seq = uint64(i + 1)
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	return nil
}

func (s *service) play(events ...*remotev1.ExecuteSegmentResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = events
}

func (s *service) last() *remotev1.ExecuteSegmentRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[len(s.requests)-1]
}

// connect serves svc over an in-memory connection and returns a runner
// connected to it.
func connect(t *testing.T, svc *service) *grpcRunner {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	remotev1.RegisterExecutionServiceServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///remote", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	settings, diags := remote.Parse(remote.Options{Address: "remote", CallTimeout: "10s", ConnectTimeout: "1s",
		RetryBackoff: "1ms", MaxMessageBytes: 1 << 20})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		goleak.VerifyNone(t)
	})
	return &grpcRunner{settings: settings, conn: conn, client: remotev1.NewExecutionServiceClient(conn)}
}

// recorder keeps what the runner relays.
type recorder struct {
	mu       sync.Mutex
	started  [][2]string
	finished []sdk.NodeResult
	failed   []sdk.NodeFailure
	logs     [][3]any
}

func (r *recorder) NodeStarted(node, worker string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, [2]string{node, worker})
}

func (r *recorder) NodeFinished(x sdk.NodeResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = append(r.finished, x)
}

func (r *recorder) NodeFailed(f sdk.NodeFailure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, f)
}

func (r *recorder) Log(node string, stream sdk.LogStream, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, [3]any{node, stream, line})
}

// notOnRemote are the request's fields remote.v1 does not carry: the
// service names executions by idempotency key, bounds them with its own call
// timeout, and needs neither labels nor the order of the nodes (they come in
// order), nor the checkpoint id (the host keeps checkpoints).
func notOnRemote(r sdk.ExecuteRequest) sdk.ExecuteRequest {
	r.ExecutionID, r.StartCheckpointID, r.Deadline, r.Labels, r.Env.Labels = "", "", time.Time{}, nil, nil
	nodes := slices.Clone(r.Nodes)
	for i := range nodes {
		nodes[i].DependsOn = nil
	}
	r.Nodes = nodes
	return r
}

// fromRemote is the inverse of request, field by field from remote.proto.
func fromRemote(p *remotev1.ExecuteSegmentRequest) sdk.ExecuteRequest {
	r := sdk.ExecuteRequest{ExecutionKey: p.GetExecutionKey(), Attempt: int(p.GetAttempt()), BatchID: p.GetBatchId(),
		Combination: p.GetCombination(), Variants: p.GetVariants(), RepeatIndex: int(p.GetRepeatIndex()),
		Case:       sdk.Case{ID: p.GetCaseId(), Input: p.GetCaseInputJson(), Expected: p.GetCaseExpectedJson()},
		StartState: p.GetStartStateJson(),
		Env:        sdk.RuntimeEnv{ID: p.GetEnvironment().GetId(), Env: p.GetEnvironment().GetEnv(), WorkingDir: p.GetEnvironment().GetWorkingDir()},
		ModelCalls: modelcallpb.ConfigFromProto(p.GetModelCalls()), Recordings: modelcallpb.RecordingsFromProto(p.GetRecordings())}
	for _, n := range p.GetNodes() {
		node := sdk.Node{Name: n.GetName(), Kind: n.GetKind(), Command: n.GetCommand(), Params: n.GetParamsJson(), Env: n.GetEnv(),
			Timeout: n.GetTimeout().AsDuration(), Variant: n.GetVariant(), MaxOutputBytes: n.GetMaxOutputBytes(),
			ConfigHash: n.GetConfigHash(), RunKey: n.GetRunKey()}
		if w := n.GetWorker(); w != nil {
			node.Worker = &sdk.WorkerSpec{Max: int(w.GetMax()), MaxRequests: int(w.GetMaxRequests()), IdleTimeout: w.GetIdleTimeout().AsDuration()}
		}
		r.Nodes = append(r.Nodes, node)
	}
	return r
}

// The events a service sends, from SDK values: the inverses of the relay.
func startedEvent(node, worker string) *remotev1.ExecuteSegmentResponse {
	return &remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeStarted{
		NodeStarted: &remotev1.NodeStarted{Node: node, WorkerId: worker}}}
}

func finishedEvent(r sdk.NodeResult) *remotev1.ExecuteSegmentResponse {
	return &remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeFinished{NodeFinished: &remotev1.NodeFinished{
		Node: r.Node, StateJson: r.State, OutputJson: r.Output, Duration: durationpb.New(r.Duration), Metrics: r.Metrics,
		WorkerId: r.WorkerID, Interactions: modelcallpb.InteractionsToProto(r.Interactions), Spans: tracepb.ToProto(r.Spans)}}}
}

func failedEvent(f sdk.NodeFailure) *remotev1.ExecuteSegmentResponse {
	return &remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeFailed{NodeFailed: &remotev1.NodeFailed{
		Node: f.Node, Error: f.Error, Kind: f.Kind.String(), Retryable: f.Retryable, ExitCode: int32(f.ExitCode),
		Interactions: modelcallpb.InteractionsToProto(f.Interactions), Spans: tracepb.ToProto(f.Spans)}}}
}

func segmentEvent(o sdk.Outcome) *remotev1.ExecuteSegmentResponse {
	f := &remotev1.SegmentFinished{Succeeded: o.Status == sdk.StatusSucceeded, FinalStateJson: o.FinalState, Error: o.Error,
		FailedNode: o.FailedNode, Retryable: o.Retryable, WorkerId: o.WorkerID}
	if !f.Succeeded {
		f.FailureKind = o.FailureKind.String()
	}
	return &remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_SegmentFinished{SegmentFinished: f}}
}

func logEvent(node, line string) *remotev1.ExecuteSegmentResponse {
	return &remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_Log{Log: &remotev1.LogLine{Node: node, Line: line}}}
}

// onRemote is what an outcome can be on remote.v1: a success says nothing
// of failures; a failure's status follows its kind (cancelled or failed); the
// duration is the runner's own measure, not the service's.
func onRemote(o sdk.Outcome) sdk.Outcome {
	o.Duration = 0
	switch {
	case o.Status == sdk.StatusSucceeded:
		o.Error, o.FailedNode, o.FailureKind, o.Retryable = "", "", sdk.FailureUnspecified, false
	case o.FailureKind == sdk.FailureCancelled:
		o.Status = sdk.StatusCancelled
	default:
		o.Status = sdk.StatusFailed
	}
	return o
}

func anyOf[T any](g *rapid.Generator[T]) *rapid.Generator[any] {
	return rapid.Map(g, func(v T) any { return v })
}

// sdkValues draws what remote.v1 can carry: ints within int32, durations not
// negative, times within a Timestamp's range, failure kinds among theirs
// (they travel by name).
var sdkValues = rapid.MakeConfig{Types: map[reflect.Type]*rapid.Generator[any]{
	reflect.TypeOf(0): anyOf(rapid.Map(rapid.Int32(), func(n int32) int { return int(n) })),
	reflect.TypeOf(time.Duration(0)): anyOf(rapid.Map(rapid.Int64Range(0, 1<<62), func(n int64) time.Duration {
		return time.Duration(n)
	})),
	reflect.TypeOf(time.Time{}): anyOf(rapid.OneOf(rapid.Just(time.Time{}), rapid.Custom(func(t *rapid.T) time.Time {
		return time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "seconds"),
			rapid.Int64Range(0, 999999999).Draw(t, "nanos")).UTC()
	}))),
	reflect.TypeOf(sdk.Status(0)):      anyOf(rapid.Map(rapid.IntRange(0, 3), func(n int) sdk.Status { return sdk.Status(n) })),
	reflect.TypeOf(sdk.FailureKind(0)): anyOf(rapid.Map(rapid.IntRange(0, 8), func(n int) sdk.FailureKind { return sdk.FailureKind(n) })),
}}

// What Execute sends for a request is the request, as far as remote.v1
// carries it, under an idempotency key naming the batch, execution and
// attempt.
func TestRequestRoundTrip(t *testing.T) {
	svc := &service{}
	r := connect(t, svc)
	svc.play(segmentEvent(sdk.Outcome{Status: sdk.StatusSucceeded}))
	gen := rapid.MakeCustom[sdk.ExecuteRequest](sdkValues)
	rapid.Check(t, func(t *rapid.T) {
		req := gen.Draw(t, "request")
		if out := r.Execute(context.Background(), &req, &recorder{}); out.Status != sdk.StatusSucceeded {
			t.Fatalf("outcome %+v", out)
		}
		got := svc.last()
		if d := prototest.Compare(notOnRemote(req), fromRemote(got)); d != "" {
			t.Fatalf("changed on the wire: %s", d)
		}
		if want := fmt.Sprintf("%s/%s#%d", req.BatchID, req.ExecutionKey, req.Attempt); got.GetIdempotencyKey() != want {
			t.Fatalf("idempotency key %q; want %q", got.GetIdempotencyKey(), want)
		}
	})
}

// What the runner relays of a service's events is what the service sent.
func TestEventsRoundTrip(t *testing.T) {
	svc := &service{}
	r := connect(t, svc)
	results, failures := rapid.MakeCustom[sdk.NodeResult](sdkValues), rapid.MakeCustom[sdk.NodeFailure](sdkValues)
	outcomes := rapid.MakeCustom[sdk.Outcome](sdkValues)
	rapid.Check(t, func(t *rapid.T) {
		res, fail, out := results.Draw(t, "result"), failures.Draw(t, "failure"), onRemote(outcomes.Draw(t, "outcome"))
		fail.Duration = 0 // remote.v1 does not say how long a failed node ran
		started := [2]string{rapid.String().Draw(t, "node"), rapid.String().Draw(t, "worker")}
		line := rapid.String().Draw(t, "line")
		svc.play(startedEvent(started[0], started[1]), logEvent(started[0], line), finishedEvent(res), failedEvent(fail), segmentEvent(out))
		ev := &recorder{}
		got := r.Execute(context.Background(), &sdk.ExecuteRequest{}, ev)
		got.Duration = 0
		if d := prototest.Compare(out, got); d != "" {
			t.Fatalf("outcome changed on the wire: %s", d)
		}
		if len(ev.finished) != 1 || len(ev.failed) != 1 || len(ev.started) != 1 || ev.started[0] != started {
			t.Fatalf("relayed %+v", ev)
		}
		if d := prototest.Compare(res, ev.finished[0]); d != "" {
			t.Fatalf("node result changed on the wire: %s", d)
		}
		if d := prototest.Compare(fail, ev.failed[0]); d != "" {
			t.Fatalf("node failure changed on the wire: %s", d)
		}
		// Sent before any node finished, the line is relayed (one after
		// would be dropped: a retried call replays them).
		if len(ev.logs) != 1 || ev.logs[0] != [3]any{started[0], sdk.LogStderr, line} {
			t.Fatalf("logs %v", ev.logs)
		}
	})
}

// full is an SDK value with every field set.
func full[T any]() T {
	return prototest.Full[T](map[reflect.Type]any{reflect.TypeOf(sdk.FailureKind(0)): sdk.FailureTimeout,
		reflect.TypeOf(sdk.Status(0)): sdk.StatusFailed})
}

// Every field of remote.v1's ExecuteSegmentRequest (and Node, WorkerSpec,
// Environment) is set from a request with every field set; one with every
// field filled goes through the SDK type and back whole.
func TestEveryRequestFieldIsMapped(t *testing.T) {
	svc := &service{}
	r := connect(t, svc)
	svc.play(segmentEvent(sdk.Outcome{Status: sdk.StatusSucceeded}))
	req := full[sdk.ExecuteRequest]()
	r.Execute(context.Background(), &req, &recorder{})
	got := svc.last()
	if u := prototest.Unset(got); u != nil {
		t.Errorf("no SDK field sets %v", u)
	}
	if d := prototest.Compare(notOnRemote(req), fromRemote(got)); d != "" {
		t.Errorf("lost on the way: %s", d)
	}
	var filled remotev1.ExecuteSegmentRequest
	prototest.Fill(&filled, nil)
	back := fromRemote(&filled)
	r.Execute(context.Background(), &back, &recorder{})
	// The idempotency key is made from the batch, execution key and attempt.
	if d := prototest.Diff(&filled, svc.last()); !slices.Equal(d, []string{"idempotency_key"}) {
		t.Errorf("fields not carried to the SDK type and back: %v", d)
	}
}

// Every field of the events remote.v1 streams (NodeStarted, LogLine,
// NodeFinished, NodeFailed, SegmentFinished) reaches the SDK's events.
func TestEveryEventFieldIsMapped(t *testing.T) {
	svc := &service{}
	r := connect(t, svc)
	var started remotev1.NodeStarted
	var log remotev1.LogLine
	var nf remotev1.NodeFinished
	var failed remotev1.NodeFailed
	var fin remotev1.SegmentFinished
	prototest.Fill(&started, nil)
	prototest.Fill(&log, nil)
	prototest.Fill(&nf, nil)
	prototest.Fill(&failed, map[string]any{"kind": "timeout"})
	prototest.Fill(&fin, map[string]any{"succeeded": false, "failure_kind": "exit"})
	svc.play(&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeStarted{NodeStarted: &started}},
		&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_Log{Log: &log}},
		&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeFinished{NodeFinished: &nf}},
		&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeFailed{NodeFailed: &failed}},
		&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_SegmentFinished{SegmentFinished: &fin}})
	ev := &recorder{}
	out := r.Execute(context.Background(), &sdk.ExecuteRequest{}, ev)
	if len(ev.started) != 1 || len(ev.logs) != 1 || len(ev.finished) != 1 || len(ev.failed) != 1 {
		t.Fatalf("relayed %+v", ev)
	}
	back := []struct {
		name      string
		sent, got proto.Message
	}{
		{"NodeStarted", &started, startedEvent(ev.started[0][0], ev.started[0][1]).GetNodeStarted()},
		{"LogLine", &log, logEvent(ev.logs[0][0].(string), ev.logs[0][2].(string)).GetLog()},
		{"NodeFinished", &nf, finishedEvent(ev.finished[0]).GetNodeFinished()},
		{"NodeFailed", &failed, failedEvent(ev.failed[0]).GetNodeFailed()},
		{"SegmentFinished", &fin, segmentEvent(out).GetSegmentFinished()},
	}
	for _, b := range back {
		if d := prototest.Diff(b.sent, b.got); d != nil {
			t.Errorf("%s: fields not carried to the SDK's events: %v", b.name, d)
		}
	}
	// A success carries its state and worker; what it says of failures is
	// not heard.
	prototest.Fill(&fin, nil)
	svc.play(&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_SegmentFinished{SegmentFinished: &fin}})
	out = r.Execute(context.Background(), &sdk.ExecuteRequest{}, &recorder{})
	if d := prototest.Diff(&fin, segmentEvent(out).GetSegmentFinished()); !slices.Equal(d, []string{"error", "failed_node", "failure_kind", "retryable"}) {
		t.Errorf("a success: %v", d)
	}
}
