// Package traceout turns a batch into one OpenTelemetry trace and sends it to
// an OTLP/HTTP collector: a batch span (the root), a span per execution, a
// span per node run beneath it, and the node's own spans (and the gateway's
// stand-ins) re-parented beneath their node run.
//
// Ids are derived from the batch id, the execution key and the node, so
// sending a stored batch again sends the same spans (most backends then
// replace rather than duplicate them). The node's own spans keep their span
// ids and their parent links; only their trace id becomes the batch's.
package traceout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	resourcev1 "go.opentelemetry.io/proto/otlp/resource/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Service is the service.name of WTB's own spans.
const Service = "wtb"

// Node run sources, as `wtb show` names them: ran for this execution,
// shared (run once for executions with the same prefix, by another of
// them), cached (the node cache) or forked (the parent batch of a fork);
// and replayed, a run that ran here but had every model call it made (at
// least one) answered from recordings, so what it did came from an earlier
// run. A forked run keeps its own name: like a cached one it did not run in
// this batch, but it comes from the fork's parent batch, not the node cache,
// and a reader of the trace asks "what did the fork reuse?".
const (
	SourceRan      = store.SourceRan
	SourceShared   = "shared"
	SourceCached   = store.SourceCached
	SourceForked   = store.SourceForked
	SourceReplayed = sdk.SourceReplayed
)

// TraceID is the trace id of a batch: 16 bytes derived from its id.
func TraceID(batchID string) []byte {
	h := sha256.Sum256([]byte("wtb.trace\x00" + batchID))
	return h[:16]
}

// spanID derives a span id from parts (never all zero: OTLP's "no id").
func spanID(parts ...string) []byte {
	var buf [256]byte
	b := buf[:0]
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	h := sha256.Sum256(b)
	id := h[:8]
	if bytes.Equal(id, make([]byte, 8)) {
		id[7] = 1
	}
	return id
}

// BatchSpanID is the id of a batch's root span.
func BatchSpanID(batchID string) []byte { return spanID("wtb.batch", batchID) }

// ExecutionSpanID is the id of an execution's span.
func ExecutionSpanID(batchID, key string) []byte { return spanID("wtb.execution", batchID, key) }

// nodeRunSpanID is the id of a node run's span when no stored span of the
// run names it: per execution, node and attempt (0: the run that made the
// checkpoint).
func nodeRunSpanID(batchID, key, node string, attempt int) []byte {
	return spanID("wtb.node_run", batchID, key, node, strconv.Itoa(attempt))
}

// Batch is what the batch span says.
type Batch struct {
	ID, Name, Status, Runner, Host, Version string
	Start, End                              time.Time
	// Total is the planned executions.
	Total int
}

// BatchOf describes a stored batch (End is now while it has not finished).
func BatchOf(rec *store.Batch) Batch {
	b := Batch{ID: rec.ID, Name: rec.Name, Status: rec.Status, Runner: rec.Runner, Host: rec.Host, Version: rec.Version,
		Start: rec.StartedAt, End: time.Now(), Total: rec.Total}
	if rec.FinishedAt != nil {
		b.End = *rec.FinishedAt
	}
	return b
}

// Execution is one stored execution with what its trace is made of.
type Execution struct {
	Result *store.Result
	// Chain is its checkpoints, the case's input (source root) first; only
	// their metadata is read.
	Chain []*store.Checkpoint
	// Spans are the span rows of its node runs: the checkpoints' (RunID the
	// checkpoint id) and failed attempts' (RunID step#aN).
	Spans []store.NodeSpans
	// Owner names, by step (checkpoint) id, the execution a node run
	// belongs to: with prefix sharing one run serves several executions;
	// the first of them in the plan has it (its spans beneath, source ran
	// or cached), the others a span with source shared that links to it.
	// A step it does not name belongs to this execution.
	Owner map[string]string
	// Calls are the sources (sdk.SourceLive, SourceRecorded,
	// SourceReplayed) of the model calls of its node runs, by run id (as
	// Spans) and then ordinal, as wtb_model_calls has them; a run it does
	// not name made none.
	Calls map[string][]string
}

// owner is the execution that has the node run of step id.
func (ex Execution) owner(id string) string {
	if k, ok := ex.Owner[id]; ok && k != "" {
		return k
	}
	return ex.Result.ExecutionKey
}

// Trace collects spans by resource (service) and scope, ready to send.
type Trace struct {
	batchID string
	traceID []byte
	// parent is the span the batch's span hangs from (nil: none).
	parent []byte
	// batchSpan is the batch span's id, the executions' parent.
	batchSpan []byte
	// a holds the messages of WTB's own spans.
	a       arena
	version string
	res     map[string]*tracev1.ResourceSpans
	scopes  map[[2]string]*tracev1.ScopeSpans
	order   []string
	n       int
}

