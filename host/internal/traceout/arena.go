package traceout

import (
	"math"
	"strconv"

	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
)

// arena hands out the OTLP messages of WTB's own spans from chunks: an
// attribute is three small objects (the key-value, the value, its oneof
// wrapper) and an execution's spans hold about twenty, so allocating them
// one by one was most of the conversion's cost and of the garbage a live
// export adds to a batch. A chunk is never grown (its elements are pointed
// to); a full one is replaced by a new one. The messages live as long as
// the trace that holds them.
type arena struct {
	kvs   []commonv1.KeyValue
	vals  []commonv1.AnyValue
	strs  []commonv1.AnyValue_StringValue
	ints  []commonv1.AnyValue_IntValue
	dbls  []commonv1.AnyValue_DoubleValue
	bools []commonv1.AnyValue_BoolValue
	spans []tracev1.Span
	stats []tracev1.Status
}

const arenaChunk = 512

// next returns the next element of *chunk, starting a new chunk when it is
// used up.
func next[T any](chunk *[]T) *T {
	if len(*chunk) == 0 {
		*chunk = make([]T, arenaChunk)
	}
	p := &(*chunk)[0]
	*chunk = (*chunk)[1:]
	return p
}

func (a *arena) kv(k string, v *commonv1.AnyValue) *commonv1.KeyValue {
	kv := next(&a.kvs)
	kv.Key, kv.Value = k, v
	return kv
}

func (a *arena) str(k, v string) *commonv1.KeyValue {
	s := next(&a.strs)
	s.StringValue = v
	val := next(&a.vals)
	val.Value = s
	return a.kv(k, val)
}

func (a *arena) integer(k string, v int64) *commonv1.KeyValue {
	i := next(&a.ints)
	i.IntValue = v
	val := next(&a.vals)
	val.Value = i
	return a.kv(k, val)
}

func (a *arena) double(k string, v float64) *commonv1.KeyValue {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return a.str(k, strconv.FormatFloat(v, 'g', -1, 64))
	}
	d := next(&a.dbls)
	d.DoubleValue = v
	val := next(&a.vals)
	val.Value = d
	return a.kv(k, val)
}

func (a *arena) boolean(k string, v bool) *commonv1.KeyValue {
	b := next(&a.bools)
	b.BoolValue = v
	val := next(&a.vals)
	val.Value = b
	return a.kv(k, val)
}

func (a *arena) span() *tracev1.Span { return next(&a.spans) }

func (a *arena) status(code tracev1.Status_StatusCode, msg string) *tracev1.Status {
	s := next(&a.stats)
	s.Code, s.Message = code, msg
	return s
}
