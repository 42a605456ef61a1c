package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// A node run's spans are stored once per (batch, run) with the write that
// carries them, their JSON array and dropped count as written; a batch that
// does not exist takes none.
func testSpans(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b1")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	spans := json.RawMessage(`[{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","name":"chat gpt-4o-mini","attributes":{"gen_ai.operation.name":"chat","gen_ai.usage.input_tokens":12}}]`)
	rows := []store.NodeSpans{
		{BatchID: "b1", RunID: "run1", Node: "answer", ExecutionKey: "c1/0", Outcome: store.OutcomeRan, Spans: spans, CreatedAt: now},
		{BatchID: "b1", RunID: "run2#a1", Node: "answer", ExecutionKey: "c2/0", Outcome: store.OutcomeFailed, Spans: json.RawMessage(`[]`), Dropped: 7, CreatedAt: now},
	}
	for range 2 { // a retried write doubles nothing
		if err := st.Write(ctx, store.WriteSet{Spans: rows}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Spans().ListByRuns(ctx, "b1", []string{"run1", "run2#a1", "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RunID != "run1" || got[1].RunID != "run2#a1" || got[1].Dropped != 7 || got[1].Outcome != store.OutcomeFailed {
		t.Fatalf("spans = %+v", got)
	}
	var a, b any
	_ = json.Unmarshal(spans, &a)
	_ = json.Unmarshal(got[0].Spans, &b)
	if ja, jb := mustJSON(a), mustJSON(b); ja != jb {
		t.Fatalf("spans stored as %s, want %s", jb, ja)
	}
	if err := st.Write(ctx, store.WriteSet{Spans: []store.NodeSpans{{BatchID: "ghost", RunID: "r", Spans: spans, CreatedAt: now}}}); err == nil {
		t.Fatal("spans of a batch that does not exist were stored")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
