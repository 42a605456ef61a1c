package main

// The reference server's remote.v1 mappings: what it makes of a request
// (executeRequest) and how it reports a segment's events (sink, finished).
// The other half of each pair is the client's (plugins/runner-grpc, or any
// other), so the inverses here are the test's own, written field by field
// from remote.proto: a property (rapid) checks that a value comes back
// unchanged, and reflection checks (proto/prototest) that a field added to
// remote.v1 or to an SDK type without a mapping fails a test.

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/wtbench/wtb/proto/prototest"
	remotev1 "github.com/wtbench/wtb/proto/wtb/remote/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/modelcallpb"
	"github.com/wtbench/wtb/sdk/tracepb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"pgregory.net/rapid"
)

// toRemote is a client's request for r, field by field from remote.proto.
func toRemote(r sdk.ExecuteRequest) *remotev1.ExecuteSegmentRequest {
	p := &remotev1.ExecuteSegmentRequest{IdempotencyKey: "key", BatchId: r.BatchID, ExecutionKey: r.ExecutionKey,
		Attempt: int32(r.Attempt), Combination: r.Combination, Variants: r.Variants, CaseId: r.Case.ID,
		CaseInputJson: r.Case.Input, CaseExpectedJson: r.Case.Expected, RepeatIndex: int32(r.RepeatIndex),
		StartStateJson: r.StartState, Environment: &remotev1.Environment{Id: r.Env.ID, Env: r.Env.Env, WorkingDir: r.Env.WorkingDir},
		ModelCalls: modelcallpb.ConfigToProto(r.ModelCalls), Recordings: modelcallpb.RecordingsToProto(r.Recordings)}
	for _, n := range r.Nodes {
		rn := &remotev1.Node{Name: n.Name, Kind: n.Kind, Command: n.Command, ParamsJson: n.Params, Env: n.Env, Variant: n.Variant,
			MaxOutputBytes: n.MaxOutputBytes, ConfigHash: n.ConfigHash, RunKey: n.RunKey}
		if n.Timeout != 0 {
			rn.Timeout = durationpb.New(n.Timeout)
		}
		if w := n.Worker; w != nil {
			rn.Worker = &remotev1.WorkerSpec{Max: int32(w.Max), MaxRequests: int32(w.MaxRequests)}
			if w.IdleTimeout != 0 {
				rn.Worker.IdleTimeout = durationpb.New(w.IdleTimeout)
			}
		}
		p.Nodes = append(p.Nodes, rn)
	}
	return p
}

// notOnRemote are the request's fields remote.v1 does not carry (see
// runner-grpc's tests).
var notOnRemote = []string{"Deadline", "Env.Labels", "ExecutionID", "Labels", "Nodes[].DependsOn", "StartCheckpointID"}

func withoutNotOnRemote(r sdk.ExecuteRequest) sdk.ExecuteRequest {
	r.ExecutionID, r.StartCheckpointID, r.Deadline, r.Labels, r.Env.Labels = "", "", time.Time{}, nil, nil
	nodes := slices.Clone(r.Nodes)
	for i := range nodes {
		nodes[i].DependsOn = nil
	}
	r.Nodes = nodes
	return r
}

// The SDK values the server's events come back as, at the client: the
// inverses of sink and finished.
func nodeResult(p *remotev1.NodeFinished) sdk.NodeResult {
	return sdk.NodeResult{Node: p.GetNode(), State: p.GetStateJson(), Output: p.GetOutputJson(), Duration: p.GetDuration().AsDuration(),
		Metrics: p.GetMetrics(), WorkerID: p.GetWorkerId(), Interactions: modelcallpb.InteractionsFromProto(p.GetInteractions()),
		Spans: tracepb.FromProto(p.GetSpans())}
}

func nodeFailure(p *remotev1.NodeFailed) sdk.NodeFailure {
	return sdk.NodeFailure{Node: p.GetNode(), Error: p.GetError(), Kind: sdk.ParseFailureKind(p.GetKind()), Retryable: p.GetRetryable(),
		ExitCode: int(p.GetExitCode()), Interactions: modelcallpb.InteractionsFromProto(p.GetInteractions()),
		Spans: tracepb.FromProto(p.GetSpans())}
}

