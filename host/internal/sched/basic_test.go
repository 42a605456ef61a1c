package sched

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

// twoNodes: a with two variants, then b; two cases, two repeats, an evaluator
// that checks b ran: 8 executions of 2 node runs each.
const twoNodes = `
workflow "w" {
  node "a" {
    kind = "go"
    variant "x" { params = { v = "x" } }
    variant "y" { params = { v = "y" } }
  }
  node "b" {
    kind       = "go"
    depends_on = ["a"]
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.test
  repeat   = 2
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
  evaluator "ran" {
    type   = "equals"
    path   = "$.b"
    expect = "ran"
  }
}
`

// progress records what a progress bar is told.
type progress struct {
	mu                        sync.Mutex
	total, succeeded, failed  int
	finished, loads, retotals int
}

func (p *progress) Start(total int) { p.mu.Lock(); p.total = total; p.mu.Unlock() }
func (p *progress) Add(s, f int)    { p.mu.Lock(); p.succeeded += s; p.failed += f; p.mu.Unlock() }
func (p *progress) Finish()         { p.mu.Lock(); p.finished++; p.mu.Unlock() }
func (p *progress) Load(int, int)   { p.mu.Lock(); p.loads++; p.mu.Unlock() }
func (p *progress) SetTotal(n int)  { p.mu.Lock(); p.total = n; p.retotals++; p.mu.Unlock() }

// observer records what the metrics would be told.
type observer struct {
	mu                      sync.Mutex
	started, trips, loads   int
	nodeRuns                map[string]int
	cached                  map[string]int
	writes, rows, failedTxs int
	attempts                []int
}

func newObserver() *observer { return &observer{nodeRuns: map[string]int{}, cached: map[string]int{}} }

func (o *observer) ExecutionStarted(string)    { o.mu.Lock(); o.started++; o.mu.Unlock() }
func (o *observer) Load(int, int)              { o.mu.Lock(); o.loads++; o.mu.Unlock() }
func (o *observer) RoundTrip(d time.Duration)  { o.mu.Lock(); o.trips++; o.mu.Unlock() }
func (o *observer) ModelCall(*store.ModelCall) {}
func (o *observer) NodeRun(node, _ string, _ time.Duration, _ int) {
	o.mu.Lock()
	o.nodeRuns[node]++
	o.mu.Unlock()
}
func (o *observer) NodeCached(node, _ string, executions int) {
	o.mu.Lock()
	o.cached[node] += executions
	o.mu.Unlock()
}
func (o *observer) StoreWrite(rows int, _ time.Duration, attempts int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
	o.rows += rows
	o.attempts = append(o.attempts, attempts)
	if err != nil {
		o.failedTxs++
	}
}

