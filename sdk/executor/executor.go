// Package executor runs workflow nodes for WTB runners: command nodes (a process
// that reads JSON on stdin and prints a JSON object), the built-in "merge" node,
// and node kinds a runner implements in Go. Every runner shipped with WTB uses
// it, so a node behaves the same on the local pool, on Temporal workers and in
// the reference gRPC environment.
package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/gateway"
	"github.com/wtbench/wtb/sdk/internal/jsonobj"
	"github.com/wtbench/wtb/sdk/traces"
)

// Built-in node kinds.
const (
	KindCommand = "command"
	KindMerge   = "merge"
)

// DefaultMaxOutputBytes bounds a command node's stdout unless the node sets its own
// limit.
const DefaultMaxOutputBytes = 16 << 20

// RetryableExitCode is the exit status (EX_TEMPFAIL from sysexits.h) by which a
// command node says "try me again": the failure is marked retryable.
const RetryableExitCode = 75

// MetricsKey is the output key under which a node reports numeric metrics. It is
// taken out of the output and never merged into the state.
const MetricsKey = "_metrics"

// Options configure an Executor.
type Options struct {
	// Kinds adds node kinds implemented in Go (they may replace built-ins).
	Kinds map[string]NodeFunc
	// WorkerID is reported in events; defaults to "<hostname>/<pid>".
	WorkerID string
	// DefaultWorkingDir is used when the runtime env names none.
	DefaultWorkingDir string
	// Workers is the most persistent worker processes per node configuration
	// when the node's worker block does not say: the runner's concurrency.
	// Default 8.
	Workers int
}

// Executor runs the nodes of an execution segment. It is safe for concurrent use.
type Executor struct {
	kinds       map[string]rawNodeFunc
	workerID    string
	workDir     string
	counters    counters
	workers     workerPools
	workerLimit int

	gwOnce sync.Once
	gw     *gateway.Gateway
	gwErr  error

	recvOnce sync.Once
	recv     *traces.Receiver
	recvErr  error
}

