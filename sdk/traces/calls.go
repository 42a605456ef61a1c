package traces

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// slack is how far before an instrumented span's start a gateway call may
// start and still be the call the span describes: both clocks are this
// machine's, and the span starts before the request is written, so the slack
// only absorbs clock reads taken in another order.
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
// of the node's own spans describes, so a node with no instrumentation still
// shows its model turns. A node span describes a call when it is a gen_ai
// span other than execute_tool and the call arrived at the gateway while the
// span was open. Only the call's arrival is compared: the gateway finishes
// its bookkeeping after the node has read the answer (on a loaded machine
// well after the node's span ended), so the call's end says nothing. One
// span may describe several calls: a client library's own retries happen
// inside its span. The spans it adds hang from the node run's span.
func (run *Run) WithCalls(s sdk.Spans, calls []sdk.Interaction) sdk.Spans {
	for _, c := range calls {
		if c.Method == "" || c.Started.IsZero() {
			continue
		}
		// Started is when the attempt that answered was sent, after the
		// call's QueueTime in the gateway: the call arrived at from.
		from := c.Started.Add(-c.QueueTime)
		to := c.Started.Add(c.Duration)
		matched := false
		for i := range s.Spans {
			sp := &s.Spans[i]
			if sp.Source != sdk.SpanSourceNode {
				continue
			}
			op := StringAttr(sp.Attributes, "gen_ai.operation.name")
			if op == "" || op == "execute_tool" {
				continue
			}
			if !from.Before(sp.Start.Add(-slack)) && !from.After(sp.End) {
				matched = true
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
		if c.QueueTime > 0 {
			// The span runs from the call's arrival, as the node saw it; this
			// much of it was spent waiting in the gateway for a turn.
			attrs["wtb.call.queue_ms"] = float64(c.QueueTime) / float64(time.Millisecond)
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
