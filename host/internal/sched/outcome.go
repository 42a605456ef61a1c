package sched

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// complete handles an attempt's outcome.
func (s *scheduler) complete(a *attempt) {
	delete(s.inflight, a)
	a.cancel(nil)
	rt := time.Since(a.sentAt)
	s.tally.roundTrip(rt)
	s.obs.RoundTrip(rt)
	done := a.events.finished()
	s.storeDone(a, done)
	s.storeFailedCalls(a)
	out := a.outcome
	if out.Status == sdk.StatusSucceeded && len(done) == len(a.seg.Steps)-a.startIdx {
		s.succeedSegment(a)
		return
	}
	if out.Status == sdk.StatusSucceeded {
		out = sdk.Outcome{Status: sdk.StatusFailed, FailureKind: sdk.FailureInfrastructure,
			Error: fmt.Sprintf("runner reported success but finished %d of %d nodes", len(done), len(a.seg.Steps)-a.startIdx)}
	}
	failedNode := out.FailedNode
	if failedNode == "" && a.startIdx+len(done) < len(a.seg.Steps) {
		failedNode = a.seg.Steps[a.startIdx+len(done)].Node.Name
	}
	if errors.Is(context.Cause(a.ctx), errTimedOut) {
		s.failSegment(a, fmt.Sprintf("execution timed out after %s (in node %s)", s.b.Timeout.D(), failedNode), failedNode, sdk.FailureTimeout)
		return
	}
	if s.stopping {
		return // cancelled or interrupted: stays unfinished, a resume runs it
	}
	if err := s.cfg.Runner.Failed(); err != nil {
		s.failSegment(a, out.Error, failedNode, out.FailureKind)
		s.stop(err.Error())
		return
	}
	if out.Status == sdk.StatusCancelled {
		s.failSegment(a, out.Error, failedNode, sdk.FailureCancelled)
		return
	}
	if out.Retryable && a.number <= s.b.MaxRetries {
		s.retry(a, done, failedNode, out.FailureKind, out.Error)
		return
	}
	msg := out.Error
	if out.Retryable && s.b.MaxRetries > 0 {
		msg = fmt.Sprintf("%s (after %d attempts)", msg, a.number)
	}
	s.failSegment(a, msg, failedNode, out.FailureKind)
}

// retry schedules the next attempt after a backoff. With a runner that can
// start from a checkpoint, the work done is kept: the next attempt starts
// after the last node that finished.
func (s *scheduler) retry(a *attempt, done []nodeDone, failedNode string, kind sdk.FailureKind, reason string) {
	next := &attempt{seg: a.seg, group: a.group, number: a.number + 1}
	if s.cfg.StartState {
		next.startIdx, next.startState, next.startID = a.startIdx, a.startState, a.startID
		if len(done) > 0 {
			last := done[len(done)-1]
			next.startIdx += len(done)
			next.startState, next.startID = last.state, last.step.ID
		}
	}
	delay := backoff(s.b.RetryDelay.D(), a.number)
	s.tally.retried(a.seg.Key, failedNode, a.number, kind, s.redact.String(reason), delay)
	s.timers[next] = time.AfterFunc(delay, func() { s.retries <- next })
}

func backoff(base time.Duration, attempt int) time.Duration {
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	d := base << (attempt - 1)
	if d > 30*time.Second || d <= 0 {
		d = 30 * time.Second
	}
	// ±20% jitter so retries after a plugin crash do not arrive all at once.
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// succeedSegment queues the segment's children and finishes the executions
// that end with it.
func (s *scheduler) succeedSegment(a *attempt) {
	seg := a.seg
	last := seg.Last()
	for _, child := range seg.Children {
		s.ready = append([]*attempt{{seg: child, group: a.group, number: 1}}, s.ready...)
	}
	if len(last.Ending) == 0 {
		return
	}
	info := a.group.info(last)
	state := info.state
	if len(last.Children) == 0 {
		info.state = nil // nobody else needs it
	}
	for _, ex := range last.Ending {
		s.finishExecution(ex, a, finish{ok: true, state: state, finalID: last.ID, worker: a.lastWorker})
	}
}

// failSegment fails every execution under the segment with the same error.
func (s *scheduler) failSegment(a *attempt, msg, node string, kind sdk.FailureKind) {
	if msg == "" {
		msg = "execution failed"
	}
	lastID := a.startID
	if done := a.events.finishedOrNil(); len(done) > 0 {
		lastID = done[len(done)-1].step.ID
	}
	logs := a.events.failureLogs(node)
	for _, ex := range a.seg.Executions() {
		s.finishExecution(ex, a, finish{err: msg, node: node, kind: kind, finalID: lastID, worker: a.lastWorker, logs: logs})
	}
	if s.b.FailFast {
		s.tally.failFast()
		s.stop(fmt.Sprintf("fail_fast: %s failed", a.seg.Key))
	}
}
