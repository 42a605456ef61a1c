package prototest

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	modelcallv1 "github.com/wtbench/wtb/proto/wtb/modelcall/v1"
	remotev1 "github.com/wtbench/wtb/proto/wtb/remote/v1"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"google.golang.org/protobuf/proto"
)

// Fill leaves nothing unset, in any message of the contract, and what it
// fills survives the wire.
func TestFillSetsEveryField(t *testing.T) {
	for _, m := range []proto.Message{&runnerv1.ExecuteRequest{}, &runnerv1.NodeFinished{}, &runnerv1.NodeFailed{},
		&runnerv1.ExecutionFinished{}, &modelcallv1.Config{}, &modelcallv1.Recordings{}, &remotev1.ExecuteSegmentRequest{},
		&remotev1.SegmentFinished{}} {
		Fill(m, nil)
		if u := Unset(m); u != nil {
			t.Errorf("%T: unset after Fill: %v", m, u)
		}
		raw, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(raw, back); err != nil {
			t.Fatal(err)
		}
		if d := Diff(m, back); d != nil || !proto.Equal(m, back) {
			t.Errorf("%T: differs after the wire: %v", m, d)
		}
	}
}

// Unset and Diff name fields by path, list and map elements included.
func TestUnsetAndDiffNameFields(t *testing.T) {
	var req runnerv1.ExecuteRequest
	Fill(&req, map[string]any{"attempt": 7, "nodes[].kind": "command"})
	if req.Attempt != 7 || req.Nodes[1].Kind != "command" || req.Nodes[0].Name == req.Nodes[1].Name {
		t.Errorf("overrides or distinct values: attempt %d, kind %q, names %q %q", req.Attempt, req.Nodes[1].Kind, req.Nodes[0].Name, req.Nodes[1].Name)
	}
	other := proto.Clone(&req).(*runnerv1.ExecuteRequest)
	other.Nodes[1].Timeout = nil
	other.BatchId = ""
	other.Recordings[0].Interactions[1].Chunks[0].Offset.Seconds = 99999
	other.ModelCalls.Upstreams[0].Name = "changed"
	want := []string{"batch_id", "model_calls.upstreams[].name", "nodes[].timeout", "recordings[].interactions[].chunks[].offset.seconds"}
	if got := Diff(&req, other); !slices.Equal(got, want) {
		t.Errorf("Diff = %v; want %v", got, want)
	}
	if got := Unset(other); !slices.Equal(got, []string{"batch_id", "nodes[].timeout"}) {
		t.Errorf("Unset = %v", got)
	}
	if Diff(&req, &req) != nil {
		t.Error("a message differs from itself")
	}
}

type inner struct {
	Name  string
	Count int
}

type sample struct {
	S     string
	N     int32
	D     time.Duration
	T     time.Time
	B     bool
	F     float64
	Raw   json.RawMessage
	List  []inner
	Map   map[string]float64
	Ptr   *inner
	Kind  kind
	inner // unexported: left alone
}

type kind int

// Full sets every exported field, with distinct values; Zero finds what a
// value leaves at zero; Compare says where two values differ.
func TestFullZeroCompare(t *testing.T) {
	v := Full[sample](map[reflect.Type]any{})
	if z := Zero(v); z != nil {
		t.Errorf("Full left %v at zero", z)
	}
	if v.List[0].Name == v.List[1].Name || v.Kind == 0 || v.D%time.Second == 0 || !json.Valid(v.Raw) {
		t.Errorf("%+v", v)
	}
	w := Full[sample](map[reflect.Type]any{reflect.TypeOf(kind(0)): kind(3)})
	if w.Kind != 3 {
		t.Errorf("with: kind %d", w.Kind)
	}
	if d := Compare(v, v); d != "" {
		t.Errorf("a value differs from itself: %s", d)
	}
	u := v
	u.List = []inner{v.List[0], {Name: v.List[1].Name}}
	u.Map = nil
	if d := Compare(v, u); !strings.Contains(d, "List[1].Count") {
		t.Errorf("Compare = %q", d)
	}
	var a, b sample
	a.Map, b.List = map[string]float64{}, []inner{}
	a.T, b.T = time.Unix(5, 0), time.Unix(5, 0).UTC()
	if d := Compare(a, b); d != "" {
		t.Errorf("empty and nil, or one instant in two zones, differ: %s", d)
	}
	if z := Zero(a); !slices.Contains(z, "Ptr") || !slices.Contains(z, "Map") || slices.Contains(z, "T") {
		t.Errorf("Zero = %v", z)
	}
}
