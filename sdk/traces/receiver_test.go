package traces

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/sdk"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	resourcev1 "go.opentelemetry.io/proto/otlp/resource/v1"
	otlptracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func newRun(t *testing.T, lim Limits) (*Receiver, *Run) {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	run, err := r.NewRun("answer", lim)
	if err != nil {
		t.Fatal(err)
	}
	return r, run
}

// exportRequest is an ExportTraceServiceRequest in protobuf: repeated
// ResourceSpans resource_spans = 1.
func exportRequest(t *testing.T, rss ...*otlptracev1.ResourceSpans) []byte {
	t.Helper()
	var b []byte
	for _, rs := range rss {
		m, err := proto.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b
}

func str(k, v string) *commonv1.KeyValue {
	return &commonv1.KeyValue{Key: k, Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: v}}}
}

func resourceSpans(service string, spans ...*otlptracev1.Span) *otlptracev1.ResourceSpans {
	return &otlptracev1.ResourceSpans{
		Resource:   &resourcev1.Resource{Attributes: []*commonv1.KeyValue{str("service.name", service)}},
		ScopeSpans: []*otlptracev1.ScopeSpans{{Scope: &commonv1.InstrumentationScope{Name: "agent"}, Spans: spans}},
	}
}

func span(name string, i byte) *otlptracev1.Span {
	return &otlptracev1.Span{TraceId: bytes.Repeat([]byte{0xab}, 16), SpanId: []byte{0, 0, 0, 0, 0, 0, 0, i},
		Name: name, StartTimeUnixNano: 1_700_000_000_000_000_000, EndTimeUnixNano: 1_700_000_000_500_000_000}
}

func post(t *testing.T, url, contentType string, body []byte, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestProtobufExportIsDecoded(t *testing.T) {
	_, run := newRun(t, Limits{})
	chat := span("chat gpt", 1)
	chat.ParentSpanId = []byte{9, 9, 9, 9, 9, 9, 9, 9}
	chat.Kind = otlptracev1.Span_SPAN_KIND_CLIENT
	chat.Status = &otlptracev1.Status{Code: otlptracev1.Status_STATUS_CODE_ERROR, Message: "rate limited"}
	chat.Attributes = []*commonv1.KeyValue{
		str("gen_ai.operation.name", "chat"),
		{Key: "gen_ai.usage.input_tokens", Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_IntValue{IntValue: 12}}},
		{Key: "gen_ai.request.temperature", Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_DoubleValue{DoubleValue: 0.5}}},
		{Key: "stream", Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_BoolValue{BoolValue: true}}},
		{Key: "gen_ai.response.finish_reasons", Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_ArrayValue{
			ArrayValue: &commonv1.ArrayValue{Values: []*commonv1.AnyValue{{Value: &commonv1.AnyValue_StringValue{StringValue: "stop"}}}}}}},
	}
	chat.Events = []*otlptracev1.Span_Event{{Name: "gen_ai.choice", TimeUnixNano: 1_700_000_000_100_000_000,
		Attributes: []*commonv1.KeyValue{str("index", "0")}}}
	body := exportRequest(t, resourceSpans("answer", chat), resourceSpans("helper", span("tool", 2)))

	// gzip, as the Python exporter sends when asked to compress.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(body)
	_ = zw.Close()
	code, resp := post(t, run.Env()["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], "application/x-protobuf", z.Bytes(), "Content-Encoding", "gzip")
	if code != http.StatusOK || len(resp) != 0 {
		t.Fatalf("export answered %d %q; want 200 and an empty response (nothing rejected)", code, resp)
	}
	got := run.Finish()
	if len(got.Spans) != 2 || got.Dropped != 0 {
		t.Fatalf("kept %d spans, %d dropped; want 2, 0", len(got.Spans), got.Dropped)
	}
	s := got.Spans[0]
	want := sdk.Span{TraceID: strings.Repeat("ab", 16), SpanID: "0000000000000001", ParentID: "0909090909090909", Name: "chat gpt",
		Kind: "client", Start: time.Unix(1_700_000_000, 0).UTC(), End: time.Unix(1_700_000_000, 500_000_000).UTC(),
		Status: "error", StatusMessage: "rate limited", Service: "answer", Scope: "agent", Source: sdk.SpanSourceNode}
	attrs, events := s.Attributes, s.Events
	s.Attributes, s.Events = nil, nil
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Errorf("span\n%+v\nwant\n%+v", s, want)
	}
	if string(attrs) != `{"gen_ai.operation.name":"chat","gen_ai.request.temperature":0.5,"gen_ai.response.finish_reasons":["stop"],"gen_ai.usage.input_tokens":12,"stream":true}` {
		t.Errorf("attributes %s", attrs)
	}
	if string(events) != `[{"attributes":{"index":"0"},"name":"gen_ai.choice","time":"2023-11-14T22:13:20.1Z"}]` {
		t.Errorf("events %s", events)
	}
	if o := got.Spans[1]; o.Service != "helper" || o.Status != "unset" || o.Kind != "" || o.ParentID != "" {
		t.Errorf("second span %+v: want service helper, status unset, no kind, no parent", o)
	}
}

