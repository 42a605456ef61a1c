package traceout

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"pgregory.net/rapid"
)

// nodeRunSpanID is nodeRunSpanIDArray as a slice.
func nodeRunSpanID(batchID, key, node string, attempt int) []byte {
	id := nodeRunSpanIDArray(batchID, key, node, attempt)
	return id[:]
}

// spansOf flattens a trace: every span with its service.
func spansOf(tr *Trace) map[string]*tracev1.Span {
	out := map[string]*tracev1.Span{}
	for _, rs := range tr.ResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				out[hex.EncodeToString(s.GetSpanId())] = s
			}
		}
	}
	return out
}

func attr(s *tracev1.Span, key string) *commonv1.AnyValue {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			return kv.GetValue()
		}
	}
	return nil
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An execution whose first node was shared, second ran with spans of its
// own (one under the node run's span, one root of the node's making, one
// child of that), and a failed attempt before it.
func TestExecutionTree(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	res := &store.Result{ExecutionKey: "c1/case/0", Combination: "c1", CaseID: "case", Repeat: 0, Status: store.ResultSucceeded,
		Success: true, OverallScore: 0.75, Passed: true, Attempts: 2, DurationMs: 3000, CreatedAt: t0.Add(3 * time.Second),
		Variants: map[string]string{"b": "v2"}, Scores: map[string]float64{"exact": 0.75}}
	chain := []*store.Checkpoint{
		{ID: "root", Source: store.SourceRoot},
		{ID: "cpA", ParentID: "root", Node: "a", Source: store.SourceRan, SegmentKey: "c0/case/0", WorkerID: "w1", DurationMs: 1000, CreatedAt: t0.Add(time.Second)},
		{ID: "cpB", ParentID: "cpA", Node: "b", Variant: "v2", Source: store.SourceRan, SegmentKey: "c1/case/0", WorkerID: "w2", DurationMs: 1500, CreatedAt: t0.Add(3 * time.Second),
			Metrics: map[string]float64{"wtb.llm.input_tokens": 12, "rows": 3}},
	}
	own := "1111111111111111"
	nodeSpans := []sdk.Span{
		{TraceID: "aaaa", SpanID: own, Name: "b", Source: sdk.SpanSourceWTB, Start: t0.Add(1500 * time.Millisecond), End: t0.Add(3 * time.Second)},
		{TraceID: "aaaa", SpanID: "2222222222222222", ParentID: own, Name: "chat gpt", Source: sdk.SpanSourceNode, Service: "agent", Scope: "openai",
			Kind: "client", Start: t0.Add(2 * time.Second), End: t0.Add(2500 * time.Millisecond), Status: "ok",
			Attributes: mustJSON(t, map[string]any{"gen_ai.usage.input_tokens": 12, "gen_ai.request.temperature": 0.5, "tags": []string{"x"}})},
		{TraceID: "bbbb", SpanID: "3333333333333333", Name: "own root", Source: sdk.SpanSourceNode, Service: "agent", Start: t0.Add(2 * time.Second), End: t0.Add(2 * time.Second)},
		{TraceID: "bbbb", SpanID: "4444444444444444", ParentID: "3333333333333333", Name: "tool", Source: sdk.SpanSourceNode, Service: "agent"},
	}
	failed := []sdk.Span{{TraceID: "cccc", SpanID: "5555555555555555", Name: "b", Source: sdk.SpanSourceWTB, Status: "error", StatusMessage: "exit 1"}}
	ex := Execution{Result: res, Chain: chain, Owner: map[string]string{"cpA": "c0/case/0"}, Spans: []store.NodeSpans{
		{RunID: "cpB", Node: "b", ExecutionKey: "c1/case/0", Spans: mustJSON(t, nodeSpans)},
		{RunID: "cpB#a1", Node: "b", ExecutionKey: "c1/case/0", Outcome: "failed", Spans: mustJSON(t, failed)},
		// The shared run's spans belong to the execution that ran it.
		{RunID: "cpA", Node: "a", ExecutionKey: "c0/case/0", Spans: mustJSON(t, []sdk.Span{{SpanID: "6666666666666666", Name: "a", Source: sdk.SpanSourceWTB},
			{SpanID: "7777777777777777", ParentID: "6666666666666666", Name: "a's", Source: sdk.SpanSourceNode}})},
	}}
	tr := NewTrace("B1", "test", nil)
	tr.AddExecution(ex)
	spans := spansOf(tr)
	trace := TraceID("B1")
	for id, s := range spans {
		if !bytes.Equal(s.GetTraceId(), trace) {
			t.Errorf("span %s (%s) has trace id %x, want the batch's %x", id, s.GetName(), s.GetTraceId(), trace)
		}
	}
	exec := spans[hex.EncodeToString(ExecutionSpanID("B1", "c1/case/0"))]
	if exec == nil || !bytes.Equal(exec.GetParentSpanId(), BatchSpanID("B1")) {
		t.Fatalf("no execution span under the batch span: %v", exec)
	}
	if got := attr(exec, "wtb.score").GetDoubleValue(); got != 0.75 {
		t.Errorf("wtb.score = %v", got)
	}
	if got := attr(exec, "wtb.repeat"); got == nil || got.GetIntValue() != 0 {
		t.Errorf("wtb.repeat = %v", got)
	}
	runA := spans[hex.EncodeToString(nodeRunSpanID("B1", "c1/case/0", "a", 0))]
	if runA == nil || attr(runA, "wtb.node_run.source").GetStringValue() != SourceShared || !bytes.Equal(runA.GetParentSpanId(), exec.GetSpanId()) {
		t.Fatalf("node run a: want a shared run under the execution, got %v", runA)
	}
	if l := runA.GetLinks(); len(l) != 1 || hex.EncodeToString(l[0].GetSpanId()) != "6666666666666666" ||
		attr(runA, "wtb.node_run.shared_from").GetStringValue() != "c0/case/0" {
		t.Errorf("the shared run does not link to the run it shares: %v", runA)
	}
	if spans["7777777777777777"] != nil || spans["6666666666666666"] != nil {
		t.Error("a shared run's spans were sent with an execution that did not run it")
	}
	runB := spans[own]
	if runB == nil || runB.GetName() != "node b" || attr(runB, "wtb.node_run.source").GetStringValue() != SourceRan ||
		attr(runB, "wtb.worker").GetStringValue() != "w2" || attr(runB, "gen_ai.usage.input_tokens").GetIntValue() != 12 {
		t.Fatalf("node run b: want the stored run span's id, ran on w2 with its tokens, got %v", runB)
	}
	if attr(runB, "wtb.metric.rows").GetDoubleValue() != 3 {
		t.Errorf("a node's own metric: %v", attr(runB, "wtb.metric.rows"))
	}
	chat := spans["2222222222222222"]
	if chat == nil || !bytes.Equal(chat.GetParentSpanId(), runB.GetSpanId()) || chat.GetKind() != tracev1.Span_SPAN_KIND_CLIENT {
		t.Fatalf("the node's span under TRACEPARENT: %v", chat)
	}
	if attr(chat, "gen_ai.usage.input_tokens").GetIntValue() != 12 || attr(chat, "gen_ai.request.temperature").GetDoubleValue() != 0.5 ||
		len(attr(chat, "tags").GetArrayValue().GetValues()) != 1 {
		t.Errorf("attributes did not keep their types: %v", chat.GetAttributes())
	}
	if r := spans["3333333333333333"]; r == nil || !bytes.Equal(r.GetParentSpanId(), runB.GetSpanId()) {
		t.Errorf("a root span of the node's own trace is not beneath its node run: %v", r)
	}
	if c := spans["4444444444444444"]; c == nil || hex.EncodeToString(c.GetParentSpanId()) != "3333333333333333" {
		t.Errorf("a node span lost its own parent: %v", c)
	}
	att := spans["5555555555555555"]
	if att == nil || attr(att, "wtb.attempt").GetIntValue() != 1 || att.GetStatus().GetCode() != tracev1.Status_STATUS_CODE_ERROR ||
		att.GetStatus().GetMessage() != "exit 1" {
		t.Errorf("the failed attempt: %v", att)
	}
	// exec + a + b + 3 node spans + the failed attempt.
	if len(spans) != 7 {
		t.Errorf("%d spans, want 7", len(spans))
	}
}

