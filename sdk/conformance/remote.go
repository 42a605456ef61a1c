package conformance

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	remotev1 "github.com/wtbench/wtb/proto/wtb/remote/v1"
	"github.com/wtbench/wtb/sdk"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Remote describes an external execution environment service under test
// (proto/wtb/remote/v1), in any language, reachable at Address.
type Remote struct {
	Address string
	// Token is sent as "authorization: Bearer <token>"; when set, the kit also
	// checks a wrong token is refused.
	Token string
	// TLS, when set, is used to connect.
	TLS *tls.Config
	// Environments says the service implements EnvironmentService too.
	Environments bool
	// LargeStateBytes is the size of the state in the large-state check
	// (default 8 MiB).
	LargeStateBytes int
}

// RunRemote checks a remote service against the wtb.remote.v1 contract:
// GetInfo, event order and sequence numbers, starting from a state,
// idempotency (the same key never runs twice), a large state, credentials,
// and environments.
func RunRemote(t *testing.T, target Remote) {
	t.Helper()
	if target.LargeStateBytes == 0 {
		target.LargeStateBytes = 8 << 20
	}
	creds := insecure.NewCredentials()
	if target.TLS != nil {
		creds = credentials.NewTLS(target.TLS)
	}
	conn, err := grpc.NewClient(target.Address, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(sdk.MaxMessageBytes), grpc.MaxCallSendMsgSize(sdk.MaxMessageBytes)))
	if err != nil {
		t.Fatalf("dialing %s: %v", target.Address, err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &remoteHarness{target: target, exec: remotev1.NewExecutionServiceClient(conn), env: remotev1.NewEnvironmentServiceClient(conn)}
	t.Run("get_info", r.getInfo)
	t.Run("segment_events", r.segmentEvents)
	t.Run("start_state", r.startState)
	t.Run("idempotent_replay", r.idempotent)
	t.Run("large_state", r.largeState)
	t.Run("credentials", r.credentials)
	t.Run("environments", r.environments)
}

type remoteHarness struct {
	target Remote
	exec   remotev1.ExecutionServiceClient
	env    remotev1.EnvironmentServiceClient
}

func (r *remoteHarness) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	if r.target.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+r.target.Token)
	}
	return ctx
}

func mergeNode(name, key, value string) *remotev1.Node {
	p, _ := json.Marshal(map[string]string{key: value})
	return &remotev1.Node{Name: name, Kind: "merge", ParamsJson: p}
}

func (r *remoteHarness) getInfo(t *testing.T) {
	info, err := r.exec.GetInfo(r.ctx(t), &remotev1.GetInfoRequest{})
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	if info.GetName() == "" || len(info.GetNodeKinds()) == 0 {
		t.Errorf("GetInfo should name the service and its node kinds: %+v", info)
	}
}

// collect runs a segment and returns its events.
func (r *remoteHarness) collect(t *testing.T, req *remotev1.ExecuteSegmentRequest) []*remotev1.ExecuteSegmentResponse {
	t.Helper()
	st, err := r.exec.ExecuteSegment(r.ctx(t), req)
	if err != nil {
		t.Fatalf("ExecuteSegment: %v", err)
	}
	var out []*remotev1.ExecuteSegmentResponse
	for {
		ev, err := st.Recv()
		if err != nil {
			if len(out) > 0 && out[len(out)-1].GetSegmentFinished() != nil {
				return out
			}
			t.Fatalf("stream ended without SegmentFinished: %v", err)
		}
		out = append(out, ev)
	}
}

func newKey(name string) string { return fmt.Sprintf("conformance/%s/%d", name, time.Now().UnixNano()) }

func (r *remoteHarness) segmentEvents(t *testing.T) {
	evs := r.collect(t, &remotev1.ExecuteSegmentRequest{IdempotencyKey: newKey("events"), BatchId: "conformance",
		ExecutionKey: "k", Attempt: 1, CaseId: "c", StartStateJson: []byte(`{"q":1}`),
		Nodes: []*remotev1.Node{mergeNode("a", "a", "1"), mergeNode("b", "b", "2")}})
	var order []string
	for i, ev := range evs {
		if ev.GetSeq() != uint64(i+1) {
			t.Errorf("event %d has seq %d; want 1, 2, 3, ...", i, ev.GetSeq())
		}
		switch e := ev.GetEvent().(type) {
		case *remotev1.ExecuteSegmentResponse_NodeStarted:
			order = append(order, "start:"+e.NodeStarted.GetNode())
		case *remotev1.ExecuteSegmentResponse_NodeFinished:
			order = append(order, "finish:"+e.NodeFinished.GetNode())
		case *remotev1.ExecuteSegmentResponse_SegmentFinished:
			order = append(order, "done")
			var state map[string]any
			_ = json.Unmarshal(e.SegmentFinished.GetFinalStateJson(), &state)
			if !e.SegmentFinished.GetSucceeded() || state["a"] != "1" || state["b"] != "2" || state["q"] == nil {
				t.Errorf("segment result: %+v (state %v)", e.SegmentFinished, state)
			}
		}
	}
	if got := strings.Join(order, " "); got != "start:a finish:a start:b finish:b done" {
		t.Errorf("event order %q", got)
	}
}

