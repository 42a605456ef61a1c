// Package executor runs workflow nodes for WTB runners: command nodes (a process
// that reads JSON on stdin and prints a JSON object), the built-in "merge" node,
// and node kinds a runner implements in Go. Every runner shipped with WTB uses
// it, so a node behaves the same on the local pool, on Temporal workers and in
// the reference gRPC environment.
package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
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

// NodeInput is what a node receives. A command node gets it as JSON on stdin.
//
// Everything in it is a function of the node run's identity — the state before
// the node, the node's configuration, the case, the repeat and the variants of
// the nodes up to this one — because that identity is what prefix sharing and
// the node cache key on: two runs that receive the same input may be served by
// one. What is not part of the identity is deliberately not passed: the case's
// expected values (the system under test never sees the answer key; evaluators
// do), the attempt number, and the variants of later nodes.
type NodeInput struct {
	// State is the state before the node, a JSON object.
	State     json.RawMessage   `json:"state"`
	Params    json.RawMessage   `json:"params"`
	Case      CaseInput         `json:"case"`
	Node      string            `json:"node"`
	Variant   string            `json:"variant"`
	Execution ExecutionInput    `json:"execution"`
	Env       map[string]string `json:"-"`
	// gw is the node run's use of the model-call gateway, when it has one.
	gw *nodeGateway
	// traces is the node run's use of the OTLP receiver, when it has one.
	traces *traces.Run
}

// CaseInput is the case as a node sees it.
type CaseInput struct {
	ID    string          `json:"id"`
	Input json.RawMessage `json:"input"`
}

// StateMap decodes the state, keeping numbers exact (json.Number).
func (in *NodeInput) StateMap() (map[string]any, error) {
	m := map[string]any{}
	err := decodeObject(in.State, &m)
	return m, err
}

// ExecutionInput tells a node which run it is.
type ExecutionInput struct {
	// Key names this node run: "case/repeat" followed by the variants of the
	// nodes up to this one, e.g. "capital-france/0/answer=terse,retrieve=bm25".
	// Stable across attempts, resumes and batches; use it as an idempotency key.
	Key    string `json:"key"`
	Repeat int    `json:"repeat"`
	// Variants maps the nodes up to and including this one to their variants.
	Variants map[string]string `json:"variants"`
}

// nodeRunInput is what node i of req sees of its execution.
func nodeRunInput(req *sdk.ExecuteRequest, i int) ExecutionInput {
	later := map[string]bool{}
	for _, n := range req.Nodes[i+1:] {
		later[n.Name] = true
	}
	variants := make(map[string]string, len(req.Variants))
	for node, v := range req.Variants {
		if !later[node] && v != "" {
			variants[node] = v
		}
	}
	return ExecutionInput{Key: RunKey(req.Case.ID, req.RepeatIndex, variants), Repeat: req.RepeatIndex, Variants: variants}
}

// RunKey is the key a node run gets: case, repeat and the variants so far in
// node-name order.
func RunKey(caseID string, repeat int, variants map[string]string) string {
	names := make([]string, 0, len(variants))
	for n := range variants {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%d", caseID, repeat)
	for i, n := range names {
		if i == 0 {
			b.WriteByte('/')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(n + "=" + variants[n])
	}
	return b.String()
}

// NodeFunc implements a node kind in Go. It returns the patch to merge into the
// state. Returning an *NodeError controls the failure kind and retryability.
type NodeFunc func(ctx context.Context, node sdk.Node, in *NodeInput, ev sdk.Events) (map[string]any, error)

// rawNodeFunc is a node kind that returns its patch with only the top level
// decoded (the built-ins do, so a command's output is scanned once and never
// decoded deeper).
type rawNodeFunc func(ctx context.Context, node sdk.Node, in *NodeInput, ev sdk.Events) (map[string]json.RawMessage, error)

func (f NodeFunc) raw() rawNodeFunc {
	return func(ctx context.Context, node sdk.Node, in *NodeInput, ev sdk.Events) (map[string]json.RawMessage, error) {
		if in.gw != nil {
			// A node kind in Go finds the gateway's base URLs (or proxy) in
			// in.Env, as a process finds them in its environment.
			env, closeChannel, err := in.gw.channel(in.Env)
			if err != nil {
				return nil, &NodeError{Kind: sdk.FailureInfrastructure, Retryable: true, Message: fmt.Sprintf("node %q: %v", node.Name, err)}
			}
			defer closeChannel()
			in.Env = mergedEnv(in.Env, envMap(env))
		}
		if in.traces != nil {
			// A node kind in Go finds its OTLP endpoint and TRACEPARENT in
			// in.Env too.
			in.Env = mergedEnv(in.Env, in.traces.Env())
		}
		patch, err := f(ctx, node, in, ev)
		if err != nil {
			return nil, err
		}
		out := make(map[string]json.RawMessage, len(patch))
		for k, v := range patch {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, &NodeError{Kind: sdk.FailureInvalidOutput, Message: fmt.Sprintf("node %q: encoding its output %q: %v", node.Name, k, err)}
			}
			out[k] = b
		}
		return out, nil
	}
}

// NodeError is a node failure with a kind.
type NodeError struct {
	Kind      sdk.FailureKind
	Message   string
	Retryable bool
	ExitCode  int
}

func (e *NodeError) Error() string { return e.Message }

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

// objectOutput checks a node's output is one JSON object and decodes its top level.
func objectOutput(node string, raw json.RawMessage) (map[string]json.RawMessage, *NodeError) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput,
			Message: fmt.Sprintf("node %q printed nothing on stdout; a node must print one JSON object (print {} to change nothing)", node)}
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput,
			Message: fmt.Sprintf("node %q: stdout is not a JSON object (%v): %s", node, err, quoteStart(trimmed, 120))}
	}
	if trimmed[0] != '{' {
		var v any
		_ = json.Unmarshal(trimmed, &v)
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput,
			Message: fmt.Sprintf("node %q: stdout is not a JSON object (got %s, want an object): %s", node, jsonKind(v), quoteStart(trimmed, 120))}
	}
	m, err := jsonobj.ShallowObject(trimmed)
	if err != nil {
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput, Message: fmt.Sprintf("node %q: stdout: %v", node, err)}
	}
	return m, nil
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

func runMerge(_ context.Context, node sdk.Node, in *NodeInput, _ sdk.Events) (map[string]json.RawMessage, error) {
	patch, nerr := objectOutput(node.Name, in.Params)
	if nerr != nil {
		return nil, nerr
	}
	return patch, nil
}

// extractMetrics takes the numeric "_metrics" object out of a node's output.
func extractMetrics(patch map[string]json.RawMessage) map[string]float64 {
	raw, ok := patch[MetricsKey]
	if !ok {
		return nil
	}
	delete(patch, MetricsKey)
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil
	}
	out := make(map[string]float64, len(obj))
	for k, v := range obj {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}

// decodeObject decodes a JSON object keeping numbers exact (json.Number), so a
// state passes through nodes without float rounding.
func decodeObject(data []byte, into *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("got %s, want an object", jsonKind(v))
	}
	*into = obj
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
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

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func orEmptyObject(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	return b
}

type workDirKey struct{}

func withWorkDir(ctx context.Context, dir string) context.Context {
	if dir == "" {
		return ctx
	}
	return context.WithValue(ctx, workDirKey{}, dir)
}

// WorkDir returns the working directory node kinds should use.
func WorkDir(ctx context.Context) string {
	s, _ := ctx.Value(workDirKey{}).(string)
	return s
}