// A failed execution whose failing node stored no spans still shows the run
// that failed, with the error.
func TestFailedNodeWithoutSpans(t *testing.T) {
	res := &store.Result{ExecutionKey: "c/k/1", Status: store.ResultFailed, FailedNode: "b", Error: "exit status 3", FailureKind: "exit",
		Attempts: 1, CreatedAt: time.Now()}
	tr := NewTrace("B", "v", nil)
	tr.AddExecution(Execution{Result: res, Chain: []*store.Checkpoint{{ID: "r", Source: store.SourceRoot}}})
	s := spansOf(tr)[hex.EncodeToString(nodeRunSpanID("B", "c/k/1", "b", 1))]
	if s == nil || s.GetStatus().GetMessage() != "exit status 3" || attr(s, "wtb.outcome").GetStringValue() != store.ResultFailed {
		t.Fatalf("the failing node run: %v", s)
	}
	exec := spansOf(tr)[hex.EncodeToString(ExecutionSpanID("B", "c/k/1"))]
	if attr(exec, "error.type").GetStringValue() != "exit" || exec.GetStatus().GetCode() != tracev1.Status_STATUS_CODE_ERROR {
		t.Errorf("the failed execution: %v", exec)
	}
}

// A node run that ran but had every model call answered from recordings is
// "replayed"; one with a call sent upstream, or with no call, "ran"; a
// cached run stays "cached" whatever its calls. A stand-in's
// wtb.call.source is what wtb_model_calls says of its call.
func TestReplayedNodeRun(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	res := &store.Result{ExecutionKey: "c/k/0", Status: store.ResultSucceeded, Success: true, Attempts: 1, CreatedAt: t0.Add(4 * time.Second)}
	cp := func(id, parent, node, source string, at int) *store.Checkpoint {
		return &store.Checkpoint{ID: id, ParentID: parent, Node: node, Source: source, CreatedAt: t0.Add(time.Duration(at) * time.Second)}
	}
	standIn := func(id string, ordinal int, source string) sdk.Span {
		return sdk.Span{SpanID: id, Name: "chat m", Kind: "client", Source: sdk.SpanSourceGateway, Scope: "wtb.gateway",
			Attributes: mustJSON(t, map[string]any{"gen_ai.operation.name": "chat", "wtb.call.ordinal": ordinal, "wtb.call.source": source})}
	}
	ex := Execution{Result: res,
		Chain: []*store.Checkpoint{cp("r", "", "", store.SourceRoot, 0), cp("A", "r", "plan", store.SourceRan, 1), cp("B", "A", "answer", store.SourceRan, 2),
			cp("C", "B", "check", store.SourceRan, 3), cp("D", "C", "reuse", store.SourceCached, 4)},
		Spans: []store.NodeSpans{
			{RunID: "A", Node: "plan", Spans: mustJSON(t, []sdk.Span{standIn("a000000000000001", 0, "live"), standIn("a000000000000002", 1, "replayed")})},
			{RunID: "B", Node: "answer", Spans: mustJSON(t, []sdk.Span{standIn("b000000000000001", 0, "replayed"), standIn("b000000000000002", 1, "live")})},
		},
		Calls: map[string][]string{"A": {sdk.SourceReplayed, sdk.SourceReplayed}, "B": {sdk.SourceReplayed, sdk.SourceLive},
			"D": {sdk.SourceReplayed}},
	}
	tr := NewTrace("B1", "v", nil)
	tr.AddExecution(ex)
	spans := spansOf(tr)
	for node, want := range map[string]string{"plan": SourceReplayed, "answer": SourceRan, "check": SourceRan, "reuse": SourceCached} {
		s := spans[hex.EncodeToString(nodeRunSpanID("B1", "c/k/0", node, 0))]
		if got := attr(s, "wtb.node_run.source").GetStringValue(); got != want {
			t.Errorf("node %s: source %q, want %q", node, got, want)
		}
	}
	for id, want := range map[string]string{"a000000000000001": "replayed", "a000000000000002": "replayed", "b000000000000001": "replayed", "b000000000000002": "live"} {
		s := spans[id]
		if s == nil {
			t.Fatalf("no stand-in %s in %v", id, spans)
		}
		n := 0
		for _, kv := range s.GetAttributes() {
			if kv.GetKey() == "wtb.call.source" {
				n++
			}
		}
		if got := attr(s, "wtb.call.source").GetStringValue(); got != want || n != 1 {
			t.Errorf("stand-in %s: wtb.call.source %q (%d of them), want %q once", id, got, n, want)
		}
	}
}

