package jsondoc

import (
	"encoding/json"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/statediff"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/trajectory"
)

// MaxDiffChanges bounds the changes listed per node run.
const MaxDiffChanges = 500

// ExecutionDetail is one execution node by node (wtb show, the viewer's
// execution page): the workflow as a graph with each node's status, and per
// node run its input and output, a nested diff, its logs.
type ExecutionDetail struct {
	Header
	BatchID string `json:"batch_id"`
	// Dataset is what the batch ran: its cases hash and git state.
	Dataset   Dataset         `json:"dataset"`
	Execution Execution       `json:"execution"`
	Input     json.RawMessage `json:"input"` // the case input: the state before the first node
	// Expected are the case's expected values (null: it has none).
	Expected json.RawMessage `json:"expected"`
	// Output is what the execution came out with, as the grid shows it.
	Output ExecutionOutput `json:"output"`
	// Evaluations are the evaluators in the bench's order, each with its
	// score and why, passes included.
	Evaluations []Evaluation `json:"evaluations"`
	// Logs are the failed node's lines and the runner's lines about the execution.
	Logs  []LogLine `json:"logs"`
	Nodes []NodeRun `json:"nodes"`
}

// ExecutionOutput is the value at Path in the final state (Evaluator names
// the evaluator whose path it is), or with Path "" the output of Node, the
// node that produced the final state. Found is false when there is none.
type ExecutionOutput struct {
	Path      string          `json:"path"`
	Evaluator string          `json:"evaluator"`
	Node      string          `json:"node"`
	Value     json.RawMessage `json:"value"`
	Found     bool            `json:"found"`
}

// Evaluation is one evaluator's verdict on an execution: Passed when its
// score reaches the batch's pass score, Reason why it scored so.
type Evaluation struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Weight float64 `json:"weight"`
	Rule   string  `json:"rule"`
	Score  float64 `json:"score"`
	Passed bool    `json:"passed"`
	Reason string  `json:"reason"`
	// ModelCalls are an llm_judge evaluator's calls for this execution (the
	// node "judge:NAME"), apart from the workflow's; none for other types.
	ModelCalls []ModelCall `json:"model_calls"`
}

// Node statuses in an execution: a node succeeded or failed as executions
// do (store.ResultSucceeded, store.ResultFailed), or never ran.
const (
	NodeSucceeded = store.ResultSucceeded
	NodeFailed    = store.ResultFailed
	NodeNotRun    = "not_run"
)

// NodeRun is one workflow node in an execution.
type NodeRun struct {
	Node      string   `json:"node"`
	Kind      string   `json:"kind"`
	Variant   string   `json:"variant"`
	DependsOn []string `json:"depends_on"`
	Position  int      `json:"position"`
	Status    string   `json:"status"`
	// Source says where a succeeded node's state came from: ran (for this
	// execution), shared (run once for executions with the same prefix),
	// cached (the node cache) or forked (the parent batch of a fork).
	Source       string             `json:"source"`
	DurationMs   float64            `json:"duration_ms"`
	WorkerID     string             `json:"worker_id"`
	CheckpointID string             `json:"checkpoint_id"`
	Metrics      map[string]float64 `json:"metrics"`
	InputState   json.RawMessage    `json:"input_state"`
	Output       json.RawMessage    `json:"output"`
	State        json.RawMessage    `json:"state"`
	// Diff is what the node changed in the state, down to the leaves.
	Diff          []statediff.Change `json:"diff"`
	DiffTruncated bool               `json:"diff_truncated"`
	Logs          []LogLine          `json:"logs"`
	// ModelCalls are the calls the node run made through the gateway (the
	// finished run's, then failed attempts'); none for a run reused from
	// the cache, a fork's parent or a stored checkpoint.
	ModelCalls []ModelCall `json:"model_calls"`
	// Spans are the node run's spans in tree order (the finished run's,
	// then failed attempts'); SpansDropped counts those past its bound.
	// SpansTotal is how many it kept: Spans may hold only the first of them
	// (the viewer's API sends a page, the rest come from its spans
	// endpoint; a report holds the first 500).
	Spans        []Span `json:"spans"`
	SpansTotal   int    `json:"spans_total"`
	SpansDropped int    `json:"spans_dropped"`
	// ToolCalls are the tool calls among its spans, in order.
	ToolCalls []trajectory.Step `json:"tool_calls"`
}

