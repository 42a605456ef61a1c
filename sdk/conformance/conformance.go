// Package conformance checks WTB plugin binaries against the v1 contract. A
// plugin author calls it from `go test` with the path of their built binary:
//
//	func TestConformance(t *testing.T) {
//		conformance.RunRunner(t, conformance.Runner{Binary: "./bin/wtb-runner-mine"})
//	}
//
// It launches the binary through go-plugin exactly as the wtb host does, sends
// it its configuration with the schema's defaults filled in as the host does,
// and checks the handshake, the info, configuration diagnostics, a simple
// execution with correct event order and numbering, a start from a checkpoint,
// cancellation, concurrent executions, a state larger than gRPC's default
// message limit, and a clean exit. RunEnvironment does the same for an
// environment provider; RunRemote checks an external service of the
// wtb.remote.v1 contract. Everything is in the SDK's Go types.
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
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/client"
)

// Runner describes the runner under test.
type Runner struct {
	// Binary is the path of the built plugin.
	Binary string
	// Config is a valid configuration block as JSON ({} when empty); the
	// schema's defaults are filled in before it is sent.
	Config json.RawMessage
	// InvalidConfig, when set, must be rejected with an error diagnostic whose
	// attribute path is InvalidPath.
	InvalidConfig json.RawMessage
	InvalidPath   []string
	// Node builds a quick node that sets key to value in the state. Defaults to
	// the built-in "merge" kind.
	Node func(name, key, value string) sdk.Node
	// SlowNode builds a node that runs until cancelled. Defaults to a command
	// node running `sleep 60`.
	SlowNode func(name string) sdk.Node
	// Concurrency is how many executions the concurrency check runs at once
	// (default 32; capped by the runner's capacity).
	Concurrency int
	// LargeStateBytes is the size of the state in the large-state check
	// (default 8 MiB, beyond gRPC's 4 MiB default).
	LargeStateBytes int
}

// MergeNode is the default quick node: the built-in "merge" kind setting key.
func MergeNode(name, key, value string) sdk.Node {
	params, _ := json.Marshal(map[string]string{key: value})
	return sdk.Node{Name: name, Kind: "merge", Params: params}
}

func (r *Runner) defaults() {
	if len(r.Config) == 0 {
		r.Config = json.RawMessage("{}")
	}
	if r.Node == nil {
		r.Node = MergeNode
	}
	if r.SlowNode == nil {
		r.SlowNode = func(name string) sdk.Node {
			return sdk.Node{Name: name, Kind: "command", Command: []string{"sleep", "60"}}
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
	// A batch id of its own per run: a runner that keys work by batch and
	// execution key (Temporal's workflow ids, a remote service's idempotency
	// keys) must run the checks, not read back a previous run's results.
	h := &harness{t: t, target: target, batch: fmt.Sprintf("conformance-%d", time.Now().UnixNano())}
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
	batch  string
}

// launch starts a plugin binary as the host does.
func launch(t *testing.T, binary string, kind client.Kind) *client.Plugin {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	p, err := client.Launch(client.LaunchConfig{Name: "plugin-under-test", Path: binary, Kind: kind,
		StartTimeout: 20 * time.Second, Logger: hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Warn})})
	if err != nil {
		t.Fatalf("launching %s: %v", binary, err)
	}
	t.Cleanup(p.Kill)
	return p
}

// withDefaults fills in the schema's defaults the way the host does.
func withDefaults(t *testing.T, info sdk.Info, config json.RawMessage) json.RawMessage {
	t.Helper()
	out, err := info.Schema.WithDefaults(config)
	if err != nil {
		t.Fatalf("applying the schema's defaults to %s: %v", config, err)
	}
	return out
}

// configured launches the plugin, configures it and opens a session.
func (h *harness) configured(t *testing.T) (*client.Plugin, *client.Session, int) {
	t.Helper()
	p := launch(t, h.target.Binary, client.KindRunner)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, _, err := p.Runner().Info(ctx)
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	capacity, diags, err := p.Runner().Configure(ctx, withDefaults(t, info, h.target.Config), "conformance")
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if diags.HasErrors() {
		t.Fatalf("Configure rejected the valid config %s: %v", h.target.Config, diags)
	}
	s, err := p.Runner().OpenSession(context.Background(), nil)
	if err != nil {
		t.Fatalf("opening a session: %v", err)
	}
	s.ReportViolations(func(err error) { t.Errorf("contract violation: %v", err) })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return p, s, capacity
}

