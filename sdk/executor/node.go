package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/traces"
)

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

func runMerge(_ context.Context, node sdk.Node, in *NodeInput, _ sdk.Events) (map[string]json.RawMessage, error) {
	patch, nerr := objectOutput(node.Name, in.Params)
	if nerr != nil {
		return nil, nerr
	}
	return patch, nil
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
