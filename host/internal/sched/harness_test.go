package sched

// The harness runs the real scheduler against a runner written in Go, in
// process: the SDK's node executor with a node kind ("go") whose behaviour
// each test scripts per node, a real SQLite store in a temporary directory,
// the real event bus, evaluator and planner, and a batch spec loaded from a
// small HCL bench file by the real config loader.
//
// Why in process and not over gRPC: the scheduler's contract with a runner is
// the Go interface Runner (pluginhost.Runner implements it over go-plugin).
// Serving a runner over an in-memory gRPC connection would need the SDK to
// export its serving internals (sdk/serve's server type, sdk/client's session
// constructor) — a change of the public SDK for a test — and would test the
// wire, which has tests of its own (sdk/conformance, pluginhost, and the
// converter round-trip tests). Here every decision the scheduler makes is
// observable and deterministic, and a test takes milliseconds.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
	"go.uber.org/goleak"
)

// kindGo is the node kind the test runner implements in Go.
const kindGo = "go"

// nodeFunc scripts what a node does: it gets the node, its input (state,
// params, run key) and the attempt's events, and returns the patch to merge.
// Return an *executor.NodeError to choose the failure kind and retryability.
type nodeFunc func(ctx context.Context, node sdk.Node, in *executor.NodeInput, ev sdk.Events) (map[string]any, error)

// goRunner is a runner plugin implemented in Go: the SDK's executor, as every
// shipped runner uses it, with the "go" node kind dispatching to the
// behaviour scripted for the node. It records every request it gets.
type goRunner struct {
	exec     *executor.Executor
	capacity int

	mu        sync.Mutex
	behaviour map[string]nodeFunc // by node name; absent: the default patch
	requests  []*sdk.ExecuteRequest
	nodeRuns  map[string]int // node name → runs started
	inFlight  int
	peak      int
	failed    error
	// execute, when set, replaces the executor for a request (a runner that
	// reports events by hand).
	execute func(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome
	// onRequest hears of each request as it arrives.
	onRequest func(req *sdk.ExecuteRequest)
}

func newGoRunner() *goRunner {
	r := &goRunner{capacity: 4, behaviour: map[string]nodeFunc{}, nodeRuns: map[string]int{}}
	r.exec = executor.New(executor.Options{WorkerID: "go-runner", Kinds: map[string]executor.NodeFunc{kindGo: r.runNode}})
	return r
}

// runNode is the "go" kind: the scripted behaviour, or a patch saying which
// node (and variant) ran.
func (r *goRunner) runNode(ctx context.Context, node sdk.Node, in *executor.NodeInput, ev sdk.Events) (map[string]any, error) {
	r.mu.Lock()
	r.nodeRuns[node.Name]++
	f := r.behaviour[node.Name]
	r.mu.Unlock()
	if f != nil {
		return f(ctx, node, in, ev)
	}
	return defaultPatch(node, in), nil
}

// defaultPatch records in the state that the node ran, with its variant.
func defaultPatch(node sdk.Node, in *executor.NodeInput) map[string]any {
	v := in.Variant
	if v == "" {
		v = "ran"
	}
	return map[string]any{node.Name: v}
}

func (r *goRunner) on(node string, f nodeFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.behaviour[node] = f
}

func (r *goRunner) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.inFlight++
	r.peak = max(r.peak, r.inFlight)
	exec, hook := r.execute, r.onRequest
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	if hook != nil {
		hook(req)
	}
	if exec != nil {
		return exec(ctx, req, ev)
	}
	return r.exec.Execute(ctx, req, ev)
}

func (r *goRunner) Capacity() int { return r.capacity }

func (r *goRunner) Failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *goRunner) setFailed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = err
}

// reqs returns the requests made so far.
func (r *goRunner) reqs() []*sdk.ExecuteRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*sdk.ExecuteRequest(nil), r.requests...)
}

func (r *goRunner) runs(node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodeRuns[node]
}

// harness is one batch spec, a store and a bus; run may be called more than
// once (a resume, a second batch on the same store).
type harness struct {
	t      *testing.T
	dir    string
	batch  *spec.Batch
	st     store.Store
	bus    *events.Bus
	runner *goRunner
	eval   *eval.Evaluator
}

