package traceout

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
)

// nodeRun is what a node run's span says.
type nodeRun struct {
	node, variant, source, worker, checkpoint, outcome, err string
	// owner is the execution the run belongs to (see Execution.Owner).
	owner string
	// attempt is the failed attempt's number (0: the run that succeeded).
	attempt    int
	start, end time.Time
	metrics    map[string]float64
	// row holds the run's stored spans.
	row *store.NodeSpans
	// calls are the sources of the run's model calls, by ordinal.
	calls []string
}

// replayed says every model call of a run (at least one) was answered from
// recordings.
func replayed(calls []string) bool {
	for _, c := range calls {
		if c != sdk.SourceReplayed {
			return false
		}
	}
	return len(calls) > 0
}

func (t *Trace) addNodeRun(res *store.Result, parent []byte, run nodeRun) {
	trace := t.traceID
	var spans []sdk.Span
	var own *sdk.Span
	if run.row != nil && len(run.row.Spans) > 0 {
		if err := json.Unmarshal(run.row.Spans, &spans); err == nil {
			for i := range spans {
				if spans[i].Source == sdk.SpanSourceWTB && own == nil {
					own = &spans[i]
				}
			}
		}
	}
	// A run reused from the node cache or a fork's parent brings the spans
	// it had when it ran, under their ids then: several executions of one
	// batch may reuse the same run, so their ids are made anew, per node run.
	ident := func(old string) []byte {
		b, err := hex.DecodeString(old)
		if err != nil || len(b) != 8 {
			return nil
		}
		if run.source == SourceCached || run.source == SourceForked {
			return spanID("wtb.reused", t.batchID, run.checkpoint, old)
		}
		return b
	}
	if run.owner == "" {
		run.owner = res.ExecutionKey
	}
	if run.source == SourceRan && replayed(run.calls) {
		run.source = SourceReplayed
	}
	// The owner's span of the run: the stored one's id, or one derived
	// from the owner's key.
	ownerID := nodeRunSpanID(t.batchID, run.owner, run.node, run.attempt)
	if own != nil {
		if b := ident(own.SpanID); b != nil {
			ownerID = b
		}
	}
	shared := run.owner != "" && run.owner != res.ExecutionKey
	id := ownerID
	if shared {
		// A span of its own in this execution, linking to the run's, and
		// none of the run's spans (they are beneath the owner's).
		id, spans = nodeRunSpanID(t.batchID, res.ExecutionKey, run.node, run.attempt), nil
	}
	start, end := run.start, run.end
	if own != nil {
		if !own.Start.IsZero() {
			start, end = own.Start, own.End
		}
		if run.err == "" && own.Status == "error" {
			run.err = own.StatusMessage
		}
	}
	s := t.a.span()
	*s = tracev1.Span{TraceId: trace, SpanId: id, ParentSpanId: parent, Name: "node " + run.node, Kind: tracev1.Span_SPAN_KIND_INTERNAL,
		StartTimeUnixNano: nanos(start), EndTimeUnixNano: nanos(maxTime(start, end)),
		Attributes: append(make([]*commonv1.KeyValue, 0, 10+2*len(run.metrics)),
			t.a.str("wtb.node", run.node), t.a.str("wtb.node_run.source", run.source), t.a.str("wtb.outcome", run.outcome))}
	if run.variant != "" {
		s.Attributes = append(s.Attributes, t.a.str("wtb.variant", run.variant))
	}
	if run.worker != "" {
		s.Attributes = append(s.Attributes, t.a.str("wtb.worker", run.worker))
	}
	if run.checkpoint != "" {
		s.Attributes = append(s.Attributes, t.a.str("wtb.checkpoint.id", run.checkpoint))
	}
	if run.attempt > 0 {
		s.Attributes = append(s.Attributes, t.a.integer("wtb.attempt", int64(run.attempt)))
	}
	if shared {
		s.Attributes = append(s.Attributes, t.a.str("wtb.node_run.shared_from", run.owner))
		s.Links = append(s.Links, &tracev1.Span_Link{TraceId: trace, SpanId: ownerID,
			Attributes: []*commonv1.KeyValue{t.a.str("wtb.link", "the node run this execution shares")}})
	}
	if run.row != nil && run.row.Dropped > 0 {
		s.Attributes = append(s.Attributes, t.a.integer("wtb.spans_dropped", int64(run.row.Dropped)))
	}
	for _, name := range sortedKeys(run.metrics) {
		v := run.metrics[name]
		switch name {
		case "wtb.llm.input_tokens":
			s.Attributes = append(s.Attributes, t.a.integer("gen_ai.usage.input_tokens", int64(v)))
		case "wtb.llm.output_tokens":
			s.Attributes = append(s.Attributes, t.a.integer("gen_ai.usage.output_tokens", int64(v)))
		}
		if !strings.HasPrefix(name, "wtb.") {
			name = "wtb.metric." + name
		}
		s.Attributes = append(s.Attributes, t.a.double(name, v))
	}
	if run.outcome == store.ResultFailed {
		s.Status = t.a.status(tracev1.Status_STATUS_CODE_ERROR, run.err)
	} else {
		s.Status = t.a.status(tracev1.Status_STATUS_CODE_OK, "")
	}
	t.add(Service, Service, s)

	// The node's own spans and the stand-ins, beneath the node run: a span
	// whose parent is not among them (a root of the node's own making, or
	// the node run's stored span) hangs from the node run's span.
	ids := map[string]bool{}
	for _, sp := range spans {
		if sp.Source != sdk.SpanSourceWTB {
			ids[sp.SpanID] = true
		}
	}
	for _, sp := range spans {
		if sp.Source == sdk.SpanSourceWTB {
			continue
		}
		sid := ident(sp.SpanID)
		if sid == nil {
			continue
		}
		parentID := id
		if ids[sp.ParentID] && sp.ParentID != sp.SpanID {
			parentID = ident(sp.ParentID)
		}
		s := Span(sp, trace, parentID)
		s.SpanId = sid
		if sp.Source == sdk.SpanSourceGateway {
			callSource(s, run.calls)
		}
		t.add(serviceOf(sp, run.node), sp.Scope, s)
	}
}

