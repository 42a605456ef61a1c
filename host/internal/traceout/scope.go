package traceout

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// scopeSpans are the spans of one service and instrumentation scope in a
// trace, already in OTLP's wire format: each a ScopeSpans.spans field, as
// the client sends them (wire.go).
//
// WTB's own spans (the batch's, the executions', the node runs') are
// written here field by field as they are built, with no message in
// between: building them as messages and encoding those was most of what a
// live export costs a batch — an attribute was three objects (the
// key-value, the value, its oneof wrapper) and the encoding walked them
// twice (a size pass and a write pass). A span's fields must be written in
// the order of their numbers, as the protobuf runtime writes them (name and
// times by begin, then attributes, then links, then the status), so a
// request is byte for byte what the runtime would send
// (TestOwnSpansAreCanonical).
type scopeSpans struct {
	service, name string
	wire          []byte
	// open is where the length of the span being written goes (two bytes
	// are kept for it: a span of WTB's is 128 bytes to 16 KiB).
	open int
}

// message appends a span built as a message (a node's own, a stand-in):
// by the wire encoder when it writes every field the span has, else by
// the runtime.
func (s *scopeSpans) message(m *tracev1.Span) bool {
	validSpan(m)
	if spanWireable(m) {
		s.wire = protowire.AppendTag(s.wire, fieldScopeSpansSpans, protowire.BytesType)
		s.wire = protowire.AppendVarint(s.wire, uint64(spanSize(m)))
		s.wire = appendSpan(s.wire, m)
		return true
	}
	b, err := proto.Marshal(m)
	if err != nil {
		// Cannot happen for a message this package built; the span is
		// left out rather than the request.
		return false
	}
	s.wire = protowire.AppendTag(s.wire, fieldScopeSpansSpans, protowire.BytesType)
	s.wire = protowire.AppendBytes(s.wire, b)
	return true
}

