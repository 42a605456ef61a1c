package sched

import (
	"context"

	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

// chain is a → b over cases c1..c4, with the batch settings given.
func chain(settings string) string {
	return `
workflow "w" {
  node "a" { kind = "go" }
  node "b" {
    kind       = "go"
    depends_on = ["a"]
    timeout    = "5s"
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.test
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
  case "c3" { input = { q = 3 } }
  case "c4" { input = { q = 4 } }
` + settings + "\n}\n"
}

// onCase runs f for the cases named, the default patch for the others.
func onCase(f nodeFunc, cases ...string) nodeFunc {
	return func(ctx context.Context, node sdk.Node, in *executor.NodeInput, ev sdk.Events) (map[string]any, error) {
		for _, c := range cases {
			if in.Case.ID == c {
				return f(ctx, node, in, ev)
			}
		}
		return defaultPatch(node, in), nil
	}
}

func fail(msg string) nodeFunc {
	return func(context.Context, sdk.Node, *executor.NodeInput, sdk.Events) (map[string]any, error) {
		return nil, &executor.NodeError{Kind: sdk.FailureExit, Message: msg}
	}
}

// runAsync starts a run; wait returns its outcome.
func (h *harness) runAsync(ctx context.Context, id string, change ...func(*Config)) (wait func() (Report, error)) {
	type outcome struct {
		rep Report
		err error
	}
	ch := make(chan outcome, 1)
	cfg := h.config(id)
	for _, c := range change {
		c(&cfg)
	}
	go func() {
		rep, err := Run(ctx, cfg)
		ch <- outcome{rep, err}
	}()
	return func() (Report, error) {
		select {
		case o := <-ch:
			return o.rep, o.err
		case <-time.After(5 * time.Second):
			h.t.Fatal("the run did not end")
			return Report{}, nil
		}
	}
}

// count is how many events of a type the bus has seen.
func (h *harness) count(typ events.Type) int { return len(h.events(typ)) }

// fail_fast: the first failure stops the batch; nothing more is sent, what
// was in flight is cancelled and stays unfinished (not stored as failed).
func TestFailFast(t *testing.T) {
	h := newHarness(t, chain("fail_fast = true\nmax_retries = 0"))
	h.runner.capacity = 2
	h.runner.on("a", onCase(blockUntilCancelled, "c1"))
	h.runner.on("b", onCase(fail("b broke"), "c2"))
	rep := h.run("b1")
	if !rep.FailFast || rep.Failed != 1 || rep.Succeeded != 0 || rep.Unfinished != 3 || rep.Cancelled {
		t.Fatalf("report %+v; want fail-fast with 1 failed, 3 unfinished", rep)
	}
	res := h.results("b1")
	if len(res) != 1 || res["default/c2/0"].Error != "b broke" {
		t.Errorf("stored %v", res)
	}
	if n := len(h.runner.reqs()); n != 2 {
		t.Errorf("%d requests; want the 2 in flight only", n)
	}
	if n := h.count(events.ExecutionFailed); n != 1 {
		t.Errorf("%d execution.failed events", n)
	}
}

// Cancelling the run's context stops it: what finished is stored (results
// and the checkpoints of finished nodes), nothing else is, and a resume of
// the stored batch runs only what is missing, from where it stopped.
func TestCancelThenResume(t *testing.T) {
	h := newHarness(t, chain(""))
	h.runner.capacity = 4
	h.runner.on("b", onCase(blockUntilCancelled, "c2", "c3"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := h.runAsync(ctx, "b1")
	// c1 and c4 finish; c2 and c3 finish a and hang in b.
	eventually(t, "two executions and six node runs", func() bool {
		return h.count(events.ExecutionFinished) == 2 && h.count(events.NodeFinished) == 6
	})
	cancel()
	rep, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Cancelled || rep.Succeeded != 2 || rep.Failed != 0 || rep.Unfinished != 2 {
		t.Fatalf("report %+v; want cancelled with 2 succeeded, 2 unfinished", rep)
	}
	if got := keys(h.results("b1")); strings.Join(got, " ") != "default/c1/0 default/c4/0" {
		t.Errorf("stored results %v", got)
	}
	byNode := map[string]int{}
	for _, cp := range h.checkpoints("b1") {
		byNode[cp.Node]++
	}
	if byNode["a"] != 4 || byNode["b"] != 2 || byNode[""] != 4 {
		t.Errorf("stored checkpoints by node %v; want a: 4, b: 2, 4 roots", byNode)
	}
	if n := h.count(events.ExecutionFailed); n != 0 {
		t.Errorf("an interrupted execution is not a failure: %d execution.failed", n)
	}

	// Resume: only c2 and c3 run, from a's stored checkpoints.
	h.runner.on("b", nil)
	before := len(h.runner.reqs())
	done, stored := h.stored("b1")
	rep = h.run("b1", func(c *Config) { c.Done, c.Stored = done, stored })
	if rep.Planned != 2 || rep.Succeeded != 2 || rep.Resumed != 2 || rep.NodeRuns != 2 || rep.Cancelled {
		t.Errorf("resume report %+v; want 2 planned, 2 resumed steps, 2 node runs", rep)
	}
	reqs := h.runner.reqs()[before:]
	if len(reqs) != 2 {
		t.Fatalf("resume made %d requests", len(reqs))
	}
	cps := map[string]store.Checkpoint{}
	for _, cp := range h.checkpoints("b1") {
		cps[cp.ID] = cp
	}
	for _, req := range reqs {
		from := cps[req.StartCheckpointID]
		if nodesOf(req) != "b" || from.Node != "a" || string(req.StartState) != string(from.State) ||
			(req.Case.ID != "c2" && req.Case.ID != "c3") {
			t.Errorf("resumed %s: nodes %s from %s (%s)", req.ExecutionKey, nodesOf(req), from.Node, req.StartState)
		}
	}
	res := h.results("b1")
	if len(res) != 4 {
		t.Fatalf("%d results after the resume", len(res))
	}
	for key, r := range res {
		if !r.Success || stateOf(t, cps[r.FinalCheckpointID].State)["a"] != "ran" {
			t.Errorf("%s: %+v", key, r)
		}
	}
}

// A cancel while a retry waits its backoff ends the run at once; the
// execution stays unfinished.
func TestCancelDuringABackoff(t *testing.T) {
	h := newHarness(t, chain(`retry_backoff = "10s"`))
	h.runner.on("a", onCase(func(context.Context, sdk.Node, *executor.NodeInput, sdk.Events) (map[string]any, error) {
		return nil, &executor.NodeError{Kind: sdk.FailureInfrastructure, Retryable: true, Message: "lost"}
	}, "c1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := h.runAsync(ctx, "b1")
	eventually(t, "the retry to be scheduled and the rest to finish", func() bool {
		return h.count(events.ExecutionRetried) == 1 && h.count(events.ExecutionFinished) == 3
	})
	start := time.Now()
	cancel()
	rep, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("the run ended %s after the cancel", waited)
	}
	if !rep.Cancelled || rep.Unfinished != 1 || rep.Retries != 1 || len(h.runner.reqs()) != 4 {
		t.Errorf("report %+v, %d requests", rep, len(h.runner.reqs()))
	}
	if _, ok := h.results("b1")["default/c1/0"]; ok {
		t.Error("the execution waiting for its retry was stored")
	}
}

// The batch's timeout bounds each request: past it the execution fails as a
// timeout, naming the node it was in, and is not retried however retryable.
func TestTimeout(t *testing.T) {
	h := newHarness(t, chain(`timeout = "50ms"`))
	var sent, stopped time.Time
	h.runner.on("b", onCase(func(ctx context.Context, node sdk.Node, in *executor.NodeInput, ev sdk.Events) (map[string]any, error) {
		defer func() { stopped = time.Now() }()
		return blockUntilCancelled(ctx, node, in, ev)
	}, "c1"))
	h.runner.onRequest = func(req *sdk.ExecuteRequest) {
		if req.Case.ID == "c1" {
			sent = time.Now()
		}
	}
	start := time.Now()
	rep := h.run("b1")
	if rep.Failed != 1 || rep.Succeeded != 3 || rep.Retries != 0 {
		t.Fatalf("report %+v", rep)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("the run took %s", el)
	}
	if d := stopped.Sub(sent); d < 45*time.Millisecond || d > 300*time.Millisecond {
		t.Errorf("node b was stopped %s after the request was sent; want 50ms", d)
	}
	r := h.results("b1")["default/c1/0"]
	if r.FailureKind != "timeout" || r.Error != "execution timed out after 50ms (in node b)" || r.FailedNode != "b" || r.Attempts != 1 {
		t.Errorf("%+v", r)
	}
	var a store.Checkpoint
	for _, cp := range h.checkpoints("b1") {
		if cp.Node == "a" && cp.SegmentKey == "default/c1/0" {
			a = cp
		}
	}
	if r.FinalCheckpointID != a.ID || a.ID == "" {
		t.Errorf("a timed-out execution's last checkpoint is %q; want a's %q", r.FinalCheckpointID, a.ID)
	}
	for _, req := range h.runner.reqs() {
		if req.Case.ID != "c1" {
			continue
		}
		if d := req.Deadline.Sub(sent); d < 40*time.Millisecond || d > 60*time.Millisecond {
			t.Errorf("deadline %s after sending; want 50ms", d)
		}
		if req.Nodes[1].Timeout != 5*time.Second {
			t.Errorf("node b's own timeout %s", req.Nodes[1].Timeout)
		}
	}
}

// A batch stopped by fail-fast ends when what is in flight has ended: a
// retry waiting its backoff does not hold it.
func TestFailFastDoesNotWaitForBackoffs(t *testing.T) {
	h := newHarness(t, chain("fail_fast = true\nretry_backoff = \"10s\""))
	h.runner.capacity = 1
	h.runner.on("a", onCase(func(context.Context, sdk.Node, *executor.NodeInput, sdk.Events) (map[string]any, error) {
		return nil, &executor.NodeError{Kind: sdk.FailureInfrastructure, Retryable: true, Message: "lost"}
	}, "c1"))
	h.runner.on("b", onCase(fail("b broke"), "c2"))
	start := time.Now()
	rep := h.run("b1")
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("the batch ended %s after it started; a 10s backoff held it", el)
	}
	if !rep.FailFast || rep.Failed != 1 || rep.Retries != 1 || rep.Unfinished != 3 {
		t.Errorf("report %+v", rep)
	}
}

// What the runner is told when the scheduler cancels an execution is why,
// with or without a batch timeout.
func TestCancelCauseReachesTheRunner(t *testing.T) {
	for _, timeout := range []string{"", `timeout = "1m"`} {
		t.Run("timeout="+timeout, func(t *testing.T) {
			h := newHarness(t, chain("fail_fast = true\nmax_retries = 0\n"+timeout))
			h.runner.capacity = 2
			var cause error
			started := make(chan struct{})
			h.runner.on("a", onCase(func(ctx context.Context, _ sdk.Node, _ *executor.NodeInput, _ sdk.Events) (map[string]any, error) {
				close(started)
				<-ctx.Done()
				cause = context.Cause(ctx)
				return nil, cause
			}, "c1"))
			// c2 fails once c1 is running, so that it is c1's node that hears.
			h.runner.on("b", onCase(func(ctx context.Context, node sdk.Node, in *executor.NodeInput, ev sdk.Events) (map[string]any, error) {
				<-started
				return fail("b broke")(ctx, node, in, ev)
			}, "c2"))
			h.run("b1")
			if cause == nil || cause.Error() != "fail_fast: default/c2/0 failed" {
				t.Errorf("the runner was told %v", cause)
			}
		})
	}
}
