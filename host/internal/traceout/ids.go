package traceout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// TraceID is the trace id of a batch: 16 bytes derived from its id.
func TraceID(batchID string) []byte {
	h := sha256.Sum256([]byte("wtb.trace\x00" + batchID))
	return h[:16]
}

// spanID derives a span id from parts (never all zero: OTLP's "no id").
func spanID(parts ...string) []byte {
	id := spanIDArray(parts...)
	return id[:]
}

// spanIDArray is spanID as an array, which the hot path keeps on its
// stack (three ids per execution were a tenth of the export's garbage).
func spanIDArray(parts ...string) [8]byte {
	var buf [256]byte
	b := buf[:0]
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	h := sha256.Sum256(b)
	id := [8]byte(h[:8])
	if id == ([8]byte{}) {
		id[7] = 1
	}
	return id
}

// BatchSpanID is the id of a batch's root span.
func BatchSpanID(batchID string) []byte { return spanID("wtb.batch", batchID) }

// ExecutionSpanID is the id of an execution's span.
func ExecutionSpanID(batchID, key string) []byte {
	id := executionSpanID(batchID, key)
	return id[:]
}

func executionSpanID(batchID, key string) [8]byte {
	return spanIDArray("wtb.execution", batchID, key)
}

// nodeRunSpanIDArray is the id of a node run's span when no stored span of
// the run names it: per execution, node and attempt (0: the run that made
// the checkpoint).
func nodeRunSpanIDArray(batchID, key, node string, attempt int) [8]byte {
	return spanIDArray("wtb.node_run", batchID, key, node, strconv.Itoa(attempt))
}

// Parent is the span a batch's trace hangs from: a W3C traceparent's, as
// OpenTelemetry tools take it from TRACEPARENT.
type Parent struct {
	TraceID, SpanID []byte
}

// ParseTraceparent reads a W3C traceparent (version 00: 00-TRACE-SPAN-FLAGS,
// lowercase hex, neither id all zero).
func ParseTraceparent(v string) (*Parent, error) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	bad := func(why string) error {
		return fmt.Errorf("TRACEPARENT %q is not a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>): %s", v, why)
	}
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) {
		return nil, bad("not four fields of version 00")
	}
	trace, err1 := hex.DecodeString(parts[1])
	span, err2 := hex.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(trace) != 16 || len(span) != 8 || len(parts[3]) != 2 || parts[1] != strings.ToLower(parts[1]) ||
		parts[2] != strings.ToLower(parts[2]) {
		return nil, bad("the ids are not lowercase hex of 16 and 8 bytes")
	}
	if bytes.Equal(trace, make([]byte, 16)) || bytes.Equal(span, make([]byte, 8)) {
		return nil, bad("an id is all zeros")
	}
	return &Parent{TraceID: trace, SpanID: span}, nil
}