// NewTrace starts a trace of a batch; version is wtb's (service.version).
// Under a parent (TRACEPARENT) the batch is part of the parent's trace and
// its span hangs from the parent's span; else the trace is the batch's own.
func NewTrace(batchID, version string, parent *Parent) *Trace {
	t := &Trace{batchID: batchID, traceID: TraceID(batchID), batchSpan: BatchSpanID(batchID), version: version, res: map[string]*tracev1.ResourceSpans{}, scopes: map[[2]string]*tracev1.ScopeSpans{}}
	if parent != nil {
		t.traceID, t.parent = parent.TraceID, parent.SpanID
	}
	return t
}

// TraceIDHex is the id of the trace the spans go to, in hex.
func (t *Trace) TraceIDHex() string { return hex.EncodeToString(t.traceID) }

// Parent is the span a batch's trace hangs from: a W3C traceparent's, as
// OpenTelemetry tools take it from TRACEPARENT.
type Parent struct {
	TraceID, SpanID []byte
}

// ParseTraceparent reads a W3C traceparent (version 00: 00-TRACE-SPAN-FLAGS,
// lowercase hex, neither id all zero).
func ParseTraceparent(v string) (*Parent, error) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	bad := func(why string) error {
		return fmt.Errorf("TRACEPARENT %q is not a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>): %s", v, why)
	}
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) {
		return nil, bad("not four fields of version 00")
	}
	trace, err1 := hex.DecodeString(parts[1])
	span, err2 := hex.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(trace) != 16 || len(span) != 8 || len(parts[3]) != 2 || parts[1] != strings.ToLower(parts[1]) ||
		parts[2] != strings.ToLower(parts[2]) {
		return nil, bad("the ids are not lowercase hex of 16 and 8 bytes")
	}
	if bytes.Equal(trace, make([]byte, 16)) || bytes.Equal(span, make([]byte, 8)) {
		return nil, bad("an id is all zeros")
	}
	return &Parent{TraceID: trace, SpanID: span}, nil
}

// Len is the number of spans added.
func (t *Trace) Len() int { return t.n }

// ResourceSpans are the spans added, one resource per service.
func (t *Trace) ResourceSpans() []*tracev1.ResourceSpans {
	out := make([]*tracev1.ResourceSpans, 0, len(t.order))
	for _, s := range t.order {
		out = append(out, t.res[s])
	}
	return out
}

func (t *Trace) add(service, scope string, s *tracev1.Span) {
	if service == "" {
		service = "unknown_service"
	}
	rs := t.res[service]
	if rs == nil {
		attrs := []*commonv1.KeyValue{str("service.name", service)}
		if service == Service {
			attrs = append(attrs, str("service.version", t.version))
		}
		rs = &tracev1.ResourceSpans{Resource: &resourcev1.Resource{Attributes: attrs}}
		t.res[service] = rs
		t.order = append(t.order, service)
	}
	k := [2]string{service, scope}
	ss := t.scopes[k]
	if ss == nil {
		ss = &tracev1.ScopeSpans{Scope: &commonv1.InstrumentationScope{Name: scope}}
		if service == Service {
			ss.Scope.Version = t.version
		}
		rs.ScopeSpans = append(rs.ScopeSpans, ss)
		t.scopes[k] = ss
	}
	ss.Spans = append(ss.Spans, s)
	t.n++
}

// AddBatch adds the batch's root span.
func (t *Trace) AddBatch(b Batch) {
	s := t.a.span()
	*s = tracev1.Span{TraceId: t.traceID, SpanId: BatchSpanID(b.ID), ParentSpanId: t.parent, Name: "batch " + b.Name, Kind: tracev1.Span_SPAN_KIND_INTERNAL,
		StartTimeUnixNano: nanos(b.Start), EndTimeUnixNano: nanos(maxTime(b.Start, b.End)),
		Attributes: []*commonv1.KeyValue{t.a.str("wtb.batch.id", b.ID), t.a.str("wtb.batch.name", b.Name), t.a.str("wtb.batch.status", b.Status),
			t.a.str("wtb.runner", b.Runner), t.a.integer("wtb.batch.executions", int64(b.Total))}}
	if b.Host != "" {
		s.Attributes = append(s.Attributes, t.a.str("host.name", b.Host))
	}
	switch b.Status {
	case store.StatusFailed:
		s.Status = t.a.status(tracev1.Status_STATUS_CODE_ERROR, "batch failed")
	case store.StatusCompleted:
		s.Status = t.a.status(tracev1.Status_STATUS_CODE_OK, "")
	}
	t.add(Service, Service, s)
}