func outcome(p *remotev1.SegmentFinished) sdk.Outcome {
	o := sdk.Outcome{Status: sdk.StatusSucceeded, FinalState: p.GetFinalStateJson(), WorkerID: p.GetWorkerId()}
	if !p.GetSucceeded() {
		o.Status, o.Error, o.FailedNode, o.Retryable = sdk.StatusFailed, p.GetError(), p.GetFailedNode(), p.GetRetryable()
		if o.FailureKind = sdk.ParseFailureKind(p.GetFailureKind()); o.FailureKind == sdk.FailureCancelled {
			o.Status = sdk.StatusCancelled
		}
	}
	return o
}

// onRemote is what an outcome can be on remote.v1: a success says nothing
// of failures, a failure's status follows its kind, and the client measures
// the duration itself.
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

// events runs f against a new segment's sink and returns what it recorded.
func events(f func(sink)) []*remotev1.ExecuteSegmentResponse {
	seg := &segment{changed: make(chan struct{})}
	f(sink{seg})
	return seg.events
}

func overWire[M proto.Message](t interface{ Fatalf(string, ...any) }, m M) M {
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	back := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(raw, back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return back
}

func anyOf[T any](g *rapid.Generator[T]) *rapid.Generator[any] {
	return rapid.Map(g, func(v T) any { return v })
}

// sdkValues draws what remote.v1 can carry: ints within int32, durations not
// negative, times within a Timestamp's range, enums among their values.
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
	reflect.TypeOf(sdk.LogStream(0)):   anyOf(rapid.SampledFrom([]sdk.LogStream{sdk.LogStderr, sdk.LogRunner})),
}}

func TestRoundTrips(t *testing.T) {
	t.Run("ExecuteSegmentRequest", func(t *testing.T) {
		gen := rapid.MakeCustom[sdk.ExecuteRequest](sdkValues)
		rapid.Check(t, func(t *rapid.T) {
			want := withoutNotOnRemote(gen.Draw(t, "request"))
			if d := prototest.Compare(want, *executeRequest(overWire(t, toRemote(want)))); d != "" {
				t.Fatalf("changed on the wire: %s", d)
			}
		})
	})
	t.Run("events", func(t *testing.T) {
		results, failures := rapid.MakeCustom[sdk.NodeResult](sdkValues), rapid.MakeCustom[sdk.NodeFailure](sdkValues)
		outcomes := rapid.MakeCustom[sdk.Outcome](sdkValues)
		rapid.Check(t, func(t *rapid.T) {
			res, fail, out := results.Draw(t, "result"), failures.Draw(t, "failure"), onRemote(outcomes.Draw(t, "outcome"))
			fail.Duration = 0 // remote.v1 does not say how long a failed node ran
			node, worker, line := rapid.String().Draw(t, "node"), rapid.String().Draw(t, "worker"), rapid.String().Draw(t, "line")
			evs := events(func(k sink) {
				k.NodeStarted(node, worker)
				k.Log(node, sdk.LogStderr, line)
				k.NodeFinished(res)
				k.NodeFailed(fail)
				k.seg.add(finished(out))
			})
			if len(evs) != 5 {
				t.Fatalf("%d events", len(evs))
			}
			for i, ev := range evs {
				if ev.GetSeq() != uint64(i+1) {
					t.Fatalf("event %d has seq %d", i, ev.GetSeq())
				}
				evs[i] = overWire(t, ev)
			}
			if s := evs[0].GetNodeStarted(); s.GetNode() != node || s.GetWorkerId() != worker {
				t.Fatalf("node started %v", s)
			}
			if l := evs[1].GetLog(); l.GetNode() != node || l.GetLine() != line {
				t.Fatalf("log %v", l)
			}
			if d := prototest.Compare(res, nodeResult(evs[2].GetNodeFinished())); d != "" {
				t.Fatalf("node result changed on the wire: %s", d)
			}
			if d := prototest.Compare(fail, nodeFailure(evs[3].GetNodeFailed())); d != "" {
				t.Fatalf("node failure changed on the wire: %s", d)
			}
			if d := prototest.Compare(out, outcome(evs[4].GetSegmentFinished())); d != "" {
				t.Fatalf("outcome changed on the wire: %s", d)
			}
		})
	})
}

func full[T any]() T {
	return prototest.Full[T](map[reflect.Type]any{reflect.TypeOf(sdk.FailureKind(0)): sdk.FailureTimeout,
		reflect.TypeOf(sdk.Status(0)): sdk.StatusFailed, reflect.TypeOf(sdk.LogStream(0)): sdk.LogStderr})
}