func TestJSONExportIsDecoded(t *testing.T) {
	_, run := newRun(t, Limits{})
	// OTLP/JSON: hex ids (not protojson's base64), enums as numbers, int64
	// as strings, lowerCamelCase names.
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"answer"}}]},
	  "scopeSpans":[{"scope":{"name":"js"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
	    "parentSpanId":"eee19b7ec3c1b173","name":"execute_tool search","kind":1,"startTimeUnixNano":"1544712660000000000",
	    "endTimeUnixNano":"1544712661000000000","status":{"code":1},"someFieldFromANewerRelease":true,
	    "attributes":[{"key":"gen_ai.tool.name","value":{"stringValue":"search"}},{"key":"n","value":{"intValue":"7"}}]}]}]}]}`
	code, resp := post(t, run.Env()["OTEL_EXPORTER_OTLP_ENDPOINT"]+"/v1/traces", "application/json", []byte(body))
	if code != http.StatusOK || string(resp) != "{}" {
		t.Fatalf("export answered %d %s; want 200 {}", code, resp)
	}
	got := run.Finish()
	if len(got.Spans) != 1 {
		t.Fatalf("kept %d spans; want 1", len(got.Spans))
	}
	s := got.Spans[0]
	if s.TraceID != "5b8efff798038103d269b633813fc60c" || s.SpanID != "eee19b7ec3c1b174" || s.ParentID != "eee19b7ec3c1b173" ||
		s.Kind != "internal" || s.Status != "ok" || s.Scope != "js" || s.Service != "answer" ||
		!s.Start.Equal(time.Unix(1544712660, 0)) || s.End.Sub(s.Start) != time.Second ||
		string(s.Attributes) != `{"gen_ai.tool.name":"search","n":7}` {
		t.Errorf("span %+v attributes %s", s, s.Attributes)
	}
}

func TestBadExportsAreRefusedSayingWhy(t *testing.T) {
	r, run := newRun(t, Limits{})
	base := run.Env()["OTEL_EXPORTER_OTLP_ENDPOINT"]
	for _, c := range []struct {
		name, path, ctype, body, header string
		code                            int
		says                            string
	}{
		{"garbage protobuf", "/v1/traces", "application/x-protobuf", "\xff\xff\xff", "", 400, "not an OTLP protobuf export request"},
		{"an id not hex", "/v1/traces", "application/json", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`, "", 400, `traceId "zz" is not hex`},
		{"not JSON", "/v1/traces", "application/json", `{"resourceSpans":`, "", 400, "not an OTLP/JSON export request"},
		{"an encoding", "/v1/traces", "application/x-protobuf", "", "br", 400, `unsupported Content-Encoding "br"`},
		{"an unknown signal", "/v1/profiles", "application/x-protobuf", "", "", 404, "unknown signal v1/profiles"},
	} {
		var hdr []string
		if c.header != "" {
			hdr = []string{"Content-Encoding", c.header}
		}
		code, resp := post(t, base+c.path, c.ctype, []byte(c.body), hdr...)
		if code != c.code || !strings.Contains(string(resp), c.says) {
			t.Errorf("%s: answered %d %q; want %d saying %q", c.name, code, resp, c.code, c.says)
		}
	}
	// Metrics and logs sent to the same endpoint are accepted, not kept.
	if code, _ := post(t, base+"/v1/metrics", "application/x-protobuf", []byte{}); code != http.StatusOK {
		t.Errorf("metrics answered %d; want 200", code)
	}
	if got := run.Finish(); len(got.Spans) != 0 {
		t.Errorf("kept %d spans from bad exports", len(got.Spans))
	}
	if n := r.Stats.Accepted.Load(); n != 0 {
		t.Errorf("accepted %d spans", n)
	}
}

