package traceout

import (
	"math"
	"slices"

	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The live export's spans are encoded here rather than by the protobuf
// runtime: its generic marshalling (a size pass, then an append pass, both
// through the oneof wrappers of every attribute value) was the largest
// part of what the export costs a batch. A span is written directly in
// OTLP's wire format into a buffer of its scope, which the trace keeps from
// request to request (WTB's own spans with no message at all: scope.go),
// and handed to the client as the ScopeSpans' unknown fields — bytes the
// protobuf runtime writes out as they are — so the client, its retries and
// its OTEL_EXPORTER_OTLP_* settings stay as they were. The client's JSON
// encoding (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) reads only messages: for
// it the bytes are decoded first (uploader.upload). Only the fields WTB's
// and the nodes' spans use are written this way; a node's span with
// anything else is marshalled by the runtime (the same bytes, slower).

// Field numbers of opentelemetry/proto/trace/v1/trace.proto and
// common/v1/common.proto.
const (
	fieldScopeSpansSpans = 2

	fieldSpanTraceID      = 1
	fieldSpanSpanID       = 2
	fieldSpanTraceState   = 3
	fieldSpanParentSpanID = 4
	fieldSpanName         = 5
	fieldSpanKind         = 6
	fieldSpanStart        = 7
	fieldSpanEnd          = 8
	fieldSpanAttributes   = 9
	fieldSpanEvents       = 11
	fieldSpanLinks        = 13
	fieldSpanStatus       = 15

	fieldEventTime       = 1
	fieldEventName       = 2
	fieldEventAttributes = 3

	fieldLinkTraceID    = 1
	fieldLinkSpanID     = 2
	fieldLinkAttributes = 4

	fieldStatusMessage = 2
	fieldStatusCode    = 3

	fieldKeyValueKey   = 1
	fieldKeyValueValue = 2

	fieldAnyString = 1
	fieldAnyBool   = 2
	fieldAnyInt    = 3
	fieldAnyDouble = 4
	fieldAnyArray  = 5
	fieldAnyKVList = 6
	fieldAnyBytes  = 7

	fieldArrayValues = 1
	fieldKVListItems = 1
)

// wireResourceSpans are the trace's spans for the client: a resource per
// service and a scope per scope, in the order first added to, each scope's
// spans its encoded buffer (the scopes keep those until the trace is
// reset).
func (t *Trace) wireResourceSpans() []*tracev1.ResourceSpans {
	var out []*tracev1.ResourceSpans
	var services []string // out's, in order (a request has a few)
	for _, s := range t.scopes {
		i := slices.Index(services, s.service)
		if i < 0 {
			i = len(out)
			out = append(out, &tracev1.ResourceSpans{Resource: t.resource(s.service)})
			services = append(services, s.service)
		}
		ss := &tracev1.ScopeSpans{Scope: t.instrumentation(s)}
		ss.ProtoReflect().SetUnknown(protoreflect.RawFields(s.wire[:len(s.wire):len(s.wire)]))
		out[i].ScopeSpans = append(out[i].ScopeSpans, ss)
	}
	return out
}

// spanWireable says appendSpan writes every field s has.
func spanWireable(s *tracev1.Span) bool {
	if s.TraceState != "" || s.Flags != 0 || s.DroppedAttributesCount != 0 || s.DroppedEventsCount != 0 || s.DroppedLinksCount != 0 ||
		len(s.ProtoReflect().GetUnknown()) != 0 || !attributesWireable(s.Attributes) {
		return false
	}
	for _, e := range s.Events {
		if e == nil || e.DroppedAttributesCount != 0 || !attributesWireable(e.Attributes) {
			return false
		}
	}
	for _, l := range s.Links {
		if l == nil || l.TraceState != "" || l.Flags != 0 || l.DroppedAttributesCount != 0 || !attributesWireable(l.Attributes) {
			return false
		}
	}
	return true
}

func attributesWireable(kvs []*commonv1.KeyValue) bool {
	for _, kv := range kvs {
		if kv == nil || !valueWireable(kv.Value) {
			return false
		}
	}
	return true
}

func valueWireable(v *commonv1.AnyValue) bool {
	if v == nil {
		return true
	}
	switch x := v.Value.(type) {
	case nil, *commonv1.AnyValue_StringValue, *commonv1.AnyValue_BoolValue, *commonv1.AnyValue_IntValue,
		*commonv1.AnyValue_DoubleValue, *commonv1.AnyValue_BytesValue:
		return true
	case *commonv1.AnyValue_ArrayValue:
		if x.ArrayValue == nil {
			return true
		}
		for _, e := range x.ArrayValue.Values {
			if e == nil || !valueWireable(e) {
				return false
			}
		}
		return true
	case *commonv1.AnyValue_KvlistValue:
		return x.KvlistValue == nil || attributesWireable(x.KvlistValue.Values)
	}
	return false
}

// appendBytesField appends a bytes field, left out when empty (as the
// runtime leaves out an empty id).
func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// sizeBytes is the size of a length-delimited field holding n bytes.
func sizeBytes(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func spanSize(s *tracev1.Span) int {
	n := 0
	if len(s.TraceId) > 0 {
		n += sizeBytes(fieldSpanTraceID, len(s.TraceId))
	}
	if len(s.SpanId) > 0 {
		n += sizeBytes(fieldSpanSpanID, len(s.SpanId))
	}
	if len(s.ParentSpanId) > 0 {
		n += sizeBytes(fieldSpanParentSpanID, len(s.ParentSpanId))
	}
	if s.Name != "" {
		n += sizeBytes(fieldSpanName, len(s.Name))
	}
	if s.Kind != 0 {
		n += protowire.SizeTag(fieldSpanKind) + protowire.SizeVarint(uint64(s.Kind))
	}
	if s.StartTimeUnixNano != 0 {
		n += protowire.SizeTag(fieldSpanStart) + protowire.SizeFixed64()
	}
	if s.EndTimeUnixNano != 0 {
		n += protowire.SizeTag(fieldSpanEnd) + protowire.SizeFixed64()
	}
	for _, kv := range s.Attributes {
		n += sizeBytes(fieldSpanAttributes, keyValueSize(kv))
	}
	for _, e := range s.Events {
		n += sizeBytes(fieldSpanEvents, eventSize(e))
	}
	for _, l := range s.Links {
		n += sizeBytes(fieldSpanLinks, linkSize(l))
	}
	if s.Status != nil {
		n += sizeBytes(fieldSpanStatus, statusSize(s.Status))
	}
	return n
}

func appendSpan(b []byte, s *tracev1.Span) []byte {
	b = appendBytesField(b, fieldSpanTraceID, s.TraceId)
	b = appendBytesField(b, fieldSpanSpanID, s.SpanId)
	b = appendBytesField(b, fieldSpanParentSpanID, s.ParentSpanId)
	if s.Name != "" {
		b = protowire.AppendTag(b, fieldSpanName, protowire.BytesType)
		b = protowire.AppendString(b, s.Name)
	}
	if s.Kind != 0 {
		b = protowire.AppendTag(b, fieldSpanKind, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(s.Kind))
	}
	if s.StartTimeUnixNano != 0 {
		b = protowire.AppendTag(b, fieldSpanStart, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, s.StartTimeUnixNano)
	}
	if s.EndTimeUnixNano != 0 {
		b = protowire.AppendTag(b, fieldSpanEnd, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, s.EndTimeUnixNano)
	}
	for _, kv := range s.Attributes {
		b = protowire.AppendTag(b, fieldSpanAttributes, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(keyValueSize(kv)))
		b = appendKeyValue(b, kv)
	}
	for _, e := range s.Events {
		b = protowire.AppendTag(b, fieldSpanEvents, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(eventSize(e)))
		b = appendEvent(b, e)
	}
	for _, l := range s.Links {
		b = protowire.AppendTag(b, fieldSpanLinks, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(linkSize(l)))
		b = appendLink(b, l)
	}
	if s.Status != nil {
		b = protowire.AppendTag(b, fieldSpanStatus, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(statusSize(s.Status)))
		b = appendStatus(b, s.Status)
	}
	return b
}

func eventSize(e *tracev1.Span_Event) int {
	n := 0
	if e.TimeUnixNano != 0 {
		n += protowire.SizeTag(fieldEventTime) + protowire.SizeFixed64()
	}
	if e.Name != "" {
		n += sizeBytes(fieldEventName, len(e.Name))
	}
	for _, kv := range e.Attributes {
		n += sizeBytes(fieldEventAttributes, keyValueSize(kv))
	}
	return n
}

func appendEvent(b []byte, e *tracev1.Span_Event) []byte {
	if e.TimeUnixNano != 0 {
		b = protowire.AppendTag(b, fieldEventTime, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, e.TimeUnixNano)
	}
	if e.Name != "" {
		b = protowire.AppendTag(b, fieldEventName, protowire.BytesType)
		b = protowire.AppendString(b, e.Name)
	}
	for _, kv := range e.Attributes {
		b = protowire.AppendTag(b, fieldEventAttributes, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(keyValueSize(kv)))
		b = appendKeyValue(b, kv)
	}
	return b
}

func linkSize(l *tracev1.Span_Link) int {
	n := 0
	if len(l.TraceId) > 0 {
		n += sizeBytes(fieldLinkTraceID, len(l.TraceId))
	}
	if len(l.SpanId) > 0 {
		n += sizeBytes(fieldLinkSpanID, len(l.SpanId))
	}
	for _, kv := range l.Attributes {
		n += sizeBytes(fieldLinkAttributes, keyValueSize(kv))
	}
	return n
}

func appendLink(b []byte, l *tracev1.Span_Link) []byte {
	b = appendBytesField(b, fieldLinkTraceID, l.TraceId)
	b = appendBytesField(b, fieldLinkSpanID, l.SpanId)
	for _, kv := range l.Attributes {
		b = protowire.AppendTag(b, fieldLinkAttributes, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(keyValueSize(kv)))
		b = appendKeyValue(b, kv)
	}
	return b
}

func statusSize(s *tracev1.Status) int {
	n := 0
	if s.Message != "" {
		n += sizeBytes(fieldStatusMessage, len(s.Message))
	}
	if s.Code != 0 {
		n += protowire.SizeTag(fieldStatusCode) + protowire.SizeVarint(uint64(s.Code))
	}
	return n
}

func appendStatus(b []byte, s *tracev1.Status) []byte {
	if s.Message != "" {
		b = protowire.AppendTag(b, fieldStatusMessage, protowire.BytesType)
		b = protowire.AppendString(b, s.Message)
	}
	if s.Code != 0 {
		b = protowire.AppendTag(b, fieldStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(s.Code))
	}
	return b
}

func keyValueSize(kv *commonv1.KeyValue) int {
	n := 0
	if kv.Key != "" {
		n += sizeBytes(fieldKeyValueKey, len(kv.Key))
	}
	if kv.Value != nil {
		n += sizeBytes(fieldKeyValueValue, anyValueSize(kv.Value))
	}
	return n
}

func appendKeyValue(b []byte, kv *commonv1.KeyValue) []byte {
	if kv.Key != "" {
		b = protowire.AppendTag(b, fieldKeyValueKey, protowire.BytesType)
		b = protowire.AppendString(b, kv.Key)
	}
	if kv.Value != nil {
		b = protowire.AppendTag(b, fieldKeyValueValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(anyValueSize(kv.Value)))
		b = appendAnyValue(b, kv.Value)
	}
	return b
}

// anyValueSize and appendAnyValue write the value's oneof field even when
// it holds its type's zero value (the runtime does too: a set oneof is
// always written).
func anyValueSize(v *commonv1.AnyValue) int {
	switch x := v.Value.(type) {
	case *commonv1.AnyValue_StringValue:
		return sizeBytes(fieldAnyString, len(x.StringValue))
	case *commonv1.AnyValue_BoolValue:
		return protowire.SizeTag(fieldAnyBool) + 1
	case *commonv1.AnyValue_IntValue:
		return protowire.SizeTag(fieldAnyInt) + protowire.SizeVarint(uint64(x.IntValue))
	case *commonv1.AnyValue_DoubleValue:
		return protowire.SizeTag(fieldAnyDouble) + protowire.SizeFixed64()
	case *commonv1.AnyValue_BytesValue:
		return sizeBytes(fieldAnyBytes, len(x.BytesValue))
	case *commonv1.AnyValue_ArrayValue:
		return sizeBytes(fieldAnyArray, arraySize(x.ArrayValue))
	case *commonv1.AnyValue_KvlistValue:
		return sizeBytes(fieldAnyKVList, kvListSize(x.KvlistValue))
	}
	return 0
}

func appendAnyValue(b []byte, v *commonv1.AnyValue) []byte {
	switch x := v.Value.(type) {
	case *commonv1.AnyValue_StringValue:
		b = protowire.AppendTag(b, fieldAnyString, protowire.BytesType)
		b = protowire.AppendString(b, x.StringValue)
	case *commonv1.AnyValue_BoolValue:
		b = protowire.AppendTag(b, fieldAnyBool, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(x.BoolValue))
	case *commonv1.AnyValue_IntValue:
		b = protowire.AppendTag(b, fieldAnyInt, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(x.IntValue))
	case *commonv1.AnyValue_DoubleValue:
		b = protowire.AppendTag(b, fieldAnyDouble, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(x.DoubleValue))
	case *commonv1.AnyValue_BytesValue:
		b = protowire.AppendTag(b, fieldAnyBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, x.BytesValue)
	case *commonv1.AnyValue_ArrayValue:
		b = protowire.AppendTag(b, fieldAnyArray, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(arraySize(x.ArrayValue)))
		if x.ArrayValue != nil {
			for _, e := range x.ArrayValue.Values {
				b = protowire.AppendTag(b, fieldArrayValues, protowire.BytesType)
				b = protowire.AppendVarint(b, uint64(anyValueSize(e)))
				b = appendAnyValue(b, e)
			}
		}
	case *commonv1.AnyValue_KvlistValue:
		b = protowire.AppendTag(b, fieldAnyKVList, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(kvListSize(x.KvlistValue)))
		if x.KvlistValue != nil {
			for _, kv := range x.KvlistValue.Values {
				b = protowire.AppendTag(b, fieldKVListItems, protowire.BytesType)
				b = protowire.AppendVarint(b, uint64(keyValueSize(kv)))
				b = appendKeyValue(b, kv)
			}
		}
	}
	return b
}

func arraySize(a *commonv1.ArrayValue) int {
	if a == nil {
		return 0
	}
	n := 0
	for _, e := range a.Values {
		n += sizeBytes(fieldArrayValues, anyValueSize(e))
	}
	return n
}

func kvListSize(l *commonv1.KeyValueList) int {
	if l == nil {
		return 0
	}
	n := 0
	for _, kv := range l.Values {
		n += sizeBytes(fieldKVListItems, keyValueSize(kv))
	}
	return n
}