func TestRunStoresEveryExecution(t *testing.T) {
	h := newHarness(t, twoNodes)
	// The loader allows worker blocks on command nodes only; the runner's
	// "go" kind ignores them, the request must carry them all the same.
	h.batch.Workflow.Nodes[1].Worker = &spec.Worker{Max: 2, MaxRequests: 10, IdleTimeout: spec.Duration(time.Minute)}
	prog, obs := &progress{}, newObserver()
	rep := h.run("b1", func(c *Config) { c.Progress, c.Observer = prog, obs })

	if rep.Planned != 8 || rep.Succeeded != 8 || rep.Failed != 0 || rep.Unfinished != 0 || rep.NodeRuns != 16 ||
		rep.RoundTrips != 8 || rep.Retries != 0 || rep.Cancelled || rep.FailFast {
		t.Errorf("report %+v; want 8 planned and succeeded, 16 node runs, 8 round trips", rep)
	}
	if rep.Percentile(0.5) <= 0 || rep.Percentile(1) < rep.Percentile(0.5) {
		t.Errorf("round-trip percentiles p50 %s, p100 %s", rep.Percentile(0.5), rep.Percentile(1))
	}

	// Every execution is stored, scored, and points at its last checkpoint,
	// whose chain goes back through a to the case's root.
	res := h.results("b1")
	if len(res) != 8 {
		t.Fatalf("%d results stored: %v", len(res), keys(res))
	}
	cps := map[string]store.Checkpoint{}
	for _, cp := range h.checkpoints("b1") {
		cps[cp.ID] = cp
	}
	if len(cps) != 2+8+8 {
		t.Errorf("%d checkpoints; want 2 roots + 16 node runs", len(cps))
	}
	for key, r := range res {
		if !r.Success || r.Status != store.ResultSucceeded || r.Attempts != 1 || !r.Passed || r.Scores["ran"] != 1 ||
			r.WorkerID != "go-runner" || r.ExecutionID == "" {
			t.Errorf("%s: %+v", key, r)
		}
		want := fmt.Sprintf("a=%s/%s/%d", r.Variants["a"], r.CaseID, r.Repeat)
		if key != want || r.Combination != "a="+r.Variants["a"] {
			t.Errorf("result %s is %s (%s)", key, want, r.Combination)
		}
		last := cps[r.FinalCheckpointID]
		first := cps[last.ParentID]
		root := cps[first.ParentID]
		if last.Node != "b" || first.Node != "a" || root.Source != store.SourceRoot || first.Variant != r.Variants["a"] {
			t.Errorf("%s: checkpoint chain %s ← %s ← %s", key, last.Node, first.Node, root.Source)
		}
		st := stateOf(t, last.State)
		if st["a"] != r.Variants["a"] || st["b"] != "ran" || st["q"] == nil {
			t.Errorf("%s: final state %s", key, last.State)
		}
	}

	// What the runner was asked: each execution once, from the case's root.
	reqs := h.runner.reqs()
	if len(reqs) != 8 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, req := range reqs {
		if req.Attempt != 1 || nodesOf(req) != "a,b" || req.BatchID != "b1" || req.Env.WorkingDir != h.batch.Dir ||
			!strings.HasPrefix(req.ExecutionID, "b1-") || !req.Deadline.IsZero() {
			t.Errorf("request %+v", req)
		}
		if string(req.Nodes[0].Params) != fmt.Sprintf(`{"v":"%s"}`, req.Variants["a"]) || req.Nodes[0].Variant != req.Variants["a"] {
			t.Errorf("node a of %s: params %s, variant %q", req.ExecutionKey, req.Nodes[0].Params, req.Nodes[0].Variant)
		}
		if w := req.Nodes[1].Worker; w == nil || w.Max != 2 || w.MaxRequests != 10 || w.IdleTimeout != time.Minute || req.Nodes[0].Worker != nil {
			t.Errorf("worker settings %+v", w)
		}
		if req.Nodes[0].RunKey == "" || req.Nodes[1].RunKey == "" || req.Nodes[0].RunKey == req.Nodes[1].RunKey {
			t.Errorf("run keys %q %q", req.Nodes[0].RunKey, req.Nodes[1].RunKey)
		}
		if root := cps[req.StartCheckpointID]; root.Source != store.SourceRoot || string(req.StartState) != string(req.Case.Input) {
			t.Errorf("%s starts at %s from %s", req.ExecutionKey, req.StartCheckpointID, req.StartState)
		}
		if len(req.Case.Expected) != 0 && string(req.Case.Expected) != "null" {
			t.Errorf("expected values %s", req.Case.Expected)
		}
	}

	counts := map[events.Type]int{}
	for _, e := range h.events() {
		counts[e.Type]++
	}
	want := map[events.Type]int{events.ExecutionFinished: 8, events.CombinationStarted: 2, events.CombinationFinished: 2,
		events.NodeStarted: 16, events.NodeFinished: 16}
	for typ, n := range want {
		if counts[typ] != n {
			t.Errorf("%d %s events; want %d (all: %v)", counts[typ], typ, n, counts)
		}
	}
	if prog.total != 8 || prog.succeeded != 8 || prog.failed != 0 || prog.finished != 1 || prog.loads == 0 {
		t.Errorf("progress %+v", prog)
	}
	if obs.started != 8 || obs.trips != 8 || obs.nodeRuns["a"] != 8 || obs.nodeRuns["b"] != 8 || obs.loads == 0 ||
		obs.rows != 18+8 || obs.failedTxs != 0 {
		t.Errorf("observer %+v", obs)
	}
}

