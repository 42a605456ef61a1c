// Package trajectory reads what an agent did inside a node run from its
// spans: its model turns and its tool calls, in the order they started.
//
// A tool call is taken from two places: a span whose gen_ai.operation.name
// is execute_tool (gen_ai.tool.name, gen_ai.tool.call.arguments), which is
// the tool actually run; and, from a model turn's gen_ai.output.messages (the
// instrumentation's message capture, when it is on), the tool calls the model
// asked for that no execute_tool span shows. A model turn is any other span
// with a gen_ai.operation.name (chat, text_completion, generate_content, ...).
package trajectory

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// Step is a model turn or a tool call.
type Step struct {
	// Kind is "model" or "tool".
	Kind string `json:"kind"`
	// Name is the tool's name, or the operation and model of a turn.
	Name string `json:"name"`
	// Arguments are a tool call's arguments (JSON; null when unknown).
	Arguments json.RawMessage `json:"arguments"`
	// Source of a tool call: "executed" (an execute_tool span) or
	// "requested" (asked for by a model turn, no execute_tool span seen).
	Source       string    `json:"source,omitempty"`
	Model        string    `json:"model,omitempty"`
	InputTokens  int64     `json:"input_tokens,omitempty"`
	OutputTokens int64     `json:"output_tokens,omitempty"`
	Node         string    `json:"node,omitempty"`
	Start        time.Time `json:"-"`
	Error        string    `json:"error,omitempty"`
}

// Attrs decodes a span's attributes (nil: none or not an object).
func Attrs(s *sdk.Span) map[string]any {
	if len(s.Attributes) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(s.Attributes, &m) != nil {
		return nil
	}
	return m
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func num(m map[string]any, k string) int64 {
	if f, ok := m[k].(float64); ok {
		return int64(f)
	}
	return 0
}

// arguments keeps a tool call's arguments as JSON: a JSON string that holds
// JSON is decoded once (instrumentations record them as a string).
func arguments(v any) json.RawMessage {
	switch x := v.(type) {
	case nil:
		return json.RawMessage("null")
	case string:
		if json.Valid([]byte(x)) {
			return json.RawMessage(x)
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// Steps are the model turns and tool calls among a node run's spans, in the
// order they started.
func Steps(node string, spans []sdk.Span) []Step {
	var out []Step
	var requested []Step
	executed := map[string]int{}
	for i := range spans {
		s := &spans[i]
		a := Attrs(s)
		op := str(a, "gen_ai.operation.name")
		if op == "" {
			continue
		}
		errMsg := ""
		if s.Status == "error" {
			errMsg = s.StatusMessage
			if errMsg == "" {
				errMsg = "error"
			}
		}
		if op == "execute_tool" {
			name := str(a, "gen_ai.tool.name")
			executed[name]++
			out = append(out, Step{Kind: "tool", Name: name, Arguments: arguments(a["gen_ai.tool.call.arguments"]),
				Source: "executed", Node: node, Start: s.Start, Error: errMsg})
			continue
		}
		model := str(a, "gen_ai.response.model")
		if model == "" {
			model = str(a, "gen_ai.request.model")
		}
		name := op
		if model != "" {
			name += " " + model
		}
		out = append(out, Step{Kind: "model", Name: name, Model: model, Node: node, Start: s.Start, Error: errMsg,
			InputTokens: num(a, "gen_ai.usage.input_tokens"), OutputTokens: num(a, "gen_ai.usage.output_tokens"),
			Arguments: json.RawMessage("null")})
		for _, tc := range requestedTools(a["gen_ai.output.messages"]) {
			tc.Node, tc.Start = node, s.End
			requested = append(requested, tc)
		}
	}
	// A tool the model asked for shows as executed when an execute_tool span
	// of that name is there; the others as requested.
	for _, tc := range requested {
		if executed[tc.Name] > 0 {
			executed[tc.Name]--
			continue
		}
		out = append(out, tc)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// requestedTools reads the tool_call parts of gen_ai.output.messages (a
// JSON string or an array of {role, parts: [{type, name, arguments}]}).
func requestedTools(v any) []Step {
	if s, ok := v.(string); ok {
		if json.Unmarshal([]byte(s), &v) != nil {
			return nil
		}
	}
	msgs, _ := v.([]any)
	var out []Step
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		parts, _ := mm["parts"].([]any)
		for _, p := range parts {
			pm, _ := p.(map[string]any)
			if str(pm, "type") != "tool_call" {
				continue
			}
			out = append(out, Step{Kind: "tool", Name: str(pm, "name"), Arguments: arguments(pm["arguments"]), Source: "requested"})
		}
	}
	return out
}

// Tools are the tool calls among steps.
func Tools(steps []Step) []Step {
	var out []Step
	for _, s := range steps {
		if s.Kind == "tool" {
			out = append(out, s)
		}
	}
	return out
}

// SpanUsage is the usage a node's own gen_ai spans report: Turns model calls
// its instrumentation saw, Reported of which gave their tokens.
type SpanUsage struct {
	Turns, Reported int
	Input, Output   int64
}

// Usage sums the usage the node's own spans report over its model calls. The
// gateway's stand-in spans are left out (they repeat the gateway's figures),
// and so are agent and tool spans (invoke_agent, create_agent, execute_tool):
// where they give usage it sums their children's, which would count twice.
func Usage(spans []sdk.Span) SpanUsage {
	var u SpanUsage
	for i := range spans {
		s := &spans[i]
		if s.Source != sdk.SpanSourceNode {
			continue
		}
		a := Attrs(s)
		switch op := str(a, "gen_ai.operation.name"); op {
		case "", "execute_tool", "invoke_agent", "create_agent":
			continue
		}
		u.Turns++
		in, inOK := a["gen_ai.usage.input_tokens"].(float64)
		out, outOK := a["gen_ai.usage.output_tokens"].(float64)
		if inOK || outOK {
			u.Reported++
			u.Input += int64(in)
			u.Output += int64(out)
		}
	}
	return u
}
