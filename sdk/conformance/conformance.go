// Package conformance checks a WTB runner plugin binary against the v1 contract.
// A plugin author calls it from `go test` with the path of their built binary:
//
//	func TestConformance(t *testing.T) {
//		conformance.RunRunner(t, conformance.Runner{Binary: "./bin/wtb-runner-mine"})
//	}
//
// It launches the binary through go-plugin exactly as the wtb host does and
// checks the handshake, GetInfo, configuration diagnostics, a simple execution
// with correct event order and ids, cancellation, concurrent executions, a state
// larger than gRPC's default message limit, and a clean exit.
package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Runner describes the runner under test.
type Runner struct {
	// Binary is the path of the built plugin.
	Binary string
	// Config is a valid configuration block as JSON ({} when empty).
	Config json.RawMessage
	// InvalidConfig, when set, must be rejected with an error diagnostic whose
	// attribute path is InvalidPath.
	InvalidConfig json.RawMessage
	InvalidPath   []string
	// Node builds a quick node that sets key to value in the state. Defaults to
	// the built-in "merge" kind.
	Node func(name, key, value string) *runnerv1.Node
	// SlowNode builds a node that runs until cancelled. Defaults to a command
	// node running `sleep 60`.
	SlowNode func(name string) *runnerv1.Node
	// Concurrency is how many executions the concurrency check runs at once
	// (default 32; capped by the runner's capacity).
	Concurrency int
	// LargeStateBytes is the size of the state in the large-state check
	// (default 8 MiB, beyond gRPC's 4 MiB default).
	LargeStateBytes int
}

func (r *Runner) defaults() {
	if len(r.Config) == 0 {
		r.Config = json.RawMessage("{}")
	}
	if r.Node == nil {
		r.Node = func(name, key, value string) *runnerv1.Node {
			params, _ := json.Marshal(map[string]string{key: value})
			return &runnerv1.Node{Name: name, Kind: "merge", ParamsJson: params}
		}
	}
	if r.SlowNode == nil {
		r.SlowNode = func(name string) *runnerv1.Node {
			return &runnerv1.Node{Name: name, Kind: "command", Command: []string{"sleep", "60"}}
		}
	}
	if r.Concurrency == 0 {
		r.Concurrency = 32
	}
	if r.LargeStateBytes == 0 {
		r.LargeStateBytes = 8 << 20
	}
}

// RunRunner runs every check as a subtest.
func RunRunner(t *testing.T, target Runner) {
	t.Helper()
	target.defaults()
	h := &harness{t: t, target: target}
	t.Run("handshake_and_info", h.handshakeAndInfo)
	t.Run("config_diagnostics", h.configDiagnostics)
	t.Run("simple_execution", h.simpleExecution)
	t.Run("start_state", h.startState)
	t.Run("cancel", h.cancel)
	t.Run("concurrent_executions", h.concurrent)
	t.Run("large_state", h.largeState)
	t.Run("clean_exit", h.cleanExit)
}

type harness struct {
	t      *testing.T
	target Runner
}

func (h *harness) launch(t *testing.T) *client.Plugin {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	p, err := client.Launch(client.LaunchConfig{Name: "plugin-under-test", Path: h.target.Binary, Kind: client.KindRunner,
		StartTimeout: 20 * time.Second, Logger: hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Warn})})
	if err != nil {
		t.Fatalf("launching %s: %v", h.target.Binary, err)
	}
	t.Cleanup(p.Kill)
	return p
}