// AddExecution adds an execution's span, its node runs' spans and their own
// spans.
func (t *Trace) AddExecution(ex Execution) {
	res := ex.Result
	trace := t.traceID
	execID := ExecutionSpanID(t.batchID, res.ExecutionKey)
	end := res.CreatedAt
	start := end.Add(-time.Duration(res.DurationMs * float64(time.Millisecond)))
	es := t.a.span()
	*es = tracev1.Span{TraceId: trace, SpanId: execID, ParentSpanId: t.batchSpan, Name: "execution " + res.ExecutionKey,
		Kind: tracev1.Span_SPAN_KIND_INTERNAL, StartTimeUnixNano: nanos(start), EndTimeUnixNano: nanos(end),
		Attributes: append(make([]*commonv1.KeyValue, 0, 12+len(res.Variants)+len(res.Scores)),
			t.a.str("wtb.execution.key", res.ExecutionKey), t.a.str("wtb.combination", res.Combination),
			t.a.str("wtb.case.id", res.CaseID), t.a.integer("wtb.repeat", int64(res.Repeat)), t.a.str("wtb.outcome", res.Status),
			t.a.double("wtb.score", res.OverallScore), t.a.boolean("wtb.passed", res.Passed), t.a.integer("wtb.attempts", int64(res.Attempts)))}
	if res.WorkerID != "" {
		es.Attributes = append(es.Attributes, t.a.str("wtb.worker", res.WorkerID))
	}
	for _, name := range sortedKeys(res.Variants) {
		es.Attributes = append(es.Attributes, t.a.str("wtb.variant."+name, res.Variants[name]))
	}
	for _, name := range sortedKeys(res.Scores) {
		es.Attributes = append(es.Attributes, t.a.double("wtb.score."+name, res.Scores[name]))
	}
	if res.Success {
		es.Status = t.a.status(tracev1.Status_STATUS_CODE_OK, "")
	} else {
		es.Status = t.a.status(tracev1.Status_STATUS_CODE_ERROR, res.Error)
		if res.FailureKind != "" {
			es.Attributes = append(es.Attributes, t.a.str("error.type", res.FailureKind))
		}
		if res.FailedNode != "" {
			es.Attributes = append(es.Attributes, t.a.str("wtb.failed_node", res.FailedNode))
		}
	}
	t.add(Service, Service, es)

	rows := map[string]*store.NodeSpans{}
	for i := range ex.Spans {
		rows[ex.Spans[i].RunID] = &ex.Spans[i]
	}
	prevEnd := start
	for _, cp := range ex.Chain {
		if cp.Source == store.SourceRoot {
			continue
		}
		source, owner := cp.Source, ex.owner(cp.ID)
		if owner != res.ExecutionKey {
			source = SourceShared
		}
		run := nodeRun{node: cp.Node, variant: cp.Variant, source: source, worker: cp.WorkerID, checkpoint: cp.ID, owner: owner,
			outcome: store.ResultSucceeded, metrics: cp.Metrics,
			end: cp.CreatedAt, start: cp.CreatedAt.Add(-time.Duration(cp.DurationMs * float64(time.Millisecond)))}
		if cp.CreatedAt.IsZero() {
			run.start, run.end = prevEnd, prevEnd
		}
		prevEnd = run.end
		run.row, run.calls = rows[cp.ID], ex.Calls[cp.ID]
		t.addNodeRun(res, execID, run)
	}
	// Failed attempts, in order (their rows are keyed STEP#aN).
	var failed []*store.NodeSpans
	for i := range ex.Spans {
		r := &ex.Spans[i]
		if _, n := attemptOf(r.RunID); n > 0 {
			failed = append(failed, r)
		}
	}
	sort.SliceStable(failed, func(i, j int) bool {
		_, a := attemptOf(failed[i].RunID)
		_, b := attemptOf(failed[j].RunID)
		return a < b
	})
	finalFailure := false
	for _, r := range failed {
		step, n := attemptOf(r.RunID)
		run := nodeRun{node: r.Node, source: SourceRan, attempt: n, outcome: store.ResultFailed, start: r.CreatedAt, end: r.CreatedAt,
			owner: ex.owner(step), row: r, calls: ex.Calls[r.RunID]}
		if run.owner != res.ExecutionKey {
			run.source = SourceShared
		}
		if !res.Success && r.Node == res.FailedNode && n == res.Attempts {
			run.err, finalFailure = res.Error, true
		}
		t.addNodeRun(res, execID, run)
	}
	if !res.Success && res.FailedNode != "" && !finalFailure {
		// The run that failed the execution has no stored spans: its span
		// still says it failed, and when.
		t.addNodeRun(res, execID, nodeRun{node: res.FailedNode, variant: res.Variants[res.FailedNode], source: SourceRan,
			worker: res.WorkerID, attempt: max(res.Attempts, 1), outcome: store.ResultFailed, err: res.Error, start: prevEnd, end: end})
	}
}

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