// newHarness loads a bench file made of the runner block, the workflow and
// batch_test bodies given, and opens a fresh SQLite store.
func newHarness(t *testing.T, src string) *harness {
	t.Helper()
	// Registered first, so it runs last: after the store is closed, nothing
	// the scheduler started may still run.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	path := filepath.Join(dir, "bench.hcl")
	if err := os.WriteFile(path, []byte("runner \"test\" {\n  plugin = \"test\"\n}\n"+src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path, config.Options{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatalf("loading the bench file: %s", diags.Error())
	}
	bd, err := cfg.Batch("")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := eval.Compile(bd.Spec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "wtb.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := newGoRunner()
	t.Cleanup(func() {
		r.exec.Close()
		st.Close()
	})
	return &harness{t: t, dir: dir, batch: bd.Spec, st: st, bus: events.New(10000), runner: r, eval: ev}
}

// config is the Config of a run of batch id on the harness's parts; the
// batch row is created when missing (results refer to it).
func (h *harness) config(id string) Config {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.st.Batches().Get(ctx, id); errors.Is(err, store.ErrNotFound) {
		now := time.Now()
		if err := h.st.Batches().Create(ctx, &store.Batch{ID: id, Name: h.batch.Name, File: h.batch.File, Status: store.StatusRunning,
			Spec: json.RawMessage(`{}`), SpecHash: "h", Runner: "test", Total: h.batch.Total(), Host: "test", Version: "test",
			CreatedAt: now, StartedAt: now}); err != nil {
			h.t.Fatal(err)
		}
	} else if err != nil {
		h.t.Fatal(err)
	}
	return Config{Batch: h.batch, BatchID: id, Runner: h.runner, Store: h.st, Bus: h.bus, Evaluator: h.eval,
		StartState: true, storeRetry: time.Millisecond}
}

// run runs batch id to its end and fails the test on a host error.
func (h *harness) run(id string, change ...func(*Config)) Report {
	h.t.Helper()
	rep, err := h.runCtx(context.Background(), id, change...)
	if err != nil {
		h.t.Fatalf("Run: %v", err)
	}
	return rep
}

func (h *harness) runCtx(ctx context.Context, id string, change ...func(*Config)) (Report, error) {
	h.t.Helper()
	cfg := h.config(id)
	for _, c := range change {
		c(&cfg)
	}
	return Run(ctx, cfg)
}

// results are the stored results of a batch by execution key.
func (h *harness) results(id string) map[string]store.Result {
	h.t.Helper()
	list, err := h.st.Results().List(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]store.Result{}
	for _, r := range list {
		out[r.ExecutionKey] = r
	}
	return out
}

// checkpoints are the stored checkpoints of a batch, states and logs
// included.
func (h *harness) checkpoints(id string) []store.Checkpoint {
	h.t.Helper()
	ctx := context.Background()
	var ids []string
	if err := h.st.Checkpoints().EachID(ctx, id, func(id string) { ids = append(ids, id) }); err != nil {
		h.t.Fatal(err)
	}
	cps := make([]store.Checkpoint, 0, len(ids))
	for _, id := range ids {
		cp, err := h.st.Checkpoints().Get(ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		cps = append(cps, *cp)
	}
	return cps
}

// events are the bus's events of the given types (all when none).
func (h *harness) events(types ...events.Type) []events.Event {
	return h.bus.History(events.Filter{Types: types})
}

// stored reports the stored checkpoint ids and execution keys of a batch, as
// application.Resume gives them to the scheduler.
func (h *harness) stored(id string) (done, checkpoints func(string) bool) {
	keys := map[string]bool{}
	for k := range h.results(id) {
		keys[k] = true
	}
	ids := map[string]bool{}
	for _, cp := range h.checkpoints(id) {
		ids[cp.ID] = true
	}
	return func(k string) bool { return keys[k] }, func(id string) bool { return ids[id] }
}

// keys returns a map's keys, sorted.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// nodesOf names a request's nodes.
func nodesOf(req *sdk.ExecuteRequest) string {
	names := make([]string, len(req.Nodes))
	for i, n := range req.Nodes {
		names[i] = n.Name
	}
	return strings.Join(names, ",")
}

// stateOf decodes a JSON object.
func stateOf(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("state %s: %v", raw, err)
	}
	return m
}

// failing returns a node behaviour that fails with err the first n times it
// runs for each execution (by run key), then runs normally.
func failing(n int, err *executor.NodeError) nodeFunc {
	var mu sync.Mutex
	seen := map[string]int{}
	return func(_ context.Context, node sdk.Node, in *executor.NodeInput, _ sdk.Events) (map[string]any, error) {
		mu.Lock()
		seen[in.Execution.Key]++
		k := seen[in.Execution.Key]
		mu.Unlock()
		if k <= n {
			return nil, err
		}
		return defaultPatch(node, in), nil
	}
}

// blockUntilCancelled is a node that does not finish by itself. (After 5 s
// it fails, so that a scheduler that never cancels it fails a test rather
// than hangs it.)
func blockUntilCancelled(ctx context.Context, node sdk.Node, _ *executor.NodeInput, _ sdk.Events) (map[string]any, error) {
	select {
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-time.After(5 * time.Second):
		return nil, &executor.NodeError{Kind: sdk.FailureExit, Message: "node " + node.Name + " was never cancelled"}
	}
}

// eventually waits up to a second for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
