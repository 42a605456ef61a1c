package traceout

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

func drawValue(t *rapid.T, depth int) *commonv1.AnyValue {
	kinds := []string{"unset", "string", "bool", "int", "double", "bytes"}
	if depth < 2 {
		kinds = append(kinds, "array", "kvlist")
	}
	switch rapid.SampledFrom(kinds).Draw(t, "value kind") {
	case "string":
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: rapid.String().Draw(t, "s")}}
	case "bool":
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_BoolValue{BoolValue: rapid.Bool().Draw(t, "b")}}
	case "int":
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_IntValue{IntValue: rapid.Int64().Draw(t, "i")}}
	case "double":
		d := rapid.SampledFrom([]float64{0, math.Copysign(0, -1), 1.5, -2e300, math.Inf(1)}).Draw(t, "d")
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_DoubleValue{DoubleValue: d}}
	case "bytes":
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_BytesValue{BytesValue: rapid.SliceOfN(rapid.Byte(), 0, 4).Draw(t, "bytes")}}
	case "array":
		var a *commonv1.ArrayValue
		if rapid.Bool().Draw(t, "array set") {
			a = &commonv1.ArrayValue{}
			for range rapid.IntRange(0, 3).Draw(t, "elements") {
				a.Values = append(a.Values, drawValue(t, depth+1))
			}
		}
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_ArrayValue{ArrayValue: a}}
	case "kvlist":
		var l *commonv1.KeyValueList
		if rapid.Bool().Draw(t, "kvlist set") {
			l = &commonv1.KeyValueList{Values: drawAttributes(t, depth+1)}
		}
		return &commonv1.AnyValue{Value: &commonv1.AnyValue_KvlistValue{KvlistValue: l}}
	}
	if rapid.Bool().Draw(t, "nil value") {
		return nil
	}
	return &commonv1.AnyValue{}
}

func drawAttributes(t *rapid.T, depth int) []*commonv1.KeyValue {
	var kvs []*commonv1.KeyValue
	for range rapid.IntRange(0, 4).Draw(t, "attributes") {
		kvs = append(kvs, &commonv1.KeyValue{Key: rapid.StringMatching(`[a-z._]{0,12}`).Draw(t, "key"), Value: drawValue(t, depth)})
	}
	return kvs
}

func drawID(t *rapid.T, n int) []byte {
	if rapid.Bool().Draw(t, "id set") {
		return rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "id")
	}
	return nil
}

// drawSpan draws a span with any of the fields WTB's and the nodes' spans
// have, and now and then one the wire encoder leaves to the runtime.
func drawSpan(t *rapid.T) *tracev1.Span {
	s := &tracev1.Span{TraceId: drawID(t, 16), SpanId: drawID(t, 8), ParentSpanId: drawID(t, 8),
		Name:              rapid.String().Draw(t, "name"),
		Kind:              tracev1.Span_SpanKind(rapid.IntRange(0, 5).Draw(t, "kind")),
		StartTimeUnixNano: rapid.SampledFrom([]uint64{0, 1, 1767268800000000000}).Draw(t, "start"),
		EndTimeUnixNano:   rapid.SampledFrom([]uint64{0, math.MaxUint64, 1767268800123456000}).Draw(t, "end"),
		Attributes:        drawAttributes(t, 0)}
	for range rapid.IntRange(0, 2).Draw(t, "events") {
		s.Events = append(s.Events, &tracev1.Span_Event{TimeUnixNano: rapid.Uint64().Draw(t, "event time"),
			Name: rapid.String().Draw(t, "event name"), Attributes: drawAttributes(t, 0)})
	}
	for range rapid.IntRange(0, 2).Draw(t, "links") {
		s.Links = append(s.Links, &tracev1.Span_Link{TraceId: drawID(t, 16), SpanId: drawID(t, 8), Attributes: drawAttributes(t, 0)})
	}
	if rapid.Bool().Draw(t, "status") {
		s.Status = &tracev1.Status{Code: tracev1.Status_StatusCode(rapid.IntRange(0, 2).Draw(t, "code")), Message: rapid.String().Draw(t, "message")}
	}
	switch rapid.IntRange(0, 9).Draw(t, "outside the subset") {
	case 0:
		s.TraceState = "k=v"
	case 1:
		s.Flags = 1
	case 2:
		s.DroppedAttributesCount = 3
	}
	return s
}

