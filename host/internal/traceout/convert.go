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
	"encoding/hex"
	"sort"
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
	// wire holds the spans encoded for the last request (wire.go).
	wire []byte
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

// Reset empties the trace for the next request of the same batch, keeping
// the memory its messages took: nothing may hold a span or a resource it
// returned before.
func (t *Trace) Reset() {
	t.a.reset()
	clear(t.res)
	clear(t.scopes)
	t.order, t.n = t.order[:0], 0
	t.wire = t.wire[:0]
}

// TraceIDHex is the id of the trace the spans go to, in hex.
func (t *Trace) TraceIDHex() string { return hex.EncodeToString(t.traceID) }

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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
