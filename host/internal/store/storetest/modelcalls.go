package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// NewModelCall is a stored call of node run run (identity key) in batch.
func NewModelCall(batch, run, key string, ordinal int) store.ModelCall {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return store.ModelCall{BatchID: batch, RunID: run, RunKey: key, Ordinal: ordinal, Outcome: store.OutcomeRan, Node: "answer",
		ExecutionKey: "a=x/c1/0", Upstream: "openai", Method: "POST", Path: "/chat/completions", Status: 200, Source: "recorded",
		Model: "gpt-test", MatchKey: fmt.Sprintf("m%d", ordinal), StartedAt: now, DurationMs: 12.5, FirstByteMs: 3,
		Request:  json.RawMessage(fmt.Sprintf(`{"headers":{"content-type":"application/json"},"json":{"n":%d}}`, ordinal)),
		Response: json.RawMessage(`{"headers":{},"json":{"answer":"ok"}}`), CreatedAt: now}
}

// Model calls are stored once per (batch, run, ordinal) with the write that
// carries them; replay finds the most recent finished run under a run key,
// from any batch, never a failed one.
func testModelCalls(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, b := range []string{"b1", "b2"} {
		if err := st.Batches().Create(ctx, NewBatch(b)); err != nil {
			t.Fatal(err)
		}
	}
	first := []store.ModelCall{NewModelCall("b1", "run1", "k1", 0), NewModelCall("b1", "run1", "k1", 1)}
	first[1].Streamed = true
	first[0].InputTokens, first[0].OutputTokens, first[0].CacheReadTokens, first[0].CacheWriteTokens, first[0].ReasoningTokens = 120, 40, 3_000_000_000, 7, 9
	first[0].UsageReported, first[0].Priced, first[0].CostUSD = true, true, 0.000123
	first[0].Attempts, first[0].QueueMs = 3, 2150.25
	first[1].Response = json.RawMessage(`{"headers":{"content-type":"text/event-stream"},"chunks":[{"text":"data: {}\n\n","at_ms":1.5}]}`)
	if err := st.Write(ctx, store.WriteSet{ModelCalls: first}); err != nil {
		t.Fatal(err)
	}
	// Written again (a retried write, a resume): nothing doubles.
	if err := st.Write(ctx, store.WriteSet{ModelCalls: first}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	failed := NewModelCall("b2", "run9#a1", "k1", 0)
	failed.Outcome = store.OutcomeFailed
	later := []store.ModelCall{NewModelCall("b2", "run2", "k1", 0), failed, NewModelCall("b2", "run3", "k2", 0)}
	later[0].Source = "replayed"
	later[0].CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	failed.CreatedAt = later[0].CreatedAt.Add(time.Second)
	later[1] = failed
	if err := st.Write(ctx, store.WriteSet{ModelCalls: later}); err != nil {
		t.Fatal(err)
	}

	runs, err := st.ModelCalls().ForRuns(ctx, []string{"k1", "k2", "nothing", ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || len(runs["k1"]) != 1 || runs["k1"][0].BatchID != "b2" || runs["k1"][0].RunID != "run2" {
		t.Fatalf("ForRuns: the most recent finished run under k1 is b2/run2; got %+v", runs)
	}
	byRun, err := st.ModelCalls().ListByRuns(ctx, "b1", []string{"run1", "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byRun) != 2 || byRun[0].Ordinal != 0 || byRun[1].Ordinal != 1 || !byRun[1].Streamed {
		t.Fatalf("ListByRuns: %+v", byRun)
	}
	var got, want map[string]any
	_ = json.Unmarshal(byRun[1].Response, &got)
	_ = json.Unmarshal(first[1].Response, &want)
	u := byRun[0]
	if u.InputTokens != 120 || u.OutputTokens != 40 || u.CacheReadTokens != 3_000_000_000 || u.CacheWriteTokens != 7 || u.ReasoningTokens != 9 ||
		!u.UsageReported || !u.Priced || u.CostUSD != 0.000123 || byRun[1].UsageReported || byRun[1].Priced {
		t.Errorf("usage and cost read back changed: %+v", u)
	}
	if u.Attempts != 3 || u.QueueMs != 2150.25 || byRun[1].Attempts != 0 || byRun[1].QueueMs != 0 {
		t.Errorf("attempts and queue time read back changed: %d %v, %d %v", u.Attempts, u.QueueMs, byRun[1].Attempts, byRun[1].QueueMs)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || byRun[0].DurationMs != 12.5 || !byRun[0].StartedAt.Equal(first[0].StartedAt) {
		t.Errorf("a call reads back changed: %+v", byRun[1])
	}
	n := 0
	if err := st.ModelCalls().Each(ctx, "b2", func(*store.ModelCall) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("Each: %d calls, %v", n, err)
	}
	counts, err := st.ModelCalls().Count(ctx, "b1")
	if err != nil || counts["recorded"] != 2 || len(counts) != 1 {
		t.Errorf("Count: %v %v", counts, err)
	}
	near, err := st.ModelCalls().Nearest(ctx, "answer")
	if err != nil || len(near) != 1 || near[0].BatchID != "b2" {
		t.Errorf("Nearest: %+v %v", near, err)
	}
	// Calls naming a batch that does not exist are refused with the rest.
	if err := st.Write(ctx, store.WriteSet{ModelCalls: []store.ModelCall{NewModelCall("ghost", "r", "k", 0)}}); err == nil {
		t.Error("model calls of an unknown batch were stored")
	}
}
