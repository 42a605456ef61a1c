package sched

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

// threeNodes is a chain a → b → c, one case, no variants.
const threeNodes = `
workflow "w" {
  node "a" { kind = "go" }
  node "b" {
    kind       = "go"
    depends_on = ["a"]
  }
  node "c" {
    kind       = "go"
    depends_on = ["b"]
  }
}
batch_test "t" {
  workflow      = workflow.w
  runner        = runner.test
  max_retries   = %d
  retry_backoff = "1ms"
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
}
`

func threeNodeHarness(t *testing.T, maxRetries int) *harness {
	return newHarness(t, strings.Replace(threeNodes, "%d", string(rune('0'+maxRetries)), 1))
}

// A retryable failure is retried, with the audit event saying which attempt
// failed, why, of what kind; the result counts the attempts.
func TestRetryableFailureIsRetried(t *testing.T) {
	h := threeNodeHarness(t, 2)
	h.runner.on("b", failing(1, &executor.NodeError{Kind: sdk.FailureInfrastructure, Retryable: true, Message: "worker lost"}))
	rep := h.run("b1")
	if rep.Succeeded != 2 || rep.Failed != 0 || rep.Retries != 2 {
		t.Fatalf("report %+v; want 2 succeeded after 2 retries", rep)
	}
	for key, r := range h.results("b1") {
		if !r.Success || r.Attempts != 2 || !strings.HasSuffix(r.ExecutionID, "-2") {
			t.Errorf("%s: %+v", key, r)
		}
	}
	retried := h.events(events.ExecutionRetried)
	if len(retried) != 2 {
		t.Fatalf("%d execution.retried events", len(retried))
	}
	for _, e := range retried {
		if e.Attempt != 1 || e.Node != "b" || e.Error != "worker lost" || e.Data["kind"] != "infrastructure" ||
			!strings.HasPrefix(e.Message, "attempt 1 failed; retrying in ") || e.BatchID != "b1" || e.ExecutionKey == "" {
			t.Errorf("event %+v", e)
		}
	}
}

// With a runner that can start from a checkpoint, a retry starts after the
// last node that finished: a ran once; without that capability the retry
// runs the segment again from its beginning.
func TestRetryStartsAfterTheLastFinishedNode(t *testing.T) {
	for _, startState := range []bool{true, false} {
		t.Run(map[bool]string{true: "start state", false: "from the beginning"}[startState], func(t *testing.T) {
			testRetryStart(t, startState)
		})
	}
}

func testRetryStart(t *testing.T, startState bool) {
	h := threeNodeHarness(t, 1)
	h.runner.on("c", failing(1, &executor.NodeError{Kind: sdk.FailureExit, Retryable: true, Message: "flaky"}))
	rep := h.run("b1", func(c *Config) { c.StartState = startState })
	if rep.Succeeded != 2 {
		t.Fatalf("start state %v: report %+v", startState, rep)
	}
	var second []*sdk.ExecuteRequest
	for _, req := range h.runner.reqs() {
		if req.Attempt == 2 {
			second = append(second, req)
		}
	}
	if len(second) != 2 {
		t.Fatalf("%d second attempts", len(second))
	}
	bIDs := map[string]string{} // checkpoint of b per case
	for _, cp := range h.checkpoints("b1") {
		if cp.Node == "b" {
			bIDs[cp.SegmentKey] = cp.ID
		}
	}
	for _, req := range second {
		if startState {
			st := stateOf(t, req.StartState)
			if nodesOf(req) != "c" || st["a"] != "ran" || st["b"] != "ran" || req.StartCheckpointID != bIDs[req.ExecutionKey] {
				t.Errorf("retry of %s: nodes %s from %s at %s", req.ExecutionKey, nodesOf(req), req.StartState, req.StartCheckpointID)
			}
		} else if nodesOf(req) != "a,b,c" || string(req.StartState) != string(req.Case.Input) {
			t.Errorf("retry without start state: nodes %s from %s", nodesOf(req), req.StartState)
		}
	}
	wantA := 2
	if !startState {
		wantA = 4
	}
	if got := h.runner.runs("a"); got != wantA || rep.NodeRuns != 2*3+(wantA-2)*2 {
		t.Errorf("start state %v: a ran %d times (want %d), %d node runs stored", startState, got, wantA, rep.NodeRuns)
	}
}