// Past a run's bound spans are dropped and counted, and the exporter is told
// in partial_success (protobuf and JSON alike).
func TestTheBoundDropsCountsAndSays(t *testing.T) {
	r, run := newRun(t, Limits{MaxSpans: 5})
	url := run.Env()["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
	var three, four []*otlptracev1.Span
	for i := byte(0); i < 3; i++ {
		three = append(three, span("a", i))
	}
	for i := byte(3); i < 7; i++ {
		four = append(four, span("b", i))
	}
	if code, resp := post(t, url, "application/x-protobuf", exportRequest(t, resourceSpans("answer", three...))); code != 200 || len(resp) != 0 {
		t.Fatalf("first export answered %d %q", code, resp)
	}
	code, resp := post(t, url, "application/x-protobuf", exportRequest(t, resourceSpans("answer", four...)))
	if code != 200 {
		t.Fatalf("second export answered %d", code)
	}
	// ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 { int64 rejected_spans = 1; string error_message = 2 } }
	num, _, n := protowire.ConsumeTag(resp)
	if num != 1 || n < 0 {
		t.Fatalf("response %q has no partial_success", resp)
	}
	ps, _ := protowire.ConsumeBytes(resp[n:])
	num, _, n = protowire.ConsumeTag(ps)
	rejected, m := protowire.ConsumeVarint(ps[n:])
	ps = ps[n+m:]
	_, _, n = protowire.ConsumeTag(ps)
	msg, _ := protowire.ConsumeString(ps[n:])
	if num != 1 || rejected != 2 || msg != `wtb: node "answer" is past its bound of 5 spans or 4 MiB per node run; 2 spans dropped` {
		t.Errorf("partial_success rejected %d %q; want 2 and the bound", rejected, msg)
	}
	code, resp = post(t, strings.TrimSuffix(url, "/v1/traces")+"/v1/traces", "application/json",
		[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"c"}]}]}]}`))
	if code != 200 || string(resp) != `{"partialSuccess":{"errorMessage":"wtb: node \"answer\" is past its bound of 5 spans or 4 MiB per node run; 1 spans dropped","rejectedSpans":"1"}}` {
		t.Errorf("JSON export past the bound answered %d %s", code, resp)
	}
	got := run.Finish()
	if len(got.Spans) != 5 || got.Dropped != 3 {
		t.Fatalf("kept %d, dropped %d; want 5, 3", len(got.Spans), got.Dropped)
	}
	for i, s := range got.Spans {
		if want := fmt.Sprintf("%016x", i); s.SpanID != want {
			t.Errorf("span %d is %s; want the first five in the order received (%s)", i, s.SpanID, want)
		}
	}
	if r.Stats.Accepted.Load() != 5 || r.Stats.Dropped.Load() != 3 {
		t.Errorf("stats accepted %d dropped %d; want 5, 3", r.Stats.Accepted.Load(), r.Stats.Dropped.Load())
	}
}

// The byte bound holds too: spans past MaxBytes are dropped even under the
// span count.
func TestTheByteBound(t *testing.T) {
	_, run := newRun(t, Limits{MaxSpans: 100, MaxBytes: 3000})
	var spans []*otlptracev1.Span
	for i := byte(0); i < 10; i++ {
		s := span("big", i)
		s.Attributes = []*commonv1.KeyValue{str("payload", strings.Repeat("x", 1000))}
		spans = append(spans, s)
	}
	post(t, run.Env()["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], "application/x-protobuf", exportRequest(t, resourceSpans("answer", spans...)))
	got := run.Finish()
	if len(got.Spans) != 2 || got.Dropped != 8 {
		t.Errorf("kept %d, dropped %d of 10 spans of about 1.1 KB under 3000 bytes; want 2, 8", len(got.Spans), got.Dropped)
	}
}

// An export that comes after its node run ended (a process that outlived its
// node) is refused and counted, never added to the ended run or another.
func TestALateExportIsRefused(t *testing.T) {
	r, run := newRun(t, Limits{})
	other, err := r.NewRun("other", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	url := run.Env()["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
	body := exportRequest(t, resourceSpans("answer", span("early", 1)))
	if code, _ := post(t, url, "application/x-protobuf", body); code != 200 {
		t.Fatalf("export during the run answered %d", code)
	}
	first := run.Finish()
	code, resp := post(t, url, "application/x-protobuf", exportRequest(t, resourceSpans("answer", span("late", 2))))
	if code != http.StatusNotFound || !strings.Contains(string(resp), "belongs to no node run") {
		t.Errorf("a late export answered %d %q; want 404 saying it belongs to no node run", code, resp)
	}
	if r.Stats.Refused.Load() != 1 {
		t.Errorf("refused %d; want 1", r.Stats.Refused.Load())
	}
	if again := run.Finish(); len(first.Spans) != 1 || len(again.Spans) != 1 {
		t.Errorf("the ended run has %d spans (was %d); want 1", len(again.Spans), len(first.Spans))
	}
	if o := other.Finish(); len(o.Spans) != 0 {
		t.Errorf("another run got %d spans", len(o.Spans))
	}
	// A span added to a run that ended between lookup and add is refused too.
	if _, ok := run.add([]sdk.Span{{Name: "racing"}}); ok {
		t.Error("add accepted a span after Finish")
	}
}

func TestEnvNamesTheNodeRun(t *testing.T) {
	_, run := newRun(t, Limits{})
	env := run.Env()
	if env["TRACEPARENT"] != "00-"+run.TraceID()+"-"+run.SpanID()+"-01" || len(run.TraceID()) != 32 || len(run.SpanID()) != 16 {
		t.Errorf("TRACEPARENT %q", env["TRACEPARENT"])
	}
	if env["OTEL_SERVICE_NAME"] != "answer" || env["OTEL_EXPORTER_OTLP_PROTOCOL"] != "http/protobuf" ||
		env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != env["OTEL_EXPORTER_OTLP_ENDPOINT"]+"/v1/traces" {
		t.Errorf("env %v", env)
	}
	root := run.NodeRunSpan(time.Now(), "exit status 1")
	if root.SpanID != run.SpanID() || root.ParentID != "" || root.Status != "error" || root.StatusMessage != "exit status 1" || root.Source != sdk.SpanSourceWTB {
		t.Errorf("node run span %+v", root)
	}
}

// A gateway call gets a stand-in gen_ai span unless a node span describes it:
// one that was open when the call arrived, even when the gateway's record of
// the call ends after the node's span (its bookkeeping comes after the node
// has its answer).
func TestStandInSpansForCallsNoNodeSpanDescribes(t *testing.T) {
	_, run := newRun(t, Limits{})
	t0 := time.Unix(1_700_000_000, 0).UTC()
	chat := sdk.Span{Name: "chat", Start: t0, End: t0.Add(time.Second), Source: sdk.SpanSourceNode,
		Attributes: json.RawMessage(`{"gen_ai.operation.name":"chat"}`)}
	tool := sdk.Span{Name: "execute_tool search", Start: t0.Add(2 * time.Second), End: t0.Add(4 * time.Second), Source: sdk.SpanSourceNode,
		Attributes: json.RawMessage(`{"gen_ai.operation.name":"execute_tool"}`)}
	calls := []sdk.Interaction{
		// Inside the chat span, its record ending 200 ms after it.
		{Method: "POST", Path: "/chat/completions", Started: t0.Add(100 * time.Millisecond), Duration: 1100 * time.Millisecond, Model: "gpt", Status: 200},
		// A retry the client made inside the same span.
		{Method: "POST", Path: "/chat/completions", Started: t0.Add(600 * time.Millisecond), Duration: 300 * time.Millisecond, Status: 200},
		// During the tool's span (a tool is no model turn), queued 1 s.
		{Method: "POST", Path: "/chat/completions", Upstream: "openai", Started: t0.Add(3500 * time.Millisecond), QueueTime: time.Second,
			Duration: 200 * time.Millisecond, Model: "gpt", Status: 429, Usage: sdk.Usage{Input: 3, Output: 4}, Source: sdk.SourceLive},
		// Not a call (a CONNECT has a method; a call with no start is skipped).
		{Path: "nothing"},
	}
	got := run.WithCalls(sdk.Spans{Spans: []sdk.Span{chat, tool}}, calls)
	if len(got.Spans) != 3 {
		t.Fatalf("%d spans; want the two node spans and one stand-in: %+v", len(got.Spans), got.Spans)
	}
	s := got.Spans[2]
	if s.Source != sdk.SpanSourceGateway || s.Name != "chat gpt" || s.ParentID != run.SpanID() || s.TraceID != run.TraceID() ||
		!s.Start.Equal(t0.Add(2500*time.Millisecond)) || !s.End.Equal(t0.Add(3700*time.Millisecond)) ||
		s.Status != "error" || s.StatusMessage != "the upstream answered 429" {
		t.Errorf("stand-in span %+v", s)
	}
	var attrs map[string]any
	_ = json.Unmarshal(s.Attributes, &attrs)
	if attrs["gen_ai.usage.input_tokens"] != 3.0 || attrs["gen_ai.provider.name"] != "openai" || attrs["wtb.call.queue_ms"] != 1000.0 ||
		attrs["gen_ai.request.model"] != "gpt" || attrs["http.response.status_code"] != 429.0 {
		t.Errorf("stand-in attributes %s", s.Attributes)
	}
}
