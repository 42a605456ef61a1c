package traces

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// slack is how far apart an instrumented span's and a gateway call's ends may
// be and still describe the same call: both clocks are this machine's, but
// the span starts before the request is written and ends after the answer
// is read.
const slack = 50 * time.Millisecond

// NodeRunSpan is the span of the node run itself, the parent that TRACEPARENT
// names: the root the node's spans hang from.
func (run *Run) NodeRunSpan(end time.Time, failure string) sdk.Span {
	s := sdk.Span{TraceID: run.traceID, SpanID: run.spanID, Name: run.node, Kind: "internal", Start: run.start.UTC(),
		End: end.UTC(), Status: "ok", Service: run.node, Scope: "wtb", Source: sdk.SpanSourceWTB}
	s.Attributes, _ = json.Marshal(map[string]any{"wtb.node": run.node})
	if failure != "" {
		s.Status, s.StatusMessage = "error", failure
	}
	return s
}

// WithCalls adds a gen_ai span for each model call the gateway saw that none
// of the node's own spans describes (a gen_ai span other than execute_tool
// whose time covers the call's), so a node with no instrumentation still
// shows its model turns. The spans it adds hang from the node run's span.
func (run *Run) WithCalls(s sdk.Spans, calls []sdk.Interaction) sdk.Spans {
	used := make([]bool, len(s.Spans))
	for _, c := range calls {
		if c.Method == "" || c.Started.IsZero() {
			continue
		}
		from, to := c.Started.Add(c.QueueTime), c.Started.Add(c.QueueTime+c.Duration)
		matched := false
		for i := range s.Spans {
			sp := &s.Spans[i]
			if used[i] || sp.Source != sdk.SpanSourceNode {
				continue
			}
			op := StringAttr(sp.Attributes, "gen_ai.operation.name")
			if op == "" || op == "execute_tool" {
				continue
			}
			if !sp.Start.After(from.Add(slack)) && !sp.End.Before(to.Add(-slack)) {
				used[i], matched = true, true
				break
			}
		}
		if matched {
			continue
		}
		attrs := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": c.Upstream,
			"http.request.method": c.Method, "url.path": c.Path, "wtb.call.ordinal": c.Ordinal, "wtb.call.source": c.Source}
		if c.Model != "" {
			attrs["gen_ai.request.model"] = c.Model
		}
		if c.Usage.Input > 0 || c.Usage.Output > 0 {
			attrs["gen_ai.usage.input_tokens"] = c.Usage.Input
			attrs["gen_ai.usage.output_tokens"] = c.Usage.Output
		}
		if c.Status != 0 {
			attrs["http.response.status_code"] = c.Status
		}
		status, msg := "ok", ""
		switch {
		case c.Error != "":
			status, msg = "error", c.Error
		case c.Status >= 400:
			status, msg = "error", fmt.Sprintf("the upstream answered %d", c.Status)
		}
		a, _ := json.Marshal(attrs)
		name := "chat"
		if c.Model != "" {
			name += " " + c.Model
		}
		s.Spans = append(s.Spans, sdk.Span{TraceID: run.traceID, SpanID: newSpanID(), ParentID: run.spanID, Name: name,
			Kind: "client", Start: from.UTC(), End: to.UTC(), Status: status, StatusMessage: msg, Attributes: a,
			Service: run.node, Scope: "wtb.gateway", Source: sdk.SpanSourceGateway})
	}
	return s
}

func newSpanID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// StringAttr is a span attribute's value when it is a string ("" otherwise).
func StringAttr(attrs json.RawMessage, key string) string {
	if len(attrs) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(attrs, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[key], &s) != nil {
		return ""
	}
	return s
}
