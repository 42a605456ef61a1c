package traceout

import (
	"bytes"
	"math"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
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
// to the same spans, resources and scopes as the runtime's own encoding of
// it — spans outside the encoder's subset included (the runtime writes
// those).
func TestWireEncodingIsTheRuntimes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := NewTrace("B", "v", nil)
		for range rapid.IntRange(0, 12).Draw(t, "spans") {
			s := drawSpan(t)
			if spanWireable(s) {
				want, err := proto.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				if got := appendSpan(nil, s); !bytes.Equal(got, want) {
					t.Fatalf("span %v:\nwire    %x\nruntime %x", s, got, want)
				}
				if n := spanSize(s); n != len(want) {
					t.Fatalf("spanSize %d, the runtime's %d", n, len(want))
				}
			}
			tr.add(rapid.SampledFrom([]string{Service, "agent", ""}).Draw(t, "service"), rapid.SampledFrom([]string{Service, "openai", ""}).Draw(t, "scope"), s)
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
		want := decode(tr.ResourceSpans())
		for round := range 2 { // the second in the first's buffer
			if got := decode(tr.wireResourceSpans()); !proto.Equal(got, want) {
				t.Fatalf("round %d: the wire request decodes to\n%v\nthe runtime's to\n%v", round, got, want)
			}
		}
	})
}
