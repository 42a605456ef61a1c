package traceout

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// recordingCollector keeps the body of each request it is sent, decoded by
// its content type (protobuf or JSON).
func recordingCollector(t *testing.T) (string, func() []*collectortrace.ExportTraceServiceRequest) {
	t.Helper()
	var mu sync.Mutex
	var got []*collectortrace.ExportTraceServiceRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			z, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = z
		}
		b, _ := io.ReadAll(body)
		var req collectortrace.ExportTraceServiceRequest
		var err error
		if strings.Contains(r.Header.Get("Content-Type"), "json") {
			err = protojson.Unmarshal(b, &req)
		} else {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, &req)
		mu.Unlock()
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []*collectortrace.ExportTraceServiceRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]*collectortrace.ExportTraceServiceRequest(nil), got...)
	}
}

// A trace with WTB's own spans and a node's, whose strings are not all
// UTF-8 (an error cut in the middle of a character).
func mixedTrace(t *testing.T) *Trace {
	tr := NewTrace("B", "v", nil)
	tr.AddBatch(Batch{ID: "B", Name: "b\xff", Status: store.StatusFailed, Start: time.Unix(1, 0), End: time.Unix(2, 0)})
	res := &store.Result{ExecutionKey: "c/k/0", Status: store.ResultFailed, Error: "exit \xe2\x82: bad", FailedNode: "a", Attempts: 1,
		CreatedAt: time.Unix(2, 0), Variants: map[string]string{"a\xff": "v\xfe"}}
	spans := mustJSON(t, []sdk.Span{{SpanID: "1111111111111111", Name: "step", Source: sdk.SpanSourceNode, Service: "agent",
		Attributes: mustJSON(t, map[string]any{"k": "v"})}})
	tr.AddExecution(Execution{Result: res, Chain: []*store.Checkpoint{{ID: "r", Source: store.SourceRoot},
		{ID: "cp", ParentID: "r", Node: "a", Source: store.SourceRan, CreatedAt: time.Unix(2, 0)}},
		Spans: []store.NodeSpans{{RunID: "cp", Node: "a", Spans: spans}}})
	return tr
}

func spanCount(reqs []*collectortrace.ExportTraceServiceRequest) int {
	n := 0
	for _, r := range reqs {
		for _, rs := range r.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				n += len(ss.GetSpans())
			}
		}
	}
	return n
}

// Whichever protocol the OTEL_EXPORTER_OTLP_* variables choose, the
// collector gets every span: the JSON encoder reads the spans' messages,
// not the bytes the trace holds, and handed those it sent each scope
// without its spans while the export counted them sent.
func TestEveryProtocolSendsEverySpan(t *testing.T) {
	for _, protocol := range []string{"", "http/protobuf", "http/json"} {
		t.Run("protocol="+protocol, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol)
			url, got := recordingCollector(t)
			up, err := newUploader(context.Background(), Target{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			defer up.stop()
			tr := mixedTrace(t)
			if err := up.upload(context.Background(), tr); err != nil {
				t.Fatalf("upload: %v", err)
			}
			reqs := got()
			if n := spanCount(reqs); len(reqs) != 1 || n != tr.Len() {
				t.Fatalf("%d requests with %d spans reached the collector, want 1 with %d", len(reqs), n, tr.Len())
			}
			want := &collectortrace.ExportTraceServiceRequest{ResourceSpans: tr.ResourceSpans()}
			if protocol == "http/json" {
				// OTLP's JSON writes ids in hex, which protojson reads as
				// base64: everything but the ids is compared.
				for _, r := range []*collectortrace.ExportTraceServiceRequest{reqs[0], want} {
					for _, rs := range r.GetResourceSpans() {
						for _, ss := range rs.GetScopeSpans() {
							for _, s := range ss.GetSpans() {
								s.TraceId, s.SpanId, s.ParentSpanId = nil, nil, nil
							}
						}
					}
				}
			}
			if !proto.Equal(reqs[0], want) {
				t.Errorf("the collector got\n%v\nwant\n%v", reqs[0], want)
			}
		})
	}
}

// The protocol is read as the client reads it: the traces variable first,
// spaces trimmed.
func TestJSONProtocolIsReadAsTheClientReadsIt(t *testing.T) {
	for _, c := range []struct {
		all, traces string
		want        bool
	}{{"", "", false}, {"http/json", "", true}, {" http/json ", "", true}, {"http/json", "http/protobuf", false},
		{"http/protobuf", "http/json", true}, {"grpc", "", false}} {
		env := map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": c.all, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": c.traces}
		if got := jsonProtocol(func(k string) string { return env[k] }); got != c.want {
			t.Errorf("PROTOCOL=%q TRACES_PROTOCOL=%q: json %v, want %v", c.all, c.traces, got, c.want)
		}
	}
}

// Strings that are not UTF-8 reach the collector with U+FFFD in place of
// the bad bytes (the runtime refused to encode them, failing the whole
// request), in WTB's own spans and in a node's.
func TestInvalidUTF8IsReplaced(t *testing.T) {
	tr := mixedTrace(t)
	node := Span(sdk.Span{SpanID: "2222222222222222", Name: "n\xff", StatusMessage: "m\xff", Status: "error",
		Attributes: mustJSON(t, map[string]any{"k": "v"})}, tr.traceID, nil)
	node.Attributes = append(node.Attributes, str("k\xff", "v\xff"))
	tr.add("agent\xff", "scope", node)
	spans := spansOf(tr) // decodes: a proto3 decoder refuses invalid UTF-8
	exec := spans[hex.EncodeToString(ExecutionSpanID("B", "c/k/0"))]
	if got := exec.GetStatus().GetMessage(); got != "exit \uFFFD: bad" {
		t.Errorf("the execution's status message: %q", got)
	}
	if attr(exec, "wtb.variant.a\uFFFD").GetStringValue() != "v\uFFFD" {
		t.Errorf("the execution's variant attribute: %v", exec.GetAttributes())
	}
	if s := spans["2222222222222222"]; s.GetName() != "n\uFFFD" || s.GetStatus().GetMessage() != "m\uFFFD" || attr(s, "k\uFFFD").GetStringValue() != "v\uFFFD" {
		t.Errorf("the node's span: %v", s)
	}
	var b bytes.Buffer
	for _, rs := range tr.ResourceSpans() {
		b.WriteString(rs.String())
	}
	if strings.Contains(b.String(), "\xff") {
		t.Error("an invalid byte reached the request")
	}
}