// New returns an executor with the built-in kinds and those in opts.
func New(opts Options) *Executor {
	e := &Executor{kinds: map[string]rawNodeFunc{}, workerID: opts.WorkerID, workDir: opts.DefaultWorkingDir, workerLimit: opts.Workers}
	if e.workerLimit <= 0 {
		e.workerLimit = 8
	}
	e.kinds[KindCommand] = runCommand
	e.kinds[KindMerge] = runMerge
	for k, f := range opts.Kinds {
		e.kinds[k] = f.raw()
	}
	if e.workerID == "" {
		host, _ := os.Hostname()
		e.workerID = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	return e
}

// Close stops the executor's persistent worker processes and its model-call
// gateway.
func (e *Executor) Close() {
	e.workers.closeAll()
	if e.gw != nil {
		_ = e.gw.Close()
	}
	if e.recv != nil {
		_ = e.recv.Close()
	}
}

// receiver starts the OTLP receiver on first use.
func (e *Executor) receiver() (*traces.Receiver, error) {
	e.recvOnce.Do(func() { e.recv, e.recvErr = traces.New() })
	return e.recv, e.recvErr
}

// gateway starts the model-call gateway on first use: a runner whose
// batches call no model never listens on a port.
func (e *Executor) gateway() (*gateway.Gateway, error) {
	e.gwOnce.Do(func() { e.gw, e.gwErr = gateway.New() })
	return e.gw, e.gwErr
}

// WorkerID is the id this executor reports.
func (e *Executor) WorkerID() string { return e.workerID }

// Kinds lists the node kinds this executor runs.
func (e *Executor) Kinds() []string {
	out := make([]string, 0, len(e.kinds))
	for k := range e.kinds {
		out = append(out, k)
	}
	return out
}

// Execute runs req.Nodes in order from req.StartState, reporting events to ev.
// The state travels between nodes as JSON; only its top level is decoded to
// merge each node's output, so large states stay cheap and numbers exact.
func (e *Executor) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
	start := time.Now()
	e.counters.segments.Add(1)
	state, err := jsonobj.ShallowObject(req.StartState)
	if err != nil {
		return sdk.Outcome{Status: sdk.StatusFailed, Error: "start state is not a JSON object: " + err.Error(),
			FailureKind: sdk.FailureStart, Duration: time.Since(start), WorkerID: e.workerID}
	}
	stateJSON := jsonobj.EncodeObject(state)
	caseIn := CaseInput{ID: req.Case.ID, Input: orNull(req.Case.Input)}
	ctx = withWorkDir(ctx, e.workDirFor(req))
	// One budget for the request's node runs: it is the execution's.
	budget := gateway.NewBudget(req.ModelCalls)
	for i := range req.Nodes {
		node := req.Nodes[i]
		if err := ctx.Err(); err != nil {
			return e.stopped(ctx, node.Name, start, stateJSON)
		}
		kind := node.Kind
		if kind == "" {
			kind = KindCommand
		}
		run, ok := e.kinds[kind]
		if ok && kind == KindCommand && node.Worker != nil {
			run = e.runWorkerNode
		}
		nodeStart := time.Now()
		ev.NodeStarted(node.Name, e.workerID)
		if !ok {
			return e.fail(ev, start, &NodeError{Kind: sdk.FailureStart,
				Message: fmt.Sprintf("node %q has kind %q, which this runner does not support (it runs: %v)", node.Name, kind, e.Kinds())},
				node.Name, nodeStart, nil, sdk.Spans{})
		}
		in := &NodeInput{State: stateJSON, Params: orEmptyObject(node.Params), Case: caseIn, Node: node.Name,
			Variant: node.Variant, Execution: nodeRunInput(req, i), Env: mergedEnv(req.Env.Env, node.Env)}
		if req.ModelCalls != nil && kind != KindMerge {
			gw, err := e.gateway()
			if err != nil {
				return e.fail(ev, start, &NodeError{Kind: sdk.FailureInfrastructure, Retryable: true,
					Message: fmt.Sprintf("node %q: %v", node.Name, err)}, node.Name, nodeStart, nil, sdk.Spans{})
			}
			in.gw = &nodeGateway{gw: gw, cfg: req.ModelCalls, run: gateway.NewRun(req.ModelCalls, node.Name,
				req.RecordingsFor(node.RunKey), gateway.Secrets(req.ModelCalls, in.Env, os.LookupEnv)).WithBudget(budget)}
		}
		if kind != KindMerge && node.Worker == nil {
			// Every node process gets an OTLP endpoint of its own run (a
			// persistent worker serves many runs with one environment, so
			// its spans could not be told apart: it gets none).
			recv, err := e.receiver()
			if err != nil {
				return e.fail(ev, start, &NodeError{Kind: sdk.FailureInfrastructure, Retryable: true,
					Message: fmt.Sprintf("node %q: %v", node.Name, err)}, node.Name, nodeStart, nil, sdk.Spans{})
			}
			if in.traces, err = recv.NewRun(node.Name, traces.Limits{}); err != nil {
				return e.fail(ev, start, &NodeError{Kind: sdk.FailureInfrastructure, Retryable: true,
					Message: fmt.Sprintf("node %q: %v", node.Name, err)}, node.Name, nodeStart, nil, sdk.Spans{})
			}
		}
		nctx := ctx
		var cancel context.CancelFunc
		if node.Timeout > 0 {
			nctx, cancel = context.WithTimeoutCause(ctx, node.Timeout, errNodeTimeout)
		}
		e.counters.running.Add(1)
		patch, err := run(nctx, node, in, ev)
		e.counters.running.Add(-1)
		if cancel != nil {
			cancel()
		}
		var calls []sdk.Interaction
		var problem *gateway.Problem
		if in.gw != nil {
			calls, problem = in.gw.run.Finish()
			// Time the node's calls waited in the gateway (their upstream's
			// limits, retries after a push back) is no latency of the node or
			// of the execution: both clocks start that much later.
			if w := in.gw.run.Waited(); w > 0 {
				nodeStart, start = nodeStart.Add(w), start.Add(w)
			}
		}
		if err != nil || problem != nil {
			var ne *NodeError
			if err != nil {
				ne = classify(ctx, node, err)
			}
			ne = withProblem(node.Name, ne, problem)
			e.counters.nodeDone(kind, ne.Kind.String())
			return e.fail(ev, start, ne, node.Name, nodeStart, calls, nodeSpans(in.traces, calls, ne.Message))
		}
		e.counters.nodeDone(kind, "succeeded")
		metrics := extractMetrics(patch)
		if err := jsonobj.MergeShallow(state, patch); err != nil {
			return e.fail(ev, start, &NodeError{Kind: sdk.FailureInvalidOutput,
				Message: fmt.Sprintf("node %q: merging its output: %v", node.Name, err)}, node.Name, nodeStart, calls, nodeSpans(in.traces, calls, err.Error()))
		}
		stateJSON = jsonobj.EncodeObject(state)
		out := jsonobj.EncodeObject(patch)
		ev.NodeFinished(sdk.NodeResult{Node: node.Name, State: stateJSON, Output: out, Duration: time.Since(nodeStart),
			Metrics: metrics, WorkerID: e.workerID, Interactions: calls, Spans: nodeSpans(in.traces, calls, "")})
	}
	return sdk.Outcome{Status: sdk.StatusSucceeded, FinalState: stateJSON, Duration: time.Since(start), WorkerID: e.workerID}
}