// Every field of remote.v1's ExecuteSegmentRequest (and Node, WorkerSpec,
// Environment) reaches the SDK request, and every field of the SDK request
// that remote.v1 carries is read.
func TestEveryRequestFieldIsMapped(t *testing.T) {
	var filled remotev1.ExecuteSegmentRequest
	prototest.Fill(&filled, nil)
	// The idempotency key names the segment to the server (a client that
	// reconnects attaches to it); the execution does not see it.
	if d := prototest.Diff(&filled, toRemote(*executeRequest(&filled))); !slices.Equal(d, []string{"idempotency_key"}) {
		t.Errorf("fields not carried to the SDK request: %v", d)
	}
	got := executeRequest(toRemote(full[sdk.ExecuteRequest]()))
	if z := prototest.Zero(got); !slices.Equal(z, notOnRemote) {
		t.Errorf("unset in the SDK request: %v; want only what remote.v1 does not carry, %v", z, notOnRemote)
	}
}

// Every field of the events the server streams (NodeStarted, LogLine,
// NodeFinished, NodeFailed, SegmentFinished) is set from the SDK's, and
// every field the SDK's have that remote.v1 carries is sent.
func TestEveryEventFieldIsMapped(t *testing.T) {
	res, fail := full[sdk.NodeResult](), full[sdk.NodeFailure]()
	failed, succeeded := full[sdk.Outcome](), full[sdk.Outcome]()
	succeeded.Status = sdk.StatusSucceeded
	evs := events(func(k sink) {
		k.NodeStarted("n", "w")
		k.Log("n", sdk.LogStderr, "line")
		k.NodeFinished(res)
		k.NodeFailed(fail)
	})
	for _, ev := range evs {
		var m proto.Message
		switch e := ev.GetEvent().(type) {
		case *remotev1.ExecuteSegmentResponse_NodeStarted:
			m = e.NodeStarted
		case *remotev1.ExecuteSegmentResponse_Log:
			m = e.Log
		case *remotev1.ExecuteSegmentResponse_NodeFinished:
			m = e.NodeFinished
		case *remotev1.ExecuteSegmentResponse_NodeFailed:
			m = e.NodeFailed
		}
		if u := prototest.Unset(m); u != nil {
			t.Errorf("%T: no SDK field sets %v", m, u)
		}
	}
	if d := prototest.Compare(res, nodeResult(evs[2].GetNodeFinished())); d != "" {
		t.Errorf("node result: %s", d)
	}
	fail.Duration = 0
	if d := prototest.Compare(fail, nodeFailure(evs[3].GetNodeFailed())); d != "" {
		t.Errorf("node failure: %s", d)
	}
	// A segment's end: a failure sets all but succeeded, a success that.
	f, s := finished(failed).GetSegmentFinished(), finished(succeeded).GetSegmentFinished()
	if u := prototest.Unset(f); !slices.Equal(u, []string{"succeeded"}) || !s.GetSucceeded() {
		t.Errorf("SegmentFinished: no SDK field sets %v (a success sets succeeded: %v)", u, s.GetSucceeded())
	}
	if d := prototest.Compare(onRemote(failed), outcome(f)); d != "" {
		t.Errorf("outcome: %s", d)
	}
	// And the other way: every field of every event, filled, comes back.
	var nf remotev1.NodeFinished
	var nfail remotev1.NodeFailed
	var sf remotev1.SegmentFinished
	prototest.Fill(&nf, nil)
	prototest.Fill(&nfail, map[string]any{"kind": "timeout"})
	prototest.Fill(&sf, map[string]any{"succeeded": false, "failure_kind": "exit"})
	back := events(func(k sink) {
		k.NodeFinished(nodeResult(&nf))
		k.NodeFailed(nodeFailure(&nfail))
	})
	for i, sent := range []proto.Message{&nf, &nfail} {
		var got proto.Message = back[i].GetNodeFinished()
		if i == 1 {
			got = back[i].GetNodeFailed()
		}
		if d := prototest.Diff(sent, got); d != nil {
			t.Errorf("%T: fields not carried through the SDK's events: %v", sent, d)
		}
	}
	if d := prototest.Diff(&sf, finished(outcome(&sf)).GetSegmentFinished()); d != nil {
		t.Errorf("SegmentFinished: fields not carried through the SDK outcome: %v", d)
	}
}