// A failed node's error, kind, exit code and logs are stored with the result;
// a finished node's logs with its checkpoint, the last max_log_bytes of them.
func TestFailureAndLogsAreStored(t *testing.T) {
	h := newHarness(t, `
variable "token" {
  default   = "s3cret-value"
  sensitive = true
}
workflow "w" {
  node "a" { kind = "go" }
  node "b" {
    kind       = "go"
    depends_on = ["a"]
  }
}
batch_test "t" {
  workflow      = workflow.w
  runner        = runner.test
  max_retries   = 0
  max_log_bytes = 40
  case "c1" { input = { token = var.token } }
}
`)
	h.runner.on("a", func(_ context.Context, node sdk.Node, in *executor.NodeInput, ev sdk.Events) (map[string]any, error) {
		for i := range 5 {
			ev.Log("a", sdk.LogStderr, fmt.Sprintf("line %d of a", i))
		}
		return defaultPatch(node, in), nil
	})
	h.runner.on("b", func(_ context.Context, _ sdk.Node, _ *executor.NodeInput, ev sdk.Events) (map[string]any, error) {
		ev.Log("", sdk.LogRunner, "runner says hi")
		ev.Log("b", sdk.LogStderr, "b is about to fail")
		ev.Log("elsewhere", sdk.LogStderr, "a node this attempt did not run")
		return nil, &executor.NodeError{Kind: sdk.FailureExit, ExitCode: 3, Message: "b failed with token s3cret-value"}
	})
	rep := h.run("b1")
	if rep.Failed != 1 || rep.Succeeded != 0 {
		t.Fatalf("report %+v", rep)
	}
	r := h.results("b1")["default/c1/0"]
	if r.Success || r.Status != store.ResultFailed || r.FailedNode != "b" || r.FailureKind != "exit" ||
		strings.Contains(r.Error, "s3cret") || !strings.Contains(r.Error, "b failed with token") || r.Attempts != 1 {
		t.Errorf("result %+v", r)
	}
	var lines []string
	for _, l := range r.Logs {
		lines = append(lines, l.Stream+":"+l.Line)
	}
	if got := strings.Join(lines, "|"); got != "runner:runner says hi|stderr:b is about to fail" {
		t.Errorf("failure logs %q", got)
	}
	// a's checkpoint has its last lines within 40 bytes, after a note.
	var a store.Checkpoint
	for _, cp := range h.checkpoints("b1") {
		if cp.Node == "a" {
			a = cp
		}
	}
	if len(a.Logs) != 4 || a.Logs[0].Stream != store.StreamWTB || !strings.Contains(a.Logs[0].Line, "2 earlier lines not kept") ||
		a.Logs[3].Line != "line 4 of a" {
		t.Errorf("a's logs %+v", a.Logs)
	}
	if r.FinalCheckpointID != a.ID {
		t.Errorf("the failed execution's last checkpoint is %s, want a's %s", r.FinalCheckpointID, a.ID)
	}
	failed := h.events(events.ExecutionFailed)
	if len(failed) != 1 || failed[0].Node != "b" || strings.Contains(failed[0].Error, "s3cret") {
		t.Errorf("execution.failed events %+v", failed)
	}
	nf := h.events(events.NodeFailed)
	if len(nf) != 1 || strings.Contains(nf[0].Error, "s3cret") {
		t.Errorf("node.failed events %+v", nf)
	}
}