func (e *Executor) workDirFor(req *sdk.ExecuteRequest) string {
	if req.Env.WorkingDir != "" {
		return req.Env.WorkingDir
	}
	return e.workDir
}

func (e *Executor) stopped(ctx context.Context, node string, start time.Time, state json.RawMessage) sdk.Outcome {
	return sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled before node " + node + ": " + context.Cause(ctx).Error(),
		FailedNode: node, FailureKind: sdk.FailureCancelled, Duration: time.Since(start), WorkerID: e.workerID, FinalState: state}
}

func (e *Executor) fail(ev sdk.Events, start time.Time, ne *NodeError, node string, nodeStart time.Time, calls []sdk.Interaction, spans sdk.Spans) sdk.Outcome {
	ev.NodeFailed(sdk.NodeFailure{Node: node, Error: ne.Message, Kind: ne.Kind, Retryable: ne.Retryable,
		Duration: time.Since(nodeStart), ExitCode: ne.ExitCode, Interactions: calls, Spans: spans})
	status := sdk.StatusFailed
	if ne.Kind == sdk.FailureCancelled {
		status = sdk.StatusCancelled
	}
	return sdk.Outcome{Status: status, Error: ne.Message, Retryable: ne.Retryable, FailedNode: node,
		FailureKind: ne.Kind, Duration: time.Since(start), WorkerID: e.workerID}
}

var errNodeTimeout = errors.New("node timeout")

// nodeSpans ends a node run's use of the OTLP receiver: the spans it kept,
// a gen_ai span for each model call none of them describes, and the node
// run's own span as their root (nothing at all when there is nothing else).
func nodeSpans(run *traces.Run, calls []sdk.Interaction, failure string) sdk.Spans {
	if run == nil {
		return sdk.Spans{}
	}
	end := time.Now()
	s := run.WithCalls(run.Finish(), calls)
	if len(s.Spans) == 0 && s.Dropped == 0 {
		return s
	}
	s.Spans = append([]sdk.Span{run.NodeRunSpan(end, failure)}, s.Spans...)
	return s
}

// classify turns any error from a node into a NodeError with a clear message.
func classify(execCtx context.Context, node sdk.Node, err error) *NodeError {
	var ne *NodeError
	if errors.As(err, &ne) {
		return ne
	}
	switch {
	case execCtx.Err() != nil:
		return &NodeError{Kind: sdk.FailureCancelled, Message: fmt.Sprintf("node %q cancelled: %v", node.Name, context.Cause(execCtx))}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errNodeTimeout):
		return &NodeError{Kind: sdk.FailureTimeout, Message: fmt.Sprintf("node %q timed out after %s", node.Name, node.Timeout)}
	}
	return &NodeError{Kind: sdk.FailureExit, Message: fmt.Sprintf("node %q failed: %v", node.Name, err)}
}

func mergedEnv(base, node map[string]string) map[string]string {
	if len(node) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(node))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range node {
		out[k] = v
	}
	return out
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
