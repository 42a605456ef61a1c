package traceout

import (
	"strconv"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// drawExecutions draws executions with a few attributes of every kind
// (strings, integers, doubles NaN included, booleans, statuses), enough of
// them to fill several of the arena's chunks.
func drawExecutions(t *rapid.T, label string) []Execution {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	n := rapid.IntRange(0, 120).Draw(t, label+" executions")
	out := make([]Execution, n)
	for i := range out {
		res := &store.Result{
			ExecutionKey: rapid.StringMatching(`c[0-9]/k[0-9]{1,3}/[0-9]`).Draw(t, "key"),
			Combination:  rapid.StringMatching(`c[0-9]`).Draw(t, "combination"),
			CaseID:       rapid.StringMatching(`k[0-9]{1,3}`).Draw(t, "case"),
			Repeat:       rapid.IntRange(0, 9).Draw(t, "repeat"),
			Status:       rapid.SampledFrom([]string{store.ResultSucceeded, store.ResultFailed}).Draw(t, "status"),
			OverallScore: rapid.Float64().Draw(t, "score"),
			Passed:       rapid.Bool().Draw(t, "passed"),
			Attempts:     rapid.IntRange(1, 3).Draw(t, "attempts"),
			DurationMs:   float64(rapid.IntRange(0, 5000).Draw(t, "ms")),
			CreatedAt:    t0.Add(time.Duration(i) * time.Second),
			WorkerID:     rapid.StringMatching(`(w[0-9])?`).Draw(t, "worker"),
			Variants:     rapid.MapOf(rapid.StringMatching(`n[0-9]`), rapid.StringMatching(`v[0-9]`)).Draw(t, "variants"),
			Scores:       rapid.MapOf(rapid.StringMatching(`e[0-9]`), rapid.Float64()).Draw(t, "scores"),
		}
		out[i] = Execution{Result: res, Chain: []*store.Checkpoint{{ID: "root", Source: store.SourceRoot},
			{ID: "cp" + res.ExecutionKey, ParentID: "root", Node: "a", Source: store.SourceRan, SegmentKey: res.ExecutionKey, CreatedAt: res.CreatedAt}}}
	}
	return out
}

func requestBytes(t *rapid.T, tr *Trace) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: tr.ResourceSpans()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A trace reset and filled again (the live exporter's, request after
// request, in the memory of the last) sends exactly what a new trace of the
// same executions sends: nothing of the earlier request is left in it.
func TestAResetTraceSendsWhatANewOneWould(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		reused := NewTrace("B", "v", nil)
		for round := range rapid.IntRange(1, 4).Draw(t, "rounds") {
			exs := drawExecutions(t, "round")
			batch := round == 0 && rapid.Bool().Draw(t, "batch span")
			fresh := NewTrace("B", "v", nil)
			reused.Reset()
			for _, tr := range []*Trace{fresh, reused} {
				if batch {
					tr.AddBatch(Batch{ID: "B", Name: "b", Status: store.StatusCompleted})
				}
				for _, ex := range exs {
					tr.AddExecution(ex)
				}
			}
			if reused.Len() != fresh.Len() {
				t.Fatalf("round %d: %d spans after a reset, %d in a new trace", round, reused.Len(), fresh.Len())
			}
			if got, want := requestBytes(t, reused), requestBytes(t, fresh); string(got) != string(want) {
				t.Fatalf("round %d: the reset trace's request (%d bytes) differs from a new one's (%d bytes)", round, len(got), len(want))
			}
		}
	})
}

// reset frees what was handed out, zeroed, and hands the same memory out
// again.
func TestChunksAreZeroedAndReused(t *testing.T) {
	var c chunks[store.LogLine]
	var first []*store.LogLine
	for i := range arenaChunk + 3 {
		p := next(&c)
		p.Line, p.Stream = "x", strconv.Itoa(i)
		first = append(first, p)
	}
	if len(c.all) != 2 {
		t.Fatalf("%d chunks for %d elements", len(c.all), arenaChunk+3)
	}
	c.reset()
	for i, p := range first {
		if p.Line != "" || p.Stream != "" {
			t.Fatalf("element %d not zeroed by reset: %+v", i, *p)
		}
	}
	for i := range arenaChunk + 3 {
		if p := next(&c); p != first[i] {
			t.Fatalf("element %d after reset is new memory", i)
		}
	}
	if len(c.all) != 2 {
		t.Fatalf("reset grew the chunks to %d", len(c.all))
	}
}
