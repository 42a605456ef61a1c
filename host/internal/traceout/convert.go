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
	"fmt"
	"sort"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	resourcev1 "go.opentelemetry.io/proto/otlp/resource/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
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

// Trace collects spans by resource (service) and scope, in OTLP's wire
// format, ready to send.
type Trace struct {
	batchID string
	traceID []byte
	// parent is the span the batch's span hangs from (nil: none).
	parent []byte
	// batchSpan is the batch span's id, the executions' parent.
	batchSpan []byte
	version   string
	// scopes are the spans by service and scope, in the order each was
	// first added to; index finds them, and free keeps the buffers of a
	// reset trace's for the next request.
	scopes []*scopeSpans
	index  map[[2]string]*scopeSpans
	free   []*scopeSpans
	n      int
}

// NewTrace starts a trace of a batch; version is wtb's (service.version).
// Under a parent (TRACEPARENT) the batch is part of the parent's trace and
// its span hangs from the parent's span; else the trace is the batch's own.
func NewTrace(batchID, version string, parent *Parent) *Trace {
	t := &Trace{batchID: batchID, traceID: TraceID(batchID), batchSpan: BatchSpanID(batchID), version: version, index: map[[2]string]*scopeSpans{}}
	if parent != nil {
		t.traceID, t.parent = parent.TraceID, parent.SpanID
	}
	return t
}

// Reset empties the trace for the next request of the same batch, keeping
// the memory its spans took: nothing may hold what wireResourceSpans
// returned before.
func (t *Trace) Reset() {
	for _, s := range t.scopes {
		s.wire = s.wire[:0]
		t.free = append(t.free, s)
	}
	clear(t.scopes)
	t.scopes = t.scopes[:0]
	clear(t.index)
	t.n = 0
}

// TraceIDHex is the id of the trace the spans go to, in hex.
func (t *Trace) TraceIDHex() string { return hex.EncodeToString(t.traceID) }

// Len is the number of spans added.
func (t *Trace) Len() int { return t.n }

// scope is the spans of service and scope, started when there are none.
func (t *Trace) scope(service, scope string) *scopeSpans {
	service, scope = valid(service), valid(scope)
	if service == "" {
		service = "unknown_service"
	}
	k := [2]string{service, scope}
	s := t.index[k]
	if s == nil {
		if n := len(t.free); n > 0 {
			s, t.free = t.free[n-1], t.free[:n-1]
		} else {
			s = &scopeSpans{}
		}
		s.service, s.name = service, scope
		t.index[k] = s
		t.scopes = append(t.scopes, s)
	}
	return s
}

// own is where WTB's own spans are written.
func (t *Trace) own() *scopeSpans { return t.scope(Service, Service) }

// add adds a span built as a message (a node's own, a stand-in).
func (t *Trace) add(service, scope string, s *tracev1.Span) {
	if t.scope(service, scope).message(s) {
		t.n++
	}
}

// resource describes a service's spans: its name, and wtb's version for
// WTB's own.
func (t *Trace) resource(service string) *resourcev1.Resource {
	attrs := []*commonv1.KeyValue{str("service.name", service)}
	if service == Service {
		attrs = append(attrs, str("service.version", t.version))
	}
	return &resourcev1.Resource{Attributes: attrs}
}

// instrumentation is a scope's description: its name, and wtb's version
// for WTB's own.
func (t *Trace) instrumentation(s *scopeSpans) *commonv1.InstrumentationScope {
	is := &commonv1.InstrumentationScope{Name: s.name}
	if s.service == Service {
		is.Version = t.version
	}
	return is
}

// ResourceSpans are the spans added, decoded, one resource per service:
// what a collector makes of the request (tests and tools read them; the
// exporter sends the encoded spans, wireResourceSpans).
func (t *Trace) ResourceSpans() []*tracev1.ResourceSpans {
	rs, err := t.decoded()
	if err != nil {
		panic(fmt.Sprintf("traceout: %v", err))
	}
	return rs
}

// decoded is ResourceSpans with the error (which a trace this package
// wrote never has).
func (t *Trace) decoded() ([]*tracev1.ResourceSpans, error) {
	b, err := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: t.wireResourceSpans()})
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		return nil, fmt.Errorf("the trace's request does not decode: %w", err)
	}
	return req.ResourceSpans, nil
}

// AddBatch adds the batch's root span.
func (t *Trace) AddBatch(b Batch) {
	s := t.own()
	s.begin(t.traceID, BatchSpanID(b.ID), t.parent, "batch ", b.Name, nanos(b.Start), nanos(maxTime(b.Start, b.End)))
	s.str("wtb.batch.id", b.ID)
	s.str("wtb.batch.name", b.Name)
	s.str("wtb.batch.status", b.Status)
	s.str("wtb.runner", b.Runner)
	s.integer("wtb.batch.executions", int64(b.Total))
	if b.Host != "" {
		s.str("host.name", b.Host)
	}
	switch b.Status {
	case store.StatusFailed:
		s.status(tracev1.Status_STATUS_CODE_ERROR, "batch failed")
	case store.StatusCompleted:
		s.status(tracev1.Status_STATUS_CODE_OK, "")
	}
	s.end()
	t.n++
}

// AddExecution adds an execution's span, its node runs' spans and their own
// spans.
func (t *Trace) AddExecution(ex Execution) {
	res := ex.Result
	trace := t.traceID
	execIDArray := executionSpanID(t.batchID, res.ExecutionKey)
	execID := execIDArray[:]
	end := res.CreatedAt
	start := end.Add(-time.Duration(res.DurationMs * float64(time.Millisecond)))
	s := t.own()
	s.begin(trace, execID, t.batchSpan, "execution ", res.ExecutionKey, nanos(start), nanos(end))
	s.str("wtb.execution.key", res.ExecutionKey)
	s.str("wtb.combination", res.Combination)
	s.str("wtb.case.id", res.CaseID)
	s.integer("wtb.repeat", int64(res.Repeat))
	s.str("wtb.outcome", res.Status)
	s.double("wtb.score", res.OverallScore)
	s.boolean("wtb.passed", res.Passed)
	s.integer("wtb.attempts", int64(res.Attempts))
	if res.WorkerID != "" {
		s.str("wtb.worker", res.WorkerID)
	}
	eachSorted(res.Variants, func(name, v string) { s.strKey("wtb.variant.", name, v) })
	eachSorted(res.Scores, func(name string, v float64) { s.doubleKey("wtb.score.", name, v) })
	if res.Success {
		s.status(tracev1.Status_STATUS_CODE_OK, "")
	} else {
		if res.FailureKind != "" {
			s.str("error.type", res.FailureKind)
		}
		if res.FailedNode != "" {
			s.str("wtb.failed_node", res.FailedNode)
		}
		s.status(tracev1.Status_STATUS_CODE_ERROR, res.Error)
	}
	s.end()
	t.n++

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

// eachSorted calls fn with m's entries in the order of their keys (without
// a slice of them for the common map of one).
func eachSorted[V any](m map[string]V, fn func(string, V)) {
	if len(m) == 1 {
		for k, v := range m {
			fn(k, v)
		}
		return
	}
	for _, k := range sortedKeys(m) {
		fn(k, m[k])
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