func (r *remoteHarness) startState(t *testing.T) {
	evs := r.collect(t, &remotev1.ExecuteSegmentRequest{IdempotencyKey: newKey("start"), ExecutionKey: "k", Attempt: 1,
		StartStateJson: []byte(`{"from":"checkpoint"}`), Nodes: []*remotev1.Node{mergeNode("b", "b", "2")}})
	var state map[string]any
	_ = json.Unmarshal(evs[len(evs)-1].GetSegmentFinished().GetFinalStateJson(), &state)
	if state["from"] != "checkpoint" || state["b"] != "2" {
		t.Errorf("final state %v: want the start state with b merged in", state)
	}
}

func (r *remoteHarness) idempotent(t *testing.T) {
	req := &remotev1.ExecuteSegmentRequest{IdempotencyKey: newKey("idem"), ExecutionKey: "k", Attempt: 1,
		StartStateJson: []byte(`{}`), Nodes: []*remotev1.Node{mergeNode("a", "a", "1")}}
	first := r.collect(t, req)
	second := r.collect(t, req)
	if len(first) != len(second) {
		t.Fatalf("a repeated call with the same key gave %d events, the first %d", len(second), len(first))
	}
	for i := range first {
		a, b := first[i].GetNodeFinished(), second[i].GetNodeFinished()
		if a != nil && (b == nil || a.GetDuration().AsDuration() != b.GetDuration().AsDuration()) {
			t.Errorf("event %d differs on replay: the segment seems to have run twice", i)
		}
	}
}

func (r *remoteHarness) largeState(t *testing.T) {
	big, _ := json.Marshal(map[string]string{"big": strings.Repeat("x", r.target.LargeStateBytes)})
	evs := r.collect(t, &remotev1.ExecuteSegmentRequest{IdempotencyKey: newKey("large"), ExecutionKey: "k", Attempt: 1,
		StartStateJson: big, Nodes: []*remotev1.Node{mergeNode("a", "a", "1")}})
	f := evs[len(evs)-1].GetSegmentFinished()
	if !f.GetSucceeded() || len(f.GetFinalStateJson()) < r.target.LargeStateBytes {
		t.Errorf("a %d-byte state did not survive: %s", r.target.LargeStateBytes, f.GetError())
	}
}

func (r *remoteHarness) credentials(t *testing.T) {
	if r.target.Token == "" {
		t.Skip("no token given")
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer wrong-"+r.target.Token)
	_, err := r.exec.GetInfo(ctx, &remotev1.GetInfoRequest{})
	if c := status.Code(err); c != codes.PermissionDenied && c != codes.Unauthenticated {
		t.Errorf("a wrong token got %v; want PERMISSION_DENIED or UNAUTHENTICATED", err)
	}
}

func (r *remoteHarness) environments(t *testing.T) {
	if !r.target.Environments {
		t.Skip("the service does not provide environments")
	}
	ctx := r.ctx(t)
	req := &remotev1.CreateEnvironmentRequest{BatchId: "conformance", VariantId: newKey("env"), ConfigJson: []byte(`{"env":{"A":"1"}}`)}
	a, err := r.env.CreateEnvironment(ctx, req)
	if err != nil {
		t.Fatalf("CreateEnvironment: %v", err)
	}
	b, err := r.env.CreateEnvironment(ctx, req)
	if err != nil || b.GetEnvironment().GetId() != a.GetEnvironment().GetId() {
		t.Errorf("CreateEnvironment is not idempotent: %v / %v (%v)", a.GetEnvironment(), b.GetEnvironment(), err)
	}
	if a.GetEnvironment().GetEnv()["A"] != "1" {
		t.Errorf("the variant's env is not in the environment: %v", a.GetEnvironment().GetEnv())
	}
	got, err := r.env.GetEnvironment(ctx, &remotev1.GetEnvironmentRequest{EnvironmentId: a.GetEnvironment().GetId()})
	if err != nil || !got.GetFound() {
		t.Errorf("GetEnvironment after create: %v %v", got, err)
	}
	if _, err := r.env.CleanupEnvironment(ctx, &remotev1.CleanupEnvironmentRequest{EnvironmentId: a.GetEnvironment().GetId()}); err != nil {
		t.Errorf("CleanupEnvironment: %v", err)
	}
	got, err = r.env.GetEnvironment(ctx, &remotev1.GetEnvironmentRequest{EnvironmentId: a.GetEnvironment().GetId()})
	if err != nil || got.GetFound() {
		t.Errorf("the environment is still there after cleanup: %v %v", got, err)
	}
	if _, err := r.env.CleanupEnvironment(ctx, &remotev1.CleanupEnvironmentRequest{EnvironmentId: "never-created"}); err != nil {
		t.Errorf("cleaning up an unknown environment must succeed: %v", err)
	}
}