// The wire encoder writes a span exactly as the protobuf runtime does
// (byte for byte: fields in number order, zero scalars left out, a set
// oneof written even when it holds a zero), and a trace's request decodes
// to the spans added, under their resources and scopes in the order first
// added to — spans outside the encoder's subset included (the runtime
// writes those).
func TestWireEncodingIsTheRuntimes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := NewTrace("B", "v", nil)
		// want is the request as the runtime would build it from the
		// messages added.
		want := &collectortrace.ExportTraceServiceRequest{}
		resources, scopes := map[string]*tracev1.ResourceSpans{}, map[[2]string]*tracev1.ScopeSpans{}
		for range rapid.IntRange(0, 12).Draw(t, "spans") {
			s := drawSpan(t)
			if spanWireable(s) {
				b, err := proto.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				if got := appendSpan(nil, s); !bytes.Equal(got, b) {
					t.Fatalf("span %v:\nwire    %x\nruntime %x", s, got, b)
				}
				if n := spanSize(s); n != len(b) {
					t.Fatalf("spanSize %d, the runtime's %d", n, len(b))
				}
			}
			service := rapid.SampledFrom([]string{Service, "agent", ""}).Draw(t, "service")
			scope := rapid.SampledFrom([]string{Service, "openai", ""}).Draw(t, "scope")
			tr.add(service, scope, s)
			if service == "" {
				service = "unknown_service"
			}
			rs := resources[service]
			if rs == nil {
				rs = &tracev1.ResourceSpans{Resource: tr.resource(service)}
				resources[service] = rs
				want.ResourceSpans = append(want.ResourceSpans, rs)
			}
			ss := scopes[[2]string{service, scope}]
			if ss == nil {
				ss = &tracev1.ScopeSpans{Scope: &commonv1.InstrumentationScope{Name: scope}}
				if service == Service {
					ss.Scope.Version = "v"
				}
				scopes[[2]string{service, scope}] = ss
				rs.ScopeSpans = append(rs.ScopeSpans, ss)
			}
			ss.Spans = append(ss.Spans, s)
		}
		decode := func(rs []*tracev1.ResourceSpans) *collectortrace.ExportTraceServiceRequest {
			b, err := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: rs})
			if err != nil {
				t.Fatal(err)
			}
			var req collectortrace.ExportTraceServiceRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				t.Fatalf("the request does not decode: %v", err)
			}
			return &req
		}
		for round := range 2 { // the second from the same buffers
			if got := decode(tr.wireResourceSpans()); !proto.Equal(got, decode(want.ResourceSpans)) {
				t.Fatalf("round %d: the wire request decodes to\n%v\nthe runtime's to\n%v", round, got, want)
			}
		}
	})
}

// assertCanonical checks a span written by the writer decodes, and is the
// bytes the runtime writes for what it decodes to.
func assertCanonical(t *rapid.T, record []byte) {
	var span tracev1.Span
	if err := proto.Unmarshal(record, &span); err != nil {
		t.Fatalf("a span does not decode: %v", err)
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(&span)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(record, again) {
		t.Fatalf("span %q:\nwritten %x\nruntime %x", span.GetName(), record, again)
	}
}

// WTB's own spans, written field by field with no message (scope.go), are
// what the runtime writes for the spans they decode to, byte for byte: a
// length, a field order or a size wrong in the writer changes the bytes or
// fails to decode. Their content is what the tests of convert_test.go read.
func TestOwnSpansAreCanonical(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := NewTrace("B", "v", nil)
		if rapid.Bool().Draw(t, "batch span") {
			tr.AddBatch(Batch{ID: "B", Name: rapid.String().Draw(t, "name"), Host: rapid.StringMatching(`(h[0-9])?`).Draw(t, "host"),
				Status: rapid.SampledFrom([]string{store.StatusCompleted, store.StatusFailed, store.StatusRunning}).Draw(t, "status"),
				Total:  rapid.IntRange(0, 1<<20).Draw(t, "total"), Start: time.Unix(1, 0), End: time.Unix(2, 0)})
		}
		for _, ex := range drawExecutions(t, "own") {
			tr.AddExecution(ex)
		}
		n := 0
		for _, s := range tr.scopes {
			for b := s.wire; len(b) > 0; {
				num, typ, k := protowire.ConsumeTag(b)
				if k < 0 || num != fieldScopeSpansSpans || typ != protowire.BytesType {
					t.Fatalf("scope %s/%s: not a span field at %d", s.service, s.name, len(s.wire)-len(b))
				}
				b = b[k:]
				record, k := protowire.ConsumeBytes(b)
				if k < 0 {
					t.Fatalf("scope %s/%s: a span's length runs past the buffer", s.service, s.name)
				}
				b = b[k:]
				assertCanonical(t, record)
				n++
			}
		}
		if n != tr.Len() {
			t.Fatalf("%d spans in the buffers, Len %d", n, tr.Len())
		}
	})
}

// Each part the writer has, on its own, with empty and invalid strings:
// a link with an empty key (the runtime leaves the key out) and the rest.
func TestOwnSpanPartsAreTheRuntimes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := &scopeSpans{}
		text := rapid.SampledFrom([]string{"", "k", "wtb.link", "\xff", "é"})
		s.begin(drawID(t, 16), drawID(t, 8), drawID(t, 8), text.Draw(t, "prefix"), text.Draw(t, "name"), rapid.Uint64().Draw(t, "start"), rapid.Uint64().Draw(t, "end"))
		s.strKey(text.Draw(t, "key prefix"), text.Draw(t, "key"), text.Draw(t, "value"))
		s.integer(text.Draw(t, "int key"), rapid.Int64().Draw(t, "int"))
		s.boolean(text.Draw(t, "bool key"), rapid.Bool().Draw(t, "bool"))
		s.double(text.Draw(t, "double key"), rapid.Float64().Draw(t, "double"))
		for range rapid.IntRange(0, 2).Draw(t, "links") {
			s.link(drawID(t, 16), drawID(t, 8), text.Draw(t, "link key"), text.Draw(t, "link value"))
		}
		if rapid.Bool().Draw(t, "status") {
			s.status(tracev1.Status_StatusCode(rapid.IntRange(0, 2).Draw(t, "code")), text.Draw(t, "message"))
		}
		s.end()
		_, _, k := protowire.ConsumeTag(s.wire)
		record, _ := protowire.ConsumeBytes(s.wire[k:])
		assertCanonical(t, record)
	})
}