// Whatever the executions, every span is in the batch's trace, ids are
// unique, every parent is in the trace, and converting again gives the
// same ids (a re-export replaces).
func TestTreeProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		batch := rapid.StringMatching(`[a-z0-9-]{1,12}`).Draw(t, "batch")
		nExec := rapid.IntRange(1, 5).Draw(t, "executions")
		var exs []Execution
		for i := 0; i < nExec; i++ {
			key := rapid.StringMatching(`c[0-3]/k[0-3]/[0-2]`).Draw(t, "key")
			dup := false
			for _, e := range exs {
				dup = dup || e.Result.ExecutionKey == key
			}
			if dup {
				continue
			}
			res := &store.Result{ExecutionKey: key, Success: true, CreatedAt: time.Unix(1000, 0)}
			chain := []*store.Checkpoint{{ID: "root-" + key, Source: store.SourceRoot}}
			var rows []store.NodeSpans
			owner := map[string]string{}
			for n := 0; n < rapid.IntRange(0, 4).Draw(t, "nodes"); n++ {
				node := string(rune('a' + n))
				id := key + "/" + node
				src := rapid.SampledFrom([]string{store.SourceRan, store.SourceCached, store.SourceForked}).Draw(t, "source")
				seg := key
				if rapid.Bool().Draw(t, "shared") {
					seg = "other"
				}
				chain = append(chain, &store.Checkpoint{ID: id, Node: node, Source: src, SegmentKey: seg, CreatedAt: time.Unix(999, 0)})
				var sp []sdk.Span
				ids := []string{}
				for k := 0; k < rapid.IntRange(0, 4).Draw(t, "spans"); k++ {
					// The same ids in every run: cached runs bring the
					// ids they had when they ran.
					sid := hex.EncodeToString([]byte{byte(n), byte(k), 1, 2, 3, 4, 5, 6})
					if src == store.SourceRan {
						sid = hex.EncodeToString([]byte{byte(i), byte(n), byte(k), 1, 2, 3, 4, 5})
					}
					parent := ""
					if len(ids) > 0 && rapid.Bool().Draw(t, "child") {
						parent = rapid.SampledFrom(ids).Draw(t, "parent")
					} else if rapid.Bool().Draw(t, "dangling") {
						parent = "ffffffffffffffff"
					}
					src := sdk.SpanSourceNode
					if k == 0 && rapid.Bool().Draw(t, "own") {
						src = sdk.SpanSourceWTB
					}
					sp = append(sp, sdk.Span{SpanID: sid, ParentID: parent, Source: src, Name: "s"})
					ids = append(ids, sid)
				}
				b, _ := json.Marshal(sp)
				rows = append(rows, store.NodeSpans{RunID: id, Node: node, ExecutionKey: seg, Spans: b})
				owner[id] = seg
			}
			exs = append(exs, Execution{Result: res, Chain: chain, Spans: rows, Owner: owner})
		}
		build := func() map[string]*tracev1.Span {
			tr := NewTrace(batch, "v", nil)
			tr.AddBatch(Batch{ID: batch})
			for _, e := range exs {
				tr.AddExecution(e)
			}
			n := 0
			for _, rs := range tr.ResourceSpans() {
				for _, ss := range rs.GetScopeSpans() {
					n += len(ss.GetSpans())
				}
			}
			got := spansOf(tr)
			if n != len(got) || n != tr.Len() {
				t.Fatalf("%d spans, %d distinct ids, Len %d: ids collide", n, len(got), tr.Len())
			}
			return got
		}
		spans := build()
		for id, s := range spans {
			if !bytes.Equal(s.GetTraceId(), TraceID(batch)) {
				t.Fatalf("span %s not in the batch's trace", id)
			}
			if p := hex.EncodeToString(s.GetParentSpanId()); p != "" && spans[p] == nil {
				t.Fatalf("span %s (%s) has parent %s, not in the trace", id, s.GetName(), p)
			} else if p == "" && !bytes.Equal(s.GetSpanId(), BatchSpanID(batch)) {
				t.Fatalf("span %s (%s) is a root besides the batch's", id, s.GetName())
			}
		}
		again := build()
		for id := range spans {
			if again[id] == nil {
				t.Fatalf("span %s not made again: ids are not deterministic", id)
			}
		}
	})
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":             "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":            "http://127.0.0.1:4318/v1/traces",
		"https://otlp.example.com/otlp":     "https://otlp.example.com/otlp/v1/traces",
		"http://127.0.0.1:4318/v1/traces":   "http://127.0.0.1:4318/v1/traces",
		"https://u:p@example.com/v1/traces": "https://u:p@example.com/v1/traces",
	} {
		if got, err := TracesURL(in); err != nil || got != want {
			t.Errorf("TracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:4318", "grpc://x:4317", "", "http://"} {
		if _, err := TracesURL(bad); err == nil {
			t.Errorf("TracesURL(%q) took it", bad)
		}
	}
}

// Under a parent (TRACEPARENT) every span is in the parent's trace and the
// batch's span hangs from the parent's span; bad traceparents are refused
// saying why.
func TestTraceUnderAParent(t *testing.T) {
	p, err := ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrace("B", "v", p)
	tr.AddBatch(Batch{ID: "B", Name: "n", Start: time.Unix(1, 0), End: time.Unix(2, 0)})
	tr.AddExecution(Execution{Result: &store.Result{ExecutionKey: "k", Success: true, CreatedAt: time.Unix(2, 0)}})
	for id, s := range spansOf(tr) {
		if hex.EncodeToString(s.GetTraceId()) != "0af7651916cd43dd8448eb211c80319c" {
			t.Errorf("span %s (%s) in trace %x, want the parent's", id, s.GetName(), s.GetTraceId())
		}
	}
	batch := spansOf(tr)[hex.EncodeToString(BatchSpanID("B"))]
	if hex.EncodeToString(batch.GetParentSpanId()) != "b7ad6b7169203331" || tr.TraceIDHex() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("batch span's parent %x, trace %s", batch.GetParentSpanId(), tr.TraceIDHex())
	}
	if got := NewTrace("B", "v", nil).TraceIDHex(); got != hex.EncodeToString(TraceID("B")) {
		t.Errorf("without a parent the trace is %s, want the batch's", got)
	}
	for _, bad := range []string{"", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-0af7651916cd43dd-b7ad6b7169203331-01"} {
		if _, err := ParseTraceparent(bad); err == nil || !strings.Contains(err.Error(), "is not a W3C traceparent") {
			t.Errorf("ParseTraceparent(%q): %v", bad, err)
		}
	}
}