// ExecutionDetailOf describes an execution view.
func ExecutionDetailOf(v *application.ExecutionView) ExecutionDetail {
	red := v.Spec.Redactor()
	res := v.Result
	d := ExecutionDetail{Header: header(KindExecution), BatchID: v.Batch.ID, Dataset: DatasetOf(v.Batch), Execution: ExecutionOf(res, red),
		Input: json.RawMessage("{}"), Expected: orNull(red.JSON(v.Case.Expected)), Evaluations: []Evaluation{},
		Output: ExecutionOutput{Evaluator: v.OutputFrom, Node: v.OutputNode, Value: json.RawMessage("null"), Found: v.Found},
		Logs:   logsOf(res.Logs, red), Nodes: []NodeRun{}}
	if v.OutputPath != nil {
		d.Output.Path = v.OutputPath.String()
	}
	if v.Found {
		d.Output.Value = orNull(red.JSON(v.Output))
	}
	for _, ev := range v.Spec.Evaluators {
		score := res.Scores[ev.Name]
		d.Evaluations = append(d.Evaluations, Evaluation{Name: ev.Name, Type: ev.Type, Weight: ev.Weight, Rule: eval.Describe(ev),
			Score: score, Passed: res.Success && score >= v.Spec.PassScore, Reason: red.String(v.Reasons[ev.Name]), ModelCalls: []ModelCall{}})
		for _, c := range v.JudgeCalls[ev.Name] {
			last := &d.Evaluations[len(d.Evaluations)-1]
			last.ModelCalls = append(last.ModelCalls, modelCallOf(c, red))
		}
	}
	byNode := map[string]*store.Checkpoint{}
	calls := modelCallsByNode(v.ModelCalls, red)
	spans, tools, dropped := spansByNode(v.Spans, red)
	prevState := map[string]json.RawMessage{}
	var parent json.RawMessage
	for _, cp := range v.Chain {
		if cp.Source == store.SourceRoot {
			d.Input = red.JSON(cp.State)
		} else {
			byNode[cp.Node] = cp
			prevState[cp.Node] = parent
		}
		parent = cp.State
	}
	for i, n := range v.Spec.Workflow.Nodes {
		run := NodeRun{Node: n.Name, Kind: n.Kind, Variant: res.Variants[n.Name], DependsOn: list(n.DependsOn),
			Position: i + 1, Status: NodeNotRun, Metrics: map[string]float64{}, Diff: []statediff.Change{}, Logs: []LogLine{},
			InputState: json.RawMessage("null"), Output: json.RawMessage("null"), State: json.RawMessage("null"),
			ModelCalls: list(calls[n.Name]), Spans: list(spans[n.Name]), SpansDropped: dropped[n.Name], ToolCalls: list(tools[n.Name])}
		if cp := byNode[n.Name]; cp != nil {
			run.Status, run.Source = NodeSucceeded, cp.Source
			if cp.Source == store.SourceRan && cp.SegmentKey != res.ExecutionKey {
				run.Source = "shared"
			}
			run.DurationMs, run.WorkerID, run.CheckpointID = cp.DurationMs, cp.WorkerID, cp.ID
			run.Metrics, run.Logs = orEmpty(cp.Metrics), logsOf(cp.Logs, red)
			in := red.JSON(prevState[n.Name])
			run.InputState, run.Output, run.State = orNull(in), orNull(red.JSON(cp.Output)), orNull(red.JSON(cp.State))
			changes, more := statediff.Diff(statediff.Decode(in), statediff.Decode(run.State), MaxDiffChanges)
			run.Diff, run.DiffTruncated = list(changes), more
		} else if n.Name == res.FailedNode {
			run.Status = NodeFailed
		}
		run.SpansTotal = len(run.Spans)
		d.Nodes = append(d.Nodes, run)
	}
	return d
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}
