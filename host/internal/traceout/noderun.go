package traceout

import (
	"encoding/hex"
	"encoding/json"
	"slices"
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
	spans, whole := storedSpans(run.row)
	var own *sdk.Span
	for i := range spans {
		if whole && spans[i].Source == sdk.SpanSourceWTB && own == nil {
			own = &spans[i]
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
	ownerIDArray := nodeRunSpanIDArray(t.batchID, run.owner, run.node, run.attempt)
	ownerID := ownerIDArray[:]
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
		sharedID := nodeRunSpanIDArray(t.batchID, res.ExecutionKey, run.node, run.attempt)
		id, spans = sharedID[:], nil
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
	s := t.own()
	s.begin(trace, id, parent, "node ", run.node, nanos(start), nanos(maxTime(start, end)))
	s.str("wtb.node", run.node)
	s.str("wtb.node_run.source", run.source)
	s.str("wtb.outcome", run.outcome)
	if run.variant != "" {
		s.str("wtb.variant", run.variant)
	}
	if run.worker != "" {
		s.str("wtb.worker", run.worker)
	}
	if run.checkpoint != "" {
		s.str("wtb.checkpoint.id", run.checkpoint)
	}
	if run.attempt > 0 {
		s.integer("wtb.attempt", int64(run.attempt))
	}
	if shared {
		s.str("wtb.node_run.shared_from", run.owner)
	}
	if run.row != nil && run.row.Dropped > 0 {
		s.integer("wtb.spans_dropped", int64(run.row.Dropped))
	}
	eachSorted(run.metrics, func(name string, v float64) {
		switch name {
		case "wtb.llm.input_tokens":
			s.integer("gen_ai.usage.input_tokens", int64(v))
		case "wtb.llm.output_tokens":
			s.integer("gen_ai.usage.output_tokens", int64(v))
		}
		if strings.HasPrefix(name, "wtb.") {
			s.double(name, v)
		} else {
			s.doubleKey("wtb.metric.", name, v)
		}
	})
	if shared {
		s.link(trace, ownerID, "wtb.link", "the node run this execution shares")
	}
	if run.outcome == store.ResultFailed {
		s.status(tracev1.Status_STATUS_CODE_ERROR, run.err)
	} else {
		s.status(tracev1.Status_STATUS_CODE_OK, "")
	}
	s.end()
	t.n++

	// The node's own spans and the stand-ins, beneath the node run: a span
	// whose parent is not among them (a root of the node's own making, or
	// the node run's stored span) hangs from the node run's span.
	if len(spans) == 0 {
		return
	}
	// The node's spans keep their parent's id: a copy, so the node run's
	// stays on the stack for the runs that have none.
	runID := slices.Clone(id)
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
		parentID := runID
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

// storedSpans are a run's stored spans; whole says the row decoded without
// error (one that did not still gives the spans read before the error, which
// are sent, but not the run's own span from among them).
func storedSpans(row *store.NodeSpans) (spans []sdk.Span, whole bool) {
	if row == nil || len(row.Spans) == 0 {
		return nil, true
	}
	err := json.Unmarshal(row.Spans, &spans)
	return spans, err == nil
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