// Span converts a stored span to OTLP under trace and parent, keeping its
// own id, name, kind, times, status, attributes and events; its source is
// the attribute wtb.span.source.
func Span(sp sdk.Span, trace, parent []byte) *tracev1.Span {
	sid, _ := hex.DecodeString(sp.SpanID)
	s := &tracev1.Span{TraceId: trace, SpanId: sid, ParentSpanId: parent, Name: sp.Name, Kind: kinds[sp.Kind],
		StartTimeUnixNano: nanos(sp.Start), EndTimeUnixNano: nanos(maxTime(sp.Start, sp.End)), Attributes: Attributes(sp.Attributes)}
	if s.Kind == tracev1.Span_SPAN_KIND_UNSPECIFIED {
		s.Kind = tracev1.Span_SPAN_KIND_INTERNAL
	}
	if sp.Source != "" {
		s.Attributes = append(s.Attributes, str("wtb.span.source", sp.Source))
	}
	switch sp.Status {
	case "ok":
		s.Status = &tracev1.Status{Code: tracev1.Status_STATUS_CODE_OK}
	case "error":
		s.Status = &tracev1.Status{Code: tracev1.Status_STATUS_CODE_ERROR, Message: sp.StatusMessage}
	}
	if len(sp.Events) > 0 {
		var evs []struct {
			Name       string          `json:"name"`
			Time       time.Time       `json:"time"`
			Attributes json.RawMessage `json:"attributes"`
		}
		if json.Unmarshal(sp.Events, &evs) == nil {
			for _, e := range evs {
				s.Events = append(s.Events, &tracev1.Span_Event{Name: e.Name, TimeUnixNano: nanos(e.Time), Attributes: Attributes(e.Attributes)})
			}
		}
	}
	return s
}

var kinds = map[string]tracev1.Span_SpanKind{
	"internal": tracev1.Span_SPAN_KIND_INTERNAL, "server": tracev1.Span_SPAN_KIND_SERVER, "client": tracev1.Span_SPAN_KIND_CLIENT,
	"producer": tracev1.Span_SPAN_KIND_PRODUCER, "consumer": tracev1.Span_SPAN_KIND_CONSUMER,
}

// Attributes converts a stored JSON object of attributes back to OTLP: a
// string, a bool, an integer (a number without fraction or exponent that
// fits in 64 bits), a double, an array or a map. The stored form keeps no
// other distinction (a double 2.0 comes back as the integer 2).
func Attributes(raw json.RawMessage) []*commonv1.KeyValue {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return nil
	}
	out := make([]*commonv1.KeyValue, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, &commonv1.KeyValue{Key: k, Value: anyValue(m[k])})
	}
	return out
}

func anyValue(v any) *commonv1.AnyValue {
	switch x := v.(type) {
	case string:
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: x}}
	case bool:
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_BoolValue{BoolValue: x}}
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if n, err := x.Int64(); err == nil {
				return &commonv1.AnyValue{Value: &commonv1.AnyValue_IntValue{IntValue: n}}
			}
		}
		f, _ := x.Float64()
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_DoubleValue{DoubleValue: f}}
	case []any:
		arr := &commonv1.ArrayValue{}
		for _, e := range x {
			arr.Values = append(arr.Values, anyValue(e))
		}
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_ArrayValue{ArrayValue: arr}}
	case map[string]any:
		kvs := &commonv1.KeyValueList{}
		for _, k := range sortedKeys(x) {
			kvs.Values = append(kvs.Values, &commonv1.KeyValue{Key: k, Value: anyValue(x[k])})
		}
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_KvlistValue{KvlistValue: kvs}}
	case nil:
		return &commonv1.AnyValue{}
	}
	return &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: fmt.Sprint(v)}}
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

func str(k, v string) *commonv1.KeyValue {
	return &commonv1.KeyValue{Key: k, Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: v}}}
}

func integer(k string, v int64) *commonv1.KeyValue {
	return &commonv1.KeyValue{Key: k, Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_IntValue{IntValue: v}}}
}

func double(k string, v float64) *commonv1.KeyValue {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return str(k, strconv.FormatFloat(v, 'g', -1, 64))
	}
	return &commonv1.KeyValue{Key: k, Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_DoubleValue{DoubleValue: v}}}
}

func boolean(k string, v bool) *commonv1.KeyValue {
	return &commonv1.KeyValue{Key: k, Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_BoolValue{BoolValue: v}}}
}

// nanos is a span time: to the microsecond, what PostgreSQL keeps of a
// stored time, so an execution sent as it was stored and sent again from
// the database (a resumed batch, wtb trace export) is the same span, which
// a collector keeps once.
func nanos(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return uint64(t.Truncate(time.Microsecond).UnixNano())
}

func maxTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return a
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