// callSource sets a stand-in span's wtb.call.source to its model call's
// source as wtb_model_calls has it (live, recorded, replayed): the span was
// made in the executor, the row is what the host stored of the call.
func callSource(s *tracev1.Span, calls []string) {
	var ordinal *commonv1.AnyValue
	var source *commonv1.KeyValue
	for _, kv := range s.Attributes {
		switch kv.GetKey() {
		case "wtb.call.ordinal":
			ordinal = kv.GetValue()
		case "wtb.call.source":
			source = kv
		}
	}
	if ordinal == nil {
		return
	}
	n, ok := ordinal.GetValue().(*commonv1.AnyValue_IntValue)
	if !ok || n.IntValue < 0 || n.IntValue >= int64(len(calls)) || calls[n.IntValue] == "" {
		return
	}
	if source == nil {
		s.Attributes = append(s.Attributes, str("wtb.call.source", calls[n.IntValue]))
		return
	}
	source.Value = &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: calls[n.IntValue]}}
}

func serviceOf(sp sdk.Span, node string) string {
	switch {
	case sp.Service != "":
		return sp.Service
	case sp.Source == sdk.SpanSourceGateway:
		return "wtb-gateway"
	}
	return node
}

// attemptOf splits a failed attempt's run id STEP#aN (0: not one).
func attemptOf(runID string) (string, int) {
	i := strings.LastIndex(runID, "#a")
	if i < 0 {
		return runID, 0
	}
	n, err := strconv.Atoi(runID[i+2:])
	if err != nil || n <= 0 {
		return runID, 0
	}
	return runID[:i], n
}