// begin starts a span of kind internal named namePrefix+name; the ids are
// left out when empty and the times when zero, as the runtime does.
func (s *scopeSpans) begin(trace, id, parent []byte, namePrefix, name string, start, end uint64) {
	namePrefix, name = valid(namePrefix), valid(name)
	b := protowire.AppendTag(s.wire, fieldScopeSpansSpans, protowire.BytesType)
	s.open = len(b)
	b = append(b, 0, 0)
	b = appendBytesField(b, fieldSpanTraceID, trace)
	b = appendBytesField(b, fieldSpanSpanID, id)
	b = appendBytesField(b, fieldSpanParentSpanID, parent)
	if n := len(namePrefix) + len(name); n > 0 {
		b = protowire.AppendTag(b, fieldSpanName, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = append(append(b, namePrefix...), name...)
	}
	b = protowire.AppendTag(b, fieldSpanKind, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(tracev1.Span_SPAN_KIND_INTERNAL))
	if start != 0 {
		b = protowire.AppendTag(b, fieldSpanStart, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, start)
	}
	if end != 0 {
		b = protowire.AppendTag(b, fieldSpanEnd, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, end)
	}
	s.wire = b
}

// end writes the length of the span begun last, moving what follows the
// two bytes kept for it when it takes one or more than two.
func (s *scopeSpans) end() {
	n := len(s.wire) - s.open - 2
	var lenBuf [binaryMaxVarint]byte
	l := protowire.AppendVarint(lenBuf[:0], uint64(n))
	switch {
	case len(l) < 2:
		copy(s.wire[s.open+len(l):], s.wire[s.open+2:])
		s.wire = s.wire[:len(s.wire)-(2-len(l))]
	case len(l) > 2:
		grow := len(l) - 2
		s.wire = append(s.wire, make([]byte, grow)...)
		copy(s.wire[s.open+len(l):], s.wire[s.open+2:len(s.wire)-grow])
	}
	copy(s.wire[s.open:], l)
}

const binaryMaxVarint = 10

// attribute writes an attribute's key-value up to its value's contents:
// the key keyPrefix+key and the value's length, valueSize.
func (s *scopeSpans) attribute(keyPrefix, key string, valueSize int) {
	keyPrefix, key = valid(keyPrefix), valid(key)
	kn := len(keyPrefix) + len(key)
	size := sizeBytes(fieldKeyValueValue, valueSize)
	if kn > 0 {
		size += sizeBytes(fieldKeyValueKey, kn)
	}
	b := protowire.AppendTag(s.wire, fieldSpanAttributes, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	if kn > 0 {
		b = protowire.AppendTag(b, fieldKeyValueKey, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(kn))
		b = append(append(b, keyPrefix...), key...)
	}
	b = protowire.AppendTag(b, fieldKeyValueValue, protowire.BytesType)
	s.wire = protowire.AppendVarint(b, uint64(valueSize))
}

// str, integer, double and boolean write an attribute of a span begun: a
// value's oneof field is written even when it holds its zero (the runtime
// writes a set oneof). A double that is not a number or infinite is
// written as its text, as WTB has always sent it.
func (s *scopeSpans) str(key, v string) { s.strKey("", key, v) }

func (s *scopeSpans) strKey(keyPrefix, key, v string) {
	v = valid(v)
	s.attribute(keyPrefix, key, sizeBytes(fieldAnyString, len(v)))
	s.wire = protowire.AppendTag(s.wire, fieldAnyString, protowire.BytesType)
	s.wire = protowire.AppendString(s.wire, v)
}

func (s *scopeSpans) integer(key string, v int64) {
	s.attribute("", key, protowire.SizeTag(fieldAnyInt)+protowire.SizeVarint(uint64(v)))
	s.wire = protowire.AppendTag(s.wire, fieldAnyInt, protowire.VarintType)
	s.wire = protowire.AppendVarint(s.wire, uint64(v))
}

func (s *scopeSpans) double(key string, v float64) { s.doubleKey("", key, v) }

func (s *scopeSpans) doubleKey(keyPrefix, key string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		s.strKey(keyPrefix, key, strconv.FormatFloat(v, 'g', -1, 64))
		return
	}
	s.attribute(keyPrefix, key, protowire.SizeTag(fieldAnyDouble)+protowire.SizeFixed64())
	s.wire = protowire.AppendTag(s.wire, fieldAnyDouble, protowire.Fixed64Type)
	s.wire = protowire.AppendFixed64(s.wire, math.Float64bits(v))
}

func (s *scopeSpans) boolean(key string, v bool) {
	s.attribute("", key, protowire.SizeTag(fieldAnyBool)+1)
	s.wire = protowire.AppendTag(s.wire, fieldAnyBool, protowire.VarintType)
	s.wire = protowire.AppendVarint(s.wire, protowire.EncodeBool(v))
}

// link writes a link to span id of trace with one string attribute (after
// the span's attributes).
func (s *scopeSpans) link(trace, id []byte, key, v string) {
	key, v = valid(key), valid(v)
	valueSize := sizeBytes(fieldAnyString, len(v))
	kvSize := sizeBytes(fieldKeyValueValue, valueSize)
	if key != "" {
		kvSize += sizeBytes(fieldKeyValueKey, len(key))
	}
	size := sizeBytes(fieldLinkAttributes, kvSize)
	if len(trace) > 0 {
		size += sizeBytes(fieldLinkTraceID, len(trace))
	}
	if len(id) > 0 {
		size += sizeBytes(fieldLinkSpanID, len(id))
	}
	b := protowire.AppendTag(s.wire, fieldSpanLinks, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = appendBytesField(b, fieldLinkTraceID, trace)
	b = appendBytesField(b, fieldLinkSpanID, id)
	b = protowire.AppendTag(b, fieldLinkAttributes, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(kvSize))
	if key != "" {
		b = protowire.AppendTag(b, fieldKeyValueKey, protowire.BytesType)
		b = protowire.AppendString(b, key)
	}
	b = protowire.AppendTag(b, fieldKeyValueValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(valueSize))
	b = protowire.AppendTag(b, fieldAnyString, protowire.BytesType)
	s.wire = protowire.AppendString(b, v)
}

// status writes the span's status (last: its field number is the
// highest).
func (s *scopeSpans) status(code tracev1.Status_StatusCode, msg string) {
	msg = valid(msg)
	size := 0
	if msg != "" {
		size += sizeBytes(fieldStatusMessage, len(msg))
	}
	if code != 0 {
		size += protowire.SizeTag(fieldStatusCode) + protowire.SizeVarint(uint64(code))
	}
	b := protowire.AppendTag(s.wire, fieldSpanStatus, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	if msg != "" {
		b = protowire.AppendTag(b, fieldStatusMessage, protowire.BytesType)
		b = protowire.AppendString(b, msg)
	}
	if code != 0 {
		b = protowire.AppendTag(b, fieldStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(code))
	}
	s.wire = b
}

// valid is s as a protobuf string may hold it: bytes that are not UTF-8 (an
// error message cut in the middle of a character, a node's binary output)
// become U+FFFD. The runtime refuses to encode such a string and a
// collector to decode it: one of them failed a whole request of 256
// executions.
func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// validSpan makes every string of a span built as a message valid (see
// valid).
func validSpan(m *tracev1.Span) {
	m.TraceState, m.Name = valid(m.TraceState), valid(m.Name)
	validAttributes(m.Attributes)
	for _, e := range m.Events {
		if e != nil {
			e.Name = valid(e.Name)
			validAttributes(e.Attributes)
		}
	}
	for _, l := range m.Links {
		if l != nil {
			l.TraceState = valid(l.TraceState)
			validAttributes(l.Attributes)
		}
	}
	if m.Status != nil {
		m.Status.Message = valid(m.Status.Message)
	}
}

func validAttributes(kvs []*commonv1.KeyValue) {
	for _, kv := range kvs {
		if kv != nil {
			kv.Key = valid(kv.Key)
			validValue(kv.Value)
		}
	}
}

func validValue(v *commonv1.AnyValue) {
	switch x := v.GetValue().(type) {
	case *commonv1.AnyValue_StringValue:
		x.StringValue = valid(x.StringValue)
	case *commonv1.AnyValue_ArrayValue:
		for _, e := range x.ArrayValue.GetValues() {
			validValue(e)
		}
	case *commonv1.AnyValue_KvlistValue:
		validAttributes(x.KvlistValue.GetValues())
	}
}
