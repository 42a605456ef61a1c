package traceout

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/wtbench/wtb/sdk"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
)

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

func str(k, v string) *commonv1.KeyValue {
	return &commonv1.KeyValue{Key: k, Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: v}}}
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