// configured launches the plugin, configures it and opens a session.
func (h *harness) configured(t *testing.T) (*client.Plugin, *client.Session, int) {
	t.Helper()
	p := h.launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := p.Runner().Configure(ctx, &runnerv1.ConfigureRequest{ConfigJson: h.target.Config})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if diags := sdk.DiagnosticsFromProto(resp.GetDiagnostics()); diags.HasErrors() {
		t.Fatalf("Configure rejected the valid config %s: %v", h.target.Config, diags)
	}
	s, err := client.OpenSession(context.Background(), p.Runner(), nil)
	if err != nil {
		t.Fatalf("opening a session: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return p, s, int(resp.GetMaxConcurrency())
}

func (h *harness) handshakeAndInfo(t *testing.T) {
	p := h.launch(t)
	if p.Version != sdk.ProtocolVersion {
		t.Errorf("negotiated protocol %d, want %d", p.Version, sdk.ProtocolVersion)
	}
	info, err := p.Runner().GetInfo(context.Background(), &runnerv1.GetInfoRequest{})
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	i := info.GetInfo()
	if i.GetName() == "" || i.GetVersion() == "" {
		t.Errorf("GetInfo must name the plugin and its version, got name=%q version=%q", i.GetName(), i.GetVersion())
	}
	found := false
	for _, v := range i.GetProtocolVersions() {
		found = found || v == sdk.ProtocolVersion
	}
	if !found {
		t.Errorf("GetInfo protocol_versions %v does not include %d", i.GetProtocolVersions(), sdk.ProtocolVersion)
	}
	for _, a := range i.GetConfigSchema().GetAttributes() {
		if a.GetName() == "" || a.GetType() == "" {
			t.Errorf("schema attribute %+v needs a name and a type", a)
		}
		if d := a.GetDefaultJson(); len(d) > 0 && !json.Valid(d) {
			t.Errorf("schema attribute %q has a default that is not JSON: %q", a.GetName(), d)
		}
	}
	if len(info.GetNodeKinds()) == 0 {
		t.Errorf("GetInfo lists no node kinds")
	}
}

func (h *harness) configDiagnostics(t *testing.T) {
	if len(h.target.InvalidConfig) == 0 {
		t.Skip("no InvalidConfig given")
	}
	p := h.launch(t)
	resp, err := p.Runner().Configure(context.Background(), &runnerv1.ConfigureRequest{ConfigJson: h.target.InvalidConfig})
	if err != nil {
		t.Fatalf("Configure must report bad configuration as diagnostics, not as an RPC error: %v", err)
	}
	diags := sdk.DiagnosticsFromProto(resp.GetDiagnostics())
	if !diags.HasErrors() {
		t.Fatalf("Configure accepted the invalid config %s", h.target.InvalidConfig)
	}
	want := strings.Join(h.target.InvalidPath, ".")
	for _, d := range diags {
		if strings.Join(d.Path, ".") == want {
			return
		}
	}
	t.Errorf("no diagnostic points at %q: %v", want, diags)
}

func (h *harness) request(id string, nodes ...*runnerv1.Node) *runnerv1.ExecuteRequest {
	return &runnerv1.ExecuteRequest{ExecutionId: id, ExecutionKey: "conformance/" + id, Attempt: 1,
		BatchId: "conformance", Combination: "default", Case: &runnerv1.Case{Id: "c1", InputJson: []byte(`{"q":"hello"}`)},
		Nodes: nodes, StartStateJson: []byte(`{"q":"hello"}`)}
}

func (h *harness) simpleExecution(t *testing.T) {
	_, s, _ := h.configured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := h.request("simple-1", h.target.Node("first", "a", "1"), h.target.Node("second", "b", "2"))
	events, fin, err := s.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if fin.GetStatus() != runnerv1.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED {
		t.Fatalf("execution %v: %s", fin.GetStatus(), fin.GetError())
	}
	checkEventOrder(t, events, []string{"first", "second"})
	var state map[string]any
	if err := json.Unmarshal(finalState(events, fin), &state); err != nil {
		t.Fatalf("final state is not a JSON object: %v", err)
	}
	if state["q"] != "hello" || state["a"] != "1" || state["b"] != "2" {
		t.Errorf("final state %v: want the start state with a=1 and b=2 merged in", state)
	}
}

// checkEventOrder checks ids, sequence numbers and the started → finished order.
func checkEventOrder(t *testing.T, events []*runnerv1.Event, nodes []string) {
	t.Helper()
	var got []string
	for i, ev := range events {
		if ev.GetSeq() != uint64(i+1) {
			t.Errorf("event %d has seq %d; want 1, 2, 3, ... per execution", i, ev.GetSeq())
		}
		if ev.GetExecutionId() != events[0].GetExecutionId() {
			t.Errorf("event %d carries execution id %q, want %q", i, ev.GetExecutionId(), events[0].GetExecutionId())
		}
		switch p := ev.GetPayload().(type) {
		case *runnerv1.Event_NodeStarted:
			got = append(got, "start:"+p.NodeStarted.GetNode())
		case *runnerv1.Event_NodeFinished:
			got = append(got, "finish:"+p.NodeFinished.GetNode())
			if !json.Valid(p.NodeFinished.GetStateJson()) {
				t.Errorf("node %s: checkpoint state is not JSON", p.NodeFinished.GetNode())
			}
		case *runnerv1.Event_ExecutionFinished:
			got = append(got, "done")
			if i != len(events)-1 {
				t.Errorf("ExecutionFinished is event %d of %d; it must be last", i+1, len(events))
			}
		}
	}
	var want []string
	for _, n := range nodes {
		want = append(want, "start:"+n, "finish:"+n)
	}
	want = append(want, "done")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("event order:\n got  %v\n want %v", got, want)
	}
}

func (h *harness) startState(t *testing.T) {
	_, s, _ := h.configured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := h.request("resume-1", h.target.Node("second", "b", "2"))
	req.StartStateJson = []byte(`{"q":"hello","a":"from-checkpoint"}`)
	req.StartCheckpointId = "checkpoint-1"
	events, fin, err := s.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	_ = json.Unmarshal(finalState(events, fin), &state)
	if state["a"] != "from-checkpoint" || state["b"] != "2" {
		t.Errorf("execution from a checkpoint: final state %v, want a=from-checkpoint b=2", state)
	}
}

func (h *harness) cancel(t *testing.T) {
	_, s, _ := h.configured(t)
	req := h.request("cancel-1", h.target.SlowNode("slow"))
	req.Nodes[0].Timeout = durationpb.New(2 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, fin, err := s.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cancel took %s; a runner must stop promptly", took)
	}
	if fin.GetStatus() != runnerv1.ExecutionStatus_EXECUTION_STATUS_CANCELLED {
		t.Errorf("cancelled execution reported %v (%s), want CANCELLED", fin.GetStatus(), fin.GetError())
	}
}

func (h *harness) concurrent(t *testing.T) {
	_, s, capacity := h.configured(t)
	n := h.target.Concurrency
	if capacity > 0 && capacity < n {
		n = capacity
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("concurrent-%d", i)
			events, fin, err := s.Run(ctx, h.request(id, h.target.Node("only", "i", fmt.Sprint(i))))
			if err != nil {
				errs <- err
				return
			}
			var state map[string]any
			_ = json.Unmarshal(finalState(events, fin), &state)
			if fin.GetStatus() != runnerv1.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED || state["i"] != fmt.Sprint(i) {
				errs <- fmt.Errorf("%s: status %v, state %v, error %s", id, fin.GetStatus(), state, fin.GetError())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func (h *harness) largeState(t *testing.T) {
	_, s, _ := h.configured(t)
	big := strings.Repeat("x", h.target.LargeStateBytes)
	start, _ := json.Marshal(map[string]string{"big": big})
	req := h.request("large-1", h.target.Node("after", "small", "y"))
	req.StartStateJson = start
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events, fin, err := s.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if fin.GetStatus() != runnerv1.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED {
		t.Fatalf("large state: %v %s", fin.GetStatus(), fin.GetError())
	}
	var state map[string]string
	if err := json.Unmarshal(finalState(events, fin), &state); err != nil || len(state["big"]) != len(big) || state["small"] != "y" {
		t.Errorf("large state did not survive the round trip (err %v, big %d bytes)", err, len(state["big"]))
	}
	checkEventOrder(t, events, []string{"after"})
}

func (h *harness) cleanExit(t *testing.T) {
	p, s, _ := h.configured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("closing the session: %v", err)
	}
	_, _ = p.Runner().Shutdown(ctx, &runnerv1.ShutdownRequest{})
	start := time.Now()
	p.Kill()
	if !p.Exited() {
		t.Errorf("plugin still running after Kill")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("plugin took %s to exit; it should exit within 2 s of a shutdown", took)
	}
}

// testWriter sends the plugin's log to the test log until the test ends (a log
// line after that would make the testing package panic).
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// finalState is an execution's final state: ExecutionFinished carries it, or
// leaves it out when it is the state of the last NodeFinished event.
func finalState(events []*runnerv1.Event, fin *runnerv1.ExecutionFinished) []byte {
	if len(fin.GetFinalStateJson()) > 0 {
		return fin.GetFinalStateJson()
	}
	for i := len(events) - 1; i >= 0; i-- {
		if nf := events[i].GetNodeFinished(); nf != nil {
			return nf.GetStateJson()
		}
	}
	return nil
}