// environments is an environment provider that hands out an env var per
// combination, and fails for the ones it is told to.
type environments struct {
	mu       sync.Mutex
	created  []string
	cleaned  []string
	fail     map[string]error
	diagnose map[string]bool
}

func (e *environments) Create(_ context.Context, batchID, variantID string, config []byte) (sdk.RuntimeEnv, sdk.Diagnostics, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.created = append(e.created, variantID)
	if err := e.fail[variantID]; err != nil {
		return sdk.RuntimeEnv{}, nil, err
	}
	if e.diagnose[variantID] {
		return sdk.RuntimeEnv{}, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "no such image"}}, nil
	}
	return sdk.RuntimeEnv{ID: "env-" + variantID, Env: map[string]string{"WHO": variantID}}, nil, nil
}

func (e *environments) Cleanup(_ context.Context, variantID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleaned = append(e.cleaned, variantID)
	return errors.New("cleanup is best effort")
}

// Each combination gets its environment; one that cannot be made fails its
// executions (kind start), not the batch; every environment made is cleaned up.
func TestEnvironments(t *testing.T) {
	h := newHarness(t, `
workflow "w" {
  node "a" {
    kind = "go"
    variant "ok" { environment = { FLAVOUR = "ok" } }
    variant "broken" { environment = { FLAVOUR = "broken" } }
    variant "invalid" { environment = { FLAVOUR = "invalid" } }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.test
  case "c1" { input = {} }
}
`)
	envs := &environments{fail: map[string]error{"a=broken": errors.New("disk full")}, diagnose: map[string]bool{"a=invalid": true}}
	rep := h.run("b1", func(c *Config) { c.Env = envs })
	if rep.Succeeded != 1 || rep.Failed != 2 {
		t.Fatalf("report %+v", rep)
	}
	res := h.results("b1")
	if r := res["a=ok/c1/0"]; !r.Success {
		t.Errorf("a=ok: %+v", r)
	}
	if r := res["a=broken/c1/0"]; r.FailureKind != "start" || r.Error != "creating the environment for a=broken: disk full" || r.FailedNode != "a" {
		t.Errorf("a=broken: %+v", r)
	}
	if r := res["a=invalid/c1/0"]; r.FailureKind != "start" || !strings.Contains(r.Error, "no such image") {
		t.Errorf("a=invalid: %+v", r)
	}
	reqs := h.runner.reqs()
	if len(reqs) != 1 || reqs[0].Env.ID != "env-a=ok" || reqs[0].Env.Env["WHO"] != "a=ok" || reqs[0].Env.WorkingDir != h.batch.Dir {
		t.Errorf("requests %+v", reqs)
	}
	if len(envs.created) != 3 || strings.Join(envs.cleaned, ",") != "a=ok" {
		t.Errorf("created %v, cleaned %v", envs.created, envs.cleaned)
	}
}

// The writer turns the runner's own duration and metrics into the result.
func TestMetricsAndDurationsAddUp(t *testing.T) {
	h := newHarness(t, twoNodes)
	h.runner.on("a", func(_ context.Context, node sdk.Node, in *executor.NodeInput, _ sdk.Events) (map[string]any, error) {
		p := defaultPatch(node, in)
		p[executor.MetricsKey] = map[string]any{"tokens": 7}
		return p, nil
	})
	h.run("b1")
	for key, r := range h.results("b1") {
		if r.Metrics["tokens"] != 7 || r.DurationMs <= 0 {
			t.Errorf("%s: metrics %v, duration %v", key, r.Metrics, r.DurationMs)
		}
	}
	var raw json.RawMessage
	for _, cp := range h.checkpoints("b1") {
		if cp.Node == "a" {
			raw = cp.Output
			if cp.Metrics["tokens"] != 7 {
				t.Errorf("checkpoint metrics %v", cp.Metrics)
			}
		}
	}
	if strings.Contains(string(raw), "_metrics") {
		t.Errorf("metrics stay out of the output: %s", raw)
	}
}
