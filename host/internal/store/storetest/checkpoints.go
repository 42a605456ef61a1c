package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

func testCheckpoints(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	root := store.Checkpoint{ID: "root", BatchID: "b", Source: store.SourceRoot, State: json.RawMessage(`{"q":1}`), CreatedAt: time.Now()}
	one := store.Checkpoint{ID: "one", BatchID: "b", ParentID: "root", Node: "a", Position: 1, Variant: "x", ConfigHash: "h1",
		Source: store.SourceRan, SegmentKey: "seg", State: json.RawMessage(`{"q":1,"a":"x"}`), Output: json.RawMessage(`{"a":"x"}`),
		Metrics: map[string]float64{"m": 2}, DurationMs: 3.5, WorkerID: "w", CreatedAt: time.Now()}
	for i := 0; i < 2; i++ {
		if err := st.Write(ctx, store.WriteSet{Checkpoints: []store.Checkpoint{root, one}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Checkpoints().Get(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	if err := json.Unmarshal(got.State, &state); err != nil || state["a"] != "x" || got.ParentID != "root" ||
		got.Metrics["m"] != 2 || got.DurationMs != 3.5 || got.Position != 1 || got.Variant != "x" {
		t.Errorf("round trip: %+v (%v)", got, err)
	}
	ids := map[string]bool{}
	if err := st.Checkpoints().EachID(ctx, "b", func(id string) { ids[id] = true }); err != nil || !ids["root"] || !ids["one"] || len(ids) != 2 {
		t.Errorf("EachID: %v (%v)", ids, err)
	}
	list, _ := st.Checkpoints().ListByBatch(ctx, "b")
	if len(list) != 2 {
		t.Errorf("ListByBatch: %d", len(list))
	}
	if _, err := st.Checkpoints().Get(ctx, "two"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
}

func testCache(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, id := range []string{"b1", "b2"} {
		if err := st.Batches().Create(ctx, NewBatch(id)); err != nil {
			t.Fatal(err)
		}
	}
	cp := store.Checkpoint{ID: "c1", BatchID: "b1", Node: "a", CacheKey: "k1", Source: store.SourceRan,
		State: json.RawMessage(`{"x":1}`), CreatedAt: time.Now()}
	reuse := store.Checkpoint{ID: "c2", BatchID: "b2", Node: "a", CacheKey: "k1", Source: store.SourceCached,
		State: json.RawMessage(`{"x":1}`), CreatedAt: time.Now()}
	if err := st.Write(ctx, store.WriteSet{Checkpoints: []store.Checkpoint{cp, reuse}}); err != nil {
		t.Fatal(err)
	}
	hit, err := st.Checkpoints().FindCached(ctx, "k1")
	if err != nil || hit.ID != "c1" {
		t.Fatalf("FindCached: %+v %v; want the node run, not the reuse", hit, err)
	}
	if _, err := st.Checkpoints().FindCached(ctx, "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("miss: %v", err)
	}
	stats, _ := st.Checkpoints().CacheStats(ctx)
	if stats.Entries != 1 || stats.Batches != 1 || stats.Bytes == 0 {
		t.Errorf("stats: %+v", stats)
	}
	if n, err := st.Checkpoints().ClearCache(ctx); err != nil || n != 2 {
		t.Errorf("ClearCache: %d %v", n, err)
	}
	if _, err := st.Checkpoints().FindCached(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after clear: %v", err)
	}
}

func testLargeState(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	big, _ := json.Marshal(map[string]string{"blob": strings.Repeat("x", 6<<20)})
	if err := st.Write(ctx, store.WriteSet{Checkpoints: []store.Checkpoint{{ID: "big", BatchID: "b", Source: store.SourceRan,
		State: big, CreatedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Checkpoints().Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(got.State, &m); err != nil || len(m["blob"]) != 6<<20 {
		t.Errorf("a 6 MiB state did not survive (%v)", err)
	}
}
