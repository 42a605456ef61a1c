package traces

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wtbench/wtb/sdk"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	otlptracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// decodeProto reads an ExportTraceServiceRequest in protobuf. Its only field
// is repeated ResourceSpans resource_spans = 1; it is walked here rather than
// unmarshalled whole so the SDK need not import the collector package (and
// with it grpc-gateway).
func decodeProto(body []byte) ([]sdk.Span, error) {
	var out []sdk.Span
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return nil, fmt.Errorf("not an OTLP protobuf export request: %w", protowire.ParseError(n))
		}
		body = body[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(body)
			if n < 0 {
				return nil, fmt.Errorf("not an OTLP protobuf export request: %w", protowire.ParseError(n))
			}
			var rs otlptracev1.ResourceSpans
			if err := proto.Unmarshal(v, &rs); err != nil {
				return nil, fmt.Errorf("not an OTLP protobuf export request: %w", err)
			}
			out = appendSpans(out, &rs)
			body = body[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, body)
		if n < 0 {
			return nil, fmt.Errorf("not an OTLP protobuf export request: %w", protowire.ParseError(n))
		}
		body = body[n:]
	}
	return out, nil
}

// decodeJSON reads an ExportTraceServiceRequest in OTLP/JSON, which differs
// from protobuf's canonical JSON in its ids: hex, not base64.
func decodeJSON(body []byte) ([]sdk.Span, error) {
	var req struct {
		ResourceSpans []json.RawMessage `json:"resourceSpans"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("not an OTLP/JSON export request: %w", err)
	}
	var out []sdk.Span
	for _, raw := range req.ResourceSpans {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not an OTLP/JSON export request: %w", err)
		}
		if err := hexIDsToBase64(v); err != nil {
			return nil, fmt.Errorf("not an OTLP/JSON export request: %w", err)
		}
		fixed, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var rs otlptracev1.ResourceSpans
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(fixed, &rs); err != nil {
			return nil, fmt.Errorf("not an OTLP/JSON export request: %w", err)
		}
		out = appendSpans(out, &rs)
	}
	return out, nil
}

// hexIDsToBase64 rewrites traceId, spanId and parentSpanId (hex in OTLP/JSON)
// to the base64 protojson reads bytes in.
func hexIDsToBase64(v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "traceId" || k == "spanId" || k == "parentSpanId") {
				b, err := hex.DecodeString(s)
				if err != nil {
					return fmt.Errorf("%s %q is not hex", k, s)
				}
				x[k] = base64.StdEncoding.EncodeToString(b)
				continue
			}
			if err := hexIDsToBase64(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := hexIDsToBase64(e); err != nil {
				return err
			}
		}
	}
	return nil
}

var kinds = map[otlptracev1.Span_SpanKind]string{
	otlptracev1.Span_SPAN_KIND_INTERNAL: "internal", otlptracev1.Span_SPAN_KIND_SERVER: "server",
	otlptracev1.Span_SPAN_KIND_CLIENT: "client", otlptracev1.Span_SPAN_KIND_PRODUCER: "producer",
	otlptracev1.Span_SPAN_KIND_CONSUMER: "consumer",
}

var statuses = map[otlptracev1.Status_StatusCode]string{
	otlptracev1.Status_STATUS_CODE_UNSET: "unset", otlptracev1.Status_STATUS_CODE_OK: "ok",
	otlptracev1.Status_STATUS_CODE_ERROR: "error",
}

func appendSpans(out []sdk.Span, rs *otlptracev1.ResourceSpans) []sdk.Span {
	service := ""
	for _, kv := range rs.GetResource().GetAttributes() {
		if kv.GetKey() == "service.name" {
			service = kv.GetValue().GetStringValue()
		}
	}
	for _, ss := range rs.GetScopeSpans() {
		scope := ss.GetScope().GetName()
		for _, s := range ss.GetSpans() {
			sp := sdk.Span{TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
				ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: kinds[s.GetKind()],
				Start: unixNano(s.GetStartTimeUnixNano()), End: unixNano(s.GetEndTimeUnixNano()),
				Status: statuses[s.GetStatus().GetCode()], StatusMessage: s.GetStatus().GetMessage(),
				Attributes: attributesJSON(s.GetAttributes()), Service: service, Scope: scope, Source: sdk.SpanSourceNode}
			if sp.Status == "" {
				sp.Status = "unset"
			}
			if len(s.GetEvents()) > 0 {
				evs := make([]map[string]any, 0, len(s.GetEvents()))
				for _, e := range s.GetEvents() {
					m := map[string]any{"name": e.GetName(), "time": unixNano(e.GetTimeUnixNano()).Format(time.RFC3339Nano)}
					if a := attributesJSON(e.GetAttributes()); a != nil {
						m["attributes"] = a
					}
					evs = append(evs, m)
				}
				sp.Events, _ = json.Marshal(evs)
			}
			out = append(out, sp)
		}
	}
	return out
}

func unixNano(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n)).UTC()
}

// attributesJSON renders attributes as one JSON object (nil: none).
func attributesJSON(kvs []*commonv1.KeyValue) json.RawMessage {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyValue(kv.GetValue())
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

func anyValue(v *commonv1.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonv1.AnyValue_StringValue:
		return x.StringValue
	case *commonv1.AnyValue_BoolValue:
		return x.BoolValue
	case *commonv1.AnyValue_IntValue:
		return x.IntValue
	case *commonv1.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonv1.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonv1.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, anyValue(e))
		}
		return out
	case *commonv1.AnyValue_KvlistValue:
		out := make(map[string]any, len(x.KvlistValue.GetValues()))
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.GetKey()] = anyValue(kv.GetValue())
		}
		return out
	}
	return nil
}

// writeResponse answers an export: an empty ExportTraceServiceResponse, or
// one whose partial_success says how many spans were rejected and why.
func writeResponse(w http.ResponseWriter, isJSON bool, rejected int64, msg string) {
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if rejected == 0 {
			_, _ = w.Write([]byte("{}"))
			return
		}
		b, _ := json.Marshal(map[string]any{"partialSuccess": map[string]any{
			"rejectedSpans": strconv.FormatInt(rejected, 10), "errorMessage": msg}})
		_, _ = w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	if rejected == 0 {
		return
	}
	var ps []byte
	ps = protowire.AppendTag(ps, 1, protowire.VarintType)
	ps = protowire.AppendVarint(ps, uint64(rejected))
	ps = protowire.AppendTag(ps, 2, protowire.BytesType)
	ps = protowire.AppendString(ps, msg)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, ps)
	_, _ = w.Write(b)
}