// A failure that is not retryable is stored at once; retries that run out
// are stored with how many attempts were made.
func TestFailuresThatAreNotRetried(t *testing.T) {
	h := threeNodeHarness(t, 2)
	h.runner.on("a", func(_ context.Context, node sdk.Node, in *executor.NodeInput, _ sdk.Events) (map[string]any, error) {
		if in.Case.ID == "c1" {
			return nil, &executor.NodeError{Kind: sdk.FailureInvalidOutput, Message: "not JSON"}
		}
		return nil, &executor.NodeError{Kind: sdk.FailureExit, Retryable: true, ExitCode: 75, Message: "try again"}
	})
	rep := h.run("b1")
	if rep.Failed != 2 || rep.Retries != 2 {
		t.Fatalf("report %+v; want 2 failed, 2 retries (of c2)", rep)
	}
	res := h.results("b1")
	if r := res["default/c1/0"]; r.Attempts != 1 || r.FailureKind != "invalid_output" || r.Error != "not JSON" || r.FailedNode != "a" {
		t.Errorf("c1: %+v", r)
	}
	if r := res["default/c2/0"]; r.Attempts != 3 || r.FailureKind != "exit" || r.Error != "try again (after 3 attempts)" {
		t.Errorf("c2: %+v", r)
	}
	if n := len(h.runner.reqs()); n != 1+3 {
		t.Errorf("%d requests; want 4", n)
	}
}

// max_retries = 0 never retries, and says nothing about attempts.
func TestNoRetries(t *testing.T) {
	h := threeNodeHarness(t, 0)
	h.runner.on("a", failing(1, &executor.NodeError{Kind: sdk.FailureExit, Retryable: true, Message: "once"}))
	rep := h.run("b1")
	if rep.Failed != 2 || rep.Retries != 0 {
		t.Fatalf("report %+v", rep)
	}
	if r := h.results("b1")["default/c1/0"]; r.Error != "once" || r.Attempts != 1 {
		t.Errorf("%+v", r)
	}
}

// A retry waits its backoff: retry_backoff doubling per attempt.
func TestRetryWaitsItsBackoff(t *testing.T) {
	h := newHarness(t, `
workflow "w" {
  node "a" { kind = "go" }
}
batch_test "t" {
  workflow      = workflow.w
  runner        = runner.test
  max_retries   = 2
  retry_backoff = "40ms"
  case "c1" { input = {} }
}
`)
	var mu sync.Mutex
	var at []time.Time
	h.runner.onRequest = func(*sdk.ExecuteRequest) { mu.Lock(); at = append(at, time.Now()); mu.Unlock() }
	h.runner.on("a", failing(2, &executor.NodeError{Kind: sdk.FailureExit, Retryable: true, Message: "flaky"}))
	rep := h.run("b1")
	if rep.Succeeded != 1 || len(at) != 3 {
		t.Fatalf("report %+v, %d requests", rep, len(at))
	}
	// 40 ms then 80 ms, each within ±20 % jitter (the lower bound is what
	// a test can hold on a busy machine).
	if d := at[1].Sub(at[0]); d < 32*time.Millisecond {
		t.Errorf("first retry after %s; want ≥ 32ms", d)
	}
	if d := at[2].Sub(at[1]); d < 64*time.Millisecond {
		t.Errorf("second retry after %s; want ≥ 64ms", d)
	}
	retried := h.events(events.ExecutionRetried)
	if len(retried) != 2 || retried[1].Attempt != 2 {
		t.Errorf("retried events %+v", retried)
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		base    time.Duration
		attempt int
		want    time.Duration
	}{
		{100 * time.Millisecond, 1, 100 * time.Millisecond},
		{100 * time.Millisecond, 2, 200 * time.Millisecond},
		{100 * time.Millisecond, 4, 800 * time.Millisecond},
		{0, 1, 200 * time.Millisecond},                 // the default base
		{10 * time.Second, 3, 30 * time.Second},        // capped
		{time.Second, 70, 30 * time.Second},            // a shift past the width of int64
		{-time.Second, 2, 400 * time.Millisecond},      // a negative base is the default
		{time.Millisecond, 10, 512 * time.Millisecond}, // still doubling
	} {
		for range 50 {
			got := backoff(c.base, c.attempt)
			lo, hi := time.Duration(float64(c.want)*0.8), time.Duration(float64(c.want)*1.2)
			if got < lo || got > hi {
				t.Fatalf("backoff(%s, %d) = %s; want %s ± 20%%", c.base, c.attempt, got, c.want)
			}
		}
	}
}

