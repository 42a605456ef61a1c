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
// to). The messages live as long as the trace that holds them; a trace
// that is reset (the live exporter's, after each request) hands the same
// chunks out again, so a long export allocates them once rather than per
// request (at 100,000 executions they were 300 MB of its 460 MB of
// garbage).
type arena struct {
	kvs   chunks[commonv1.KeyValue]
	vals  chunks[commonv1.AnyValue]
	strs  chunks[commonv1.AnyValue_StringValue]
	ints  chunks[commonv1.AnyValue_IntValue]
	dbls  chunks[commonv1.AnyValue_DoubleValue]
	bools chunks[commonv1.AnyValue_BoolValue]
	spans chunks[tracev1.Span]
	stats chunks[tracev1.Status]
}

const arenaChunk = 512

// chunks are the chunks of one message type: all[:i] are used up, all[i]
// is used up to j, the rest are free (after a reset).
type chunks[T any] struct {
	all  [][]T
	i, j int
}

// next returns the next free element, starting a new chunk when every one
// is used up.
func next[T any](c *chunks[T]) *T {
	if c.i == len(c.all) {
		c.all = append(c.all, make([]T, arenaChunk))
	}
	p := &c.all[c.i][c.j]
	if c.j++; c.j == arenaChunk {
		c.i, c.j = c.i+1, 0
	}
	return p
}

// reset zeroes what was handed out (so nothing it pointed to is kept alive
// and a message's cached size starts afresh) and makes it free again.
func (c *chunks[T]) reset() {
	for k := 0; k < c.i; k++ {
		clear(c.all[k])
	}
	if c.i < len(c.all) {
		clear(c.all[c.i][:c.j])
	}
	c.i, c.j = 0, 0
}

// reset makes every message the arena handed out free again; nothing may
// hold one afterwards.
func (a *arena) reset() {
	a.kvs.reset()
	a.vals.reset()
	a.strs.reset()
	a.ints.reset()
	a.dbls.reset()
	a.bools.reset()
	a.spans.reset()
	a.stats.reset()
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
