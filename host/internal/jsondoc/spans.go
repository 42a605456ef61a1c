package jsondoc

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/trajectory"
	"github.com/wtbench/wtb/sdk"
)

// Span is one span of a node run, placed on the node run's timeline.
type Span struct {
	SpanID   string `json:"span_id"`
	ParentID string `json:"parent_span_id"`
	TraceID  string `json:"trace_id"`
	// Depth is the span's depth in its node run's tree (0: a root).
	Depth int    `json:"depth"`
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	// OffsetMs is when it started, from the start of the node run's first
	// span; DurationMs how long it took.
	OffsetMs   float64 `json:"offset_ms"`
	DurationMs float64 `json:"duration_ms"`
	// Start is when it started (the node's clock): the viewer lays node
	// runs out on the execution's timeline by it.
	Start         time.Time `json:"start"`
	Status        string    `json:"status"`
	StatusMessage string    `json:"status_message"`
	// Source is node (the node's instrumentation), gateway (a model call
	// no span of the node's describes) or wtb (the node run itself).
	Source       string          `json:"source"`
	Attempt      int             `json:"attempt"`
	Model        string          `json:"model"`
	InputTokens  int64           `json:"input_tokens"`
	OutputTokens int64           `json:"output_tokens"`
	ToolName     string          `json:"tool_name"`
	Attributes   json.RawMessage `json:"attributes"`
}

// SpanPage is a page of a node run's spans in an execution, in the tree
// order of the execution document's: what the viewer fetches as the user
// asks for more rows.
type SpanPage struct {
	Header
	BatchID      string `json:"batch_id"`
	ExecutionKey string `json:"execution_key"`
	Node         string `json:"node"`
	Offset       int    `json:"offset"`
	Limit        int    `json:"limit"`
	// Total is how many spans the node run kept; Dropped how many it did
	// not (past its bound).
	Total   int    `json:"total"`
	Dropped int    `json:"dropped"`
	Spans   []Span `json:"spans"`
	// NextOffset is the offset of the next page (nil: this is the last).
	NextOffset *int `json:"next_offset"`
}

// SpanPageOf is the page of node's spans from offset (at most limit) in an
// execution document; false when the execution has no such node.
func SpanPageOf(d ExecutionDetail, node string, offset, limit int) (SpanPage, bool) {
	for _, n := range d.Nodes {
		if n.Node != node {
			continue
		}
		p := SpanPage{Header: header(KindSpans), BatchID: d.BatchID, ExecutionKey: d.Execution.ExecutionKey, Node: node, Offset: offset, Limit: limit,
			Total: len(n.Spans), Dropped: n.SpansDropped, Spans: []Span{}}
		if offset < len(n.Spans) {
			end := min(len(n.Spans), offset+limit)
			p.Spans = n.Spans[offset:end]
			if end < len(n.Spans) {
				p.NextOffset = &end
			}
		}
		return p, true
	}
	return SpanPage{}, false
}

// spansByNode places each node's spans in tree order (parents before their
// children, siblings by start), with their tool calls and how many spans
// were dropped past the node run's bound.
func spansByNode(rows []store.NodeSpans, red *spec.Redactor) (map[string][]Span, map[string][]trajectory.Step, map[string]int) {
	spans, tools, dropped := map[string][]Span{}, map[string][]trajectory.Step{}, map[string]int{}
	for _, row := range rows {
		attempt := 0
		if i := strings.LastIndex(row.RunID, "#a"); i >= 0 {
			attempt, _ = strconv.Atoi(row.RunID[i+2:])
		}
		var list []sdk.Span
		if json.Unmarshal(red.JSON(row.Spans), &list) != nil {
			continue
		}
		dropped[row.Node] += row.Dropped
		tools[row.Node] = append(tools[row.Node], trajectory.Tools(trajectory.Steps(row.Node, list))...)
		spans[row.Node] = append(spans[row.Node], tree(list, attempt)...)
	}
	return spans, tools, dropped
}

// tree orders spans depth first from their roots (a span whose parent is not
// among them is a root), siblings by start.
func tree(list []sdk.Span, attempt int) []Span {
	if len(list) == 0 {
		return nil
	}
	ids := map[string]bool{}
	first := list[0].Start
	for _, s := range list {
		ids[s.SpanID] = true
		if s.Start.Before(first) {
			first = s.Start
		}
	}
	children := map[string][]int{}
	var roots []int
	for i, s := range list {
		if s.ParentID != "" && ids[s.ParentID] && s.ParentID != s.SpanID {
			children[s.ParentID] = append(children[s.ParentID], i)
		} else {
			roots = append(roots, i)
		}
	}
	byStart := func(idx []int) {
		sort.SliceStable(idx, func(a, b int) bool { return list[idx[a]].Start.Before(list[idx[b]].Start) })
	}
	var out []Span
	seen := map[int]bool{}
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if seen[i] {
			return
		}
		seen[i] = true
		s := list[i]
		a := trajectory.Attrs(&s)
		sp := Span{SpanID: s.SpanID, ParentID: s.ParentID, TraceID: s.TraceID, Depth: depth, Name: s.Name, Kind: s.Kind,
			OffsetMs: ms(s.Start.Sub(first).Seconds()), DurationMs: ms(s.End.Sub(s.Start).Seconds()), Start: s.Start.UTC(), Status: s.Status,
			StatusMessage: s.StatusMessage, Source: s.Source, Attempt: attempt, Attributes: s.Attributes}
		if sp.Attributes == nil {
			sp.Attributes = json.RawMessage("{}")
		}
		if m, _ := a["gen_ai.response.model"].(string); m != "" {
			sp.Model = m
		} else if m, _ := a["gen_ai.request.model"].(string); m != "" {
			sp.Model = m
		}
		if f, ok := a["gen_ai.usage.input_tokens"].(float64); ok {
			sp.InputTokens = int64(f)
		}
		if f, ok := a["gen_ai.usage.output_tokens"].(float64); ok {
			sp.OutputTokens = int64(f)
		}
		sp.ToolName, _ = a["gen_ai.tool.name"].(string)
		out = append(out, sp)
		kids := children[s.SpanID]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	byStart(roots)
	for _, r := range roots {
		walk(r, 0)
	}
	return out
}

func ms(seconds float64) float64 { return float64(int64(seconds*1e6+0.5)) / 1e3 }