// A runner that reports success without finishing every node it was asked
// for has failed the execution, retryably or not as it said.
func TestSuccessWithoutEveryNodeIsAFailure(t *testing.T) {
	h := threeNodeHarness(t, 2)
	h.runner.execute = func(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
		ev.NodeStarted(req.Nodes[0].Name, "w")
		ev.NodeFinished(sdk.NodeResult{Node: req.Nodes[0].Name, State: []byte(`{"a":1}`), Output: []byte(`{"a":1}`)})
		return sdk.Outcome{Status: sdk.StatusSucceeded, FinalState: []byte(`{"a":1}`)}
	}
	rep := h.run("b1")
	if rep.Failed != 2 || rep.Retries != 0 {
		t.Fatalf("report %+v", rep)
	}
	r := h.results("b1")["default/c1/0"]
	if r.FailureKind != "infrastructure" || r.Error != "runner reported success but finished 1 of 3 nodes" || r.FailedNode != "b" {
		t.Errorf("%+v", r)
	}
}

// A runner that can no longer be used (a plugin that keeps crashing) fails
// the execution it reported and stops the batch: nothing else is sent.
func TestRunnerGivenUpStopsTheBatch(t *testing.T) {
	h := threeNodeHarness(t, 2)
	h.runner.capacity = 1
	h.runner.execute = func(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
		h.runner.setFailed(errors.New("plugin runner-test keeps crashing"))
		return sdk.Outcome{Status: sdk.StatusFailed, Retryable: true, FailureKind: sdk.FailureInfrastructure, Error: "plugin crashed"}
	}
	rep := h.run("b1")
	if rep.Failed != 1 || rep.Unfinished != 1 || rep.Retries != 0 || len(h.runner.reqs()) != 1 {
		t.Fatalf("report %+v, %d requests", rep, len(h.runner.reqs()))
	}
	if r := h.results("b1")["default/c1/0"]; r.Error != "plugin crashed" || r.FailureKind != "infrastructure" {
		t.Errorf("%+v", r)
	}
}

// A runner that reports an execution cancelled when nobody asked (a node
// killed from outside) fails it as cancelled, without retrying.
func TestCancelledByTheRunner(t *testing.T) {
	h := threeNodeHarness(t, 2)
	h.runner.on("b", func(context.Context, sdk.Node, *executor.NodeInput, sdk.Events) (map[string]any, error) {
		return nil, &executor.NodeError{Kind: sdk.FailureCancelled, Message: "node b was killed"}
	})
	rep := h.run("b1")
	if rep.Failed != 2 || rep.Retries != 0 || rep.Cancelled {
		t.Fatalf("report %+v", rep)
	}
	if r := h.results("b1")["default/c1/0"]; r.FailureKind != "cancelled" || r.FailedNode != "b" || r.Error != "node b was killed" {
		t.Errorf("%+v", r)
	}
}
