package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// SegmentWorkflow runs a segment's nodes in order, one activity per node, the
// state flowing from each activity's result into the next one's input. A
// failed node fails the workflow with a NodeFailure in the error's details.
func SegmentWorkflow(ctx workflow.Context, in SegmentInput) error {
	state := in.StartState
	meta := in
	meta.Nodes, meta.StartState, meta.Recordings = nil, nil, nil
	for _, node := range in.Nodes {
		startToClose := in.Policy.StartToClose
		if node.Timeout > 0 {
			// The node's own timeout is enforced inside the activity (it kills
			// the process group); the activity gets a little longer to report it.
			startToClose = node.Timeout + 30*time.Second
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: startToClose,
			HeartbeatTimeout:    in.Policy.HeartbeatTimeout,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval:        in.Policy.InitialInterval,
				BackoffCoefficient:     2,
				MaximumAttempts:        in.Policy.MaxAttempts,
				NonRetryableErrorTypes: []string{errTypeNode, errTypePayloadSize},
			},
		})
		var out NodeOutput
		nin := NodeInput{Segment: meta, Node: node, State: state}
		for i := range in.Recordings {
			if in.Recordings[i].RunKey == node.RunKey && node.RunKey != "" {
				nin.Recordings = &in.Recordings[i]
			}
		}
		if err := workflow.ExecuteActivity(actx, activityName, nin).Get(ctx, &out); err != nil {
			return err
		}
		state = out.State
	}
	return nil
}

// nodeWorker runs node activities with the SDK executor, the same code the
// pool runner uses.
type nodeWorker struct {
	exec     *executor.Executor
	workerID string
}

// captureEvents keeps a node's checkpoint (or failure) and stderr lines.
type captureEvents struct {
	mu      sync.Mutex
	result  *sdk.NodeResult
	failure *sdk.NodeFailure
	logs    []string
}

func (c *captureEvents) NodeStarted(string, string) {}
func (c *captureEvents) NodeFinished(r sdk.NodeResult) {
	c.mu.Lock()
	c.result = &r
	c.mu.Unlock()
}
func (c *captureEvents) NodeFailed(f sdk.NodeFailure) {
	c.mu.Lock()
	c.failure = &f
	c.mu.Unlock()
}
func (c *captureEvents) Log(_ string, _ sdk.LogStream, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.logs) < 200 {
		c.logs = append(c.logs, line)
	}
}

// RunNode is the node activity. It heartbeats while the node runs, so a worker
// that dies is noticed within the heartbeat timeout and the node is retried
// on another worker.
func (w *nodeWorker) RunNode(ctx context.Context, in NodeInput) (NodeOutput, error) {
	hbCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	seg := in.Segment
	// The node sees the variants of the nodes up to itself, as on every runner
	// (the executor drops those of later nodes in the request; here the
	// request holds this node alone).
	variants := make(map[string]string, len(seg.Variants))
	for k, v := range seg.Variants {
		variants[k] = v
	}
	later := false
	for _, n := range seg.Nodes {
		if later {
			delete(variants, n.Name)
		}
		later = later || n.Name == in.Node.Name
	}
	req := &sdk.ExecuteRequest{ExecutionKey: seg.ExecutionKey, Attempt: seg.Attempt, BatchID: seg.BatchID,
		Combination: seg.Combination, Variants: variants, Case: seg.Case, RepeatIndex: seg.Repeat,
		Nodes: []sdk.Node{in.Node}, StartState: in.State, Env: seg.Env, ModelCalls: seg.ModelCalls}
	if in.Recordings != nil {
		req.Recordings = []sdk.Recordings{*in.Recordings}
	}
	ev := &captureEvents{}
	out := w.exec.Execute(ctx, req, ev)
	if out.Status != sdk.StatusSucceeded || ev.result == nil {
		if ctx.Err() != nil {
			return NodeOutput{}, ctx.Err() // cancelled or timed out: Temporal decides
		}
		f := NodeFailure{Node: in.Node.Name, Message: out.Error, Kind: out.FailureKind, Retryable: out.Retryable, WorkerID: w.workerID}
		if ev.failure != nil {
			f.Interactions, f.Spans = ev.failure.Interactions, ev.failure.Spans
		}
		if out.Retryable {
			return NodeOutput{}, temporal.NewApplicationError(out.Error, "WTBRetryableNodeFailure", f)
		}
		return NodeOutput{}, temporal.NewNonRetryableApplicationError(out.Error, errTypeNode, nil, f)
	}
	r := ev.result
	if limit := seg.Policy.MaxPayloadBytes; limit > 0 && len(r.State) > limit/2 {
		if c := compressedSize(r.State); c > limit {
			msg := fmt.Sprintf("node %q produced a state of %s (%s compressed); the Temporal runner's payload limit is %s (max_payload_bytes, bounded by the server's blob size limit)",
				in.Node.Name, humanBytes(len(r.State)), humanBytes(c), humanBytes(limit))
			return NodeOutput{}, temporal.NewNonRetryableApplicationError(msg, errTypePayloadSize, nil,
				NodeFailure{Node: in.Node.Name, Message: msg, Kind: sdk.FailureOutputTooLarge, WorkerID: w.workerID})
		}
	}
	return NodeOutput{Node: r.Node, State: r.State, Output: r.Output, Metrics: r.Metrics, Duration: r.Duration,
		WorkerID: w.workerID, Logs: ev.logs, Interactions: r.Interactions, Spans: r.Spans}, nil
}

// failureOf extracts our NodeFailure from a workflow or activity error chain.
func failureOf(err error) (NodeFailure, bool) {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.HasDetails() {
		var f NodeFailure
		if app.Details(&f) == nil && f.Node != "" {
			return f, true
		}
	}
	return NodeFailure{}, false
}