func (h *harness) handshakeAndInfo(t *testing.T) {
	p := launch(t, h.target.Binary, client.KindRunner)
	if p.Version != sdk.ProtocolVersion {
		t.Errorf("negotiated protocol %d, want %d", p.Version, sdk.ProtocolVersion)
	}
	info, kinds, err := p.Runner().Info(context.Background())
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	checkInfo(t, info)
	if len(kinds) == 0 {
		t.Errorf("GetInfo lists no node kinds")
	}
}

// checkInfo checks what every plugin must say about itself.
func checkInfo(t *testing.T, info sdk.Info) {
	t.Helper()
	if info.Name == "" || info.Version == "" {
		t.Errorf("GetInfo must name the plugin and its version, got name=%q version=%q", info.Name, info.Version)
	}
	found := false
	for _, v := range info.ProtocolVersions {
		found = found || v == sdk.ProtocolVersion
	}
	if !found {
		t.Errorf("GetInfo protocol_versions %v does not include %d", info.ProtocolVersions, sdk.ProtocolVersion)
	}
	for _, a := range info.Schema.Attributes {
		if a.Name == "" || a.Type == "" {
			t.Errorf("schema attribute %+v needs a name and a type", a)
		}
		if d, ok := a.Default.(json.RawMessage); ok && !json.Valid(d) {
			t.Errorf("schema attribute %q has a default that is not JSON: %q", a.Name, d)
		}
	}
}

func (h *harness) configDiagnostics(t *testing.T) {
	if len(h.target.InvalidConfig) == 0 {
		t.Skip("no InvalidConfig given")
	}
	p := launch(t, h.target.Binary, client.KindRunner)
	info, _, err := p.Runner().Info(context.Background())
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	_, diags, err := p.Runner().Configure(context.Background(), withDefaults(t, info, h.target.InvalidConfig), "conformance")
	if err != nil {
		t.Fatalf("Configure must report bad configuration as diagnostics, not as an RPC error: %v", err)
	}
	checkDiagnostic(t, diags, h.target.InvalidConfig, h.target.InvalidPath)
}

func checkDiagnostic(t *testing.T, diags sdk.Diagnostics, config json.RawMessage, path []string) {
	t.Helper()
	if !diags.HasErrors() {
		t.Fatalf("Configure accepted the invalid config %s", config)
	}
	want := strings.Join(path, ".")
	for _, d := range diags {
		if strings.Join(d.Path, ".") == want {
			return
		}
	}
	t.Errorf("no diagnostic points at %q: %v", want, diags)
}

func (h *harness) request(id string, nodes ...sdk.Node) *sdk.ExecuteRequest {
	return &sdk.ExecuteRequest{ExecutionID: id, ExecutionKey: "conformance/" + id, Attempt: 1,
		BatchID: h.batch, Combination: "default", Case: sdk.Case{ID: "c1", Input: []byte(`{"q":"hello"}`)},
		Nodes: nodes, StartState: []byte(`{"q":"hello"}`)}
}

// recorder keeps an execution's events in the order they came.
type recorder struct {
	mu     sync.Mutex
	events []string
	states map[string]json.RawMessage
	last   json.RawMessage
}

func newRecorder() *recorder { return &recorder{states: map[string]json.RawMessage{}} }

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) NodeStarted(node, _ string) { r.add("start:" + node) }
func (r *recorder) NodeFinished(n sdk.NodeResult) {
	r.mu.Lock()
	r.states[n.Node], r.last = n.State, n.State
	r.mu.Unlock()
	r.add("finish:" + n.Node)
}
func (r *recorder) NodeFailed(f sdk.NodeFailure)      { r.add("fail:" + f.Node) }
func (r *recorder) Log(string, sdk.LogStream, string) {}
func (r *recorder) order() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, " ")
}

// finalState is the outcome's final state, or the state of the last node
// when the outcome leaves it out (the SDK sends a large state once).
func (r *recorder) finalState(o sdk.Outcome) json.RawMessage {
	if len(o.FinalState) > 0 {
		return o.FinalState
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func execute(t *testing.T, s *client.Session, ctx context.Context, req *sdk.ExecuteRequest) (*recorder, sdk.Outcome) {
	t.Helper()
	rec := newRecorder()
	out, err := s.Execute(ctx, req, rec)
	if err != nil {
		t.Fatal(err)
	}
	return rec, out
}

func (h *harness) simpleExecution(t *testing.T) {
	_, s, _ := h.configured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, out := execute(t, s, ctx, h.request("simple-1", h.target.Node("first", "a", "1"), h.target.Node("second", "b", "2")))
	if out.Status != sdk.StatusSucceeded {
		t.Fatalf("execution %v: %s", out.Status, out.Error)
	}
	checkEventOrder(t, rec, []string{"first", "second"})
	var state map[string]any
	if err := json.Unmarshal(rec.finalState(out), &state); err != nil {
		t.Fatalf("final state is not a JSON object: %v", err)
	}
	if state["q"] != "hello" || state["a"] != "1" || state["b"] != "2" {
		t.Errorf("final state %v: want the start state with a=1 and b=2 merged in", state)
	}
}

// checkEventOrder checks the started → finished order of the nodes (the
// session checks numbering and ids; the outcome comes last by construction).
func checkEventOrder(t *testing.T, rec *recorder, nodes []string) {
	t.Helper()
	var want []string
	for _, n := range nodes {
		want = append(want, "start:"+n, "finish:"+n)
	}
	if got := rec.order(); got != strings.Join(want, " ") {
		t.Errorf("event order:\n got  %v\n want %v", got, want)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for node, st := range rec.states {
		if !json.Valid(st) {
			t.Errorf("node %s: checkpoint state is not JSON", node)
		}
	}
}

func (h *harness) startState(t *testing.T) {
	_, s, _ := h.configured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := h.request("resume-1", h.target.Node("second", "b", "2"))
	req.StartState = []byte(`{"q":"hello","a":"from-checkpoint"}`)
	req.StartCheckpointID = "checkpoint-1"
	rec, out := execute(t, s, ctx, req)
	var state map[string]any
	_ = json.Unmarshal(rec.finalState(out), &state)
	if state["a"] != "from-checkpoint" || state["b"] != "2" {
		t.Errorf("execution from a checkpoint: final state %v, want a=from-checkpoint b=2", state)
	}
}

func (h *harness) cancel(t *testing.T) {
	_, s, _ := h.configured(t)
	req := h.request("cancel-1", h.target.SlowNode("slow"))
	req.Nodes[0].Timeout = 2 * time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, out := execute(t, s, ctx, req)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cancel took %s; a runner must stop promptly", took)
	}
	if out.Status != sdk.StatusCancelled {
		t.Errorf("cancelled execution reported %v (%s), want cancelled", out.Status, out.Error)
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
			rec := newRecorder()
			out, err := s.Execute(ctx, h.request(id, h.target.Node("only", "i", fmt.Sprint(i))), rec)
			if err != nil {
				errs <- err
				return
			}
			var state map[string]any
			_ = json.Unmarshal(rec.finalState(out), &state)
			if out.Status != sdk.StatusSucceeded || state["i"] != fmt.Sprint(i) {
				errs <- fmt.Errorf("%s: status %v, state %v, error %s", id, out.Status, state, out.Error)
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
	req.StartState = start
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, out := execute(t, s, ctx, req)
	if out.Status != sdk.StatusSucceeded {
		t.Fatalf("large state: %v %s", out.Status, out.Error)
	}
	var state map[string]string
	if err := json.Unmarshal(rec.finalState(out), &state); err != nil || len(state["big"]) != len(big) || state["small"] != "y" {
		t.Errorf("large state did not survive the round trip (err %v, big %d bytes)", err, len(state["big"]))
	}
	checkEventOrder(t, rec, []string{"after"})
}

func (h *harness) cleanExit(t *testing.T) {
	p, s, _ := h.configured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("closing the session: %v", err)
	}
	_ = p.Runner().Shutdown(ctx)
	checkKill(t, p)
}

func checkKill(t *testing.T, p *client.Plugin) {
	t.Helper()
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
