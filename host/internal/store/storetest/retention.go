package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// A cancel request reaches only a running batch with a live owner; the
// first request is kept; a new owner starts with none.
func testCancelRequests(t *testing.T, st store.Store) {
	ctx := context.Background()
	b := st.Batches()
	if err := b.Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	first := store.CancelRequest{By: "wtb cancel (pid 7 on h1)", At: at}
	if _, err := b.RequestCancel(ctx, "b", first); !errors.Is(err, store.ErrNotRunning) {
		t.Errorf("a cancel of a batch nobody owns: %v, want ErrNotRunning", err)
	}
	if _, err := b.RequestCancel(ctx, "ghost", first); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a cancel of an unknown batch: %v, want ErrNotFound", err)
	}
	if err := b.Acquire(ctx, "b", "owner1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if req, err := b.CancelRequest(ctx, "b"); err != nil || req != nil {
		t.Fatalf("a batch nobody asked to stop has a request: %+v %v", req, err)
	}
	got, err := b.RequestCancel(ctx, "b", first)
	if err != nil || got.By != first.By || !got.At.Equal(at) {
		t.Fatalf("RequestCancel: %+v %v", got, err)
	}
	second := store.CancelRequest{By: "wtb cancel (pid 9 on h2)", At: at.Add(time.Second)}
	if got, err := b.RequestCancel(ctx, "b", second); err != nil || got.By != first.By {
		t.Errorf("a second request replaced the first: %+v %v", got, err)
	}
	req, err := b.CancelRequest(ctx, "b")
	if err != nil || req == nil || req.By != first.By || !req.At.Equal(at) {
		t.Errorf("the owner reads %+v %v", req, err)
	}
	if rec, _ := b.Get(ctx, "b"); rec.CancelRequestedBy != first.By || rec.CancelRequestedAt == nil || !rec.CancelRequestedAt.Equal(at) {
		t.Errorf("the batch row: by %q at %v", rec.CancelRequestedBy, rec.CancelRequestedAt)
	}
	// Renewing keeps the request; a new owner (a resume after the owner
	// stopped) starts without it.
	if err := b.Renew(ctx, "b", "owner1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if req, _ := b.CancelRequest(ctx, "b"); req == nil {
		t.Error("renewing the lease dropped the request")
	}
	if err := b.Release(ctx, "b", "owner1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Acquire(ctx, "b", "owner2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if req, err := b.CancelRequest(ctx, "b"); err != nil || req != nil {
		t.Errorf("a new owner inherited the request: %+v %v", req, err)
	}
	if _, err := b.RequestCancel(ctx, "b", second); err != nil {
		t.Fatal(err)
	}
	if err := b.Takeover(ctx, "b", "owner2", "owner3", time.Minute); err != nil {
		t.Fatal(err)
	}
	if req, _ := b.CancelRequest(ctx, "b"); req != nil {
		t.Errorf("a takeover inherited the request: %+v", req)
	}
	// A batch that ended cannot be cancelled, even with its lease not yet
	// released.
	now := time.Now()
	if err := b.SetStatus(ctx, "b", store.StatusCompleted, &now, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RequestCancel(ctx, "b", second); !errors.Is(err, store.ErrNotRunning) {
		t.Errorf("a cancel of a completed batch: %v, want ErrNotRunning", err)
	}
}

// fill stores rows of batch id in every table that holds rows of batches.
func fill(t *testing.T, st store.Store, id string, n int) {
	t.Helper()
	ctx := context.Background()
	var w store.WriteSet
	for i := range n {
		cp := fmt.Sprintf("%s-cp%d", id, i)
		w.Checkpoints = append(w.Checkpoints, store.Checkpoint{ID: cp, BatchID: id, Node: "a", Source: store.SourceRan, CacheKey: "k-" + cp,
			State: json.RawMessage(`{"x":1}`), CreatedAt: time.Now()})
		r := NewResult(id, fmt.Sprintf("a=x/c%d/0", i))
		r.FinalCheckpointID = cp
		w.Results = append(w.Results, r)
		w.ModelCalls = append(w.ModelCalls, NewModelCall(id, cp, "key-"+cp, 0))
		w.Spans = append(w.Spans, store.NodeSpans{BatchID: id, RunID: cp, Node: "a", Spans: json.RawMessage(`[]`), Dropped: 1, CreatedAt: time.Now()})
	}
	if err := st.Write(ctx, w); err != nil {
		t.Fatal(err)
	}
	var entries []store.AuditEntry
	for i := range n {
		entries = append(entries, store.AuditEntry{ID: fmt.Sprintf("%s-e%d", id, i), BatchID: id, Time: time.Now(), Severity: "INFO",
			EventType: "batch.started", Message: "m", Details: json.RawMessage(`{}`)})
	}
	if err := st.Audit().Append(ctx, entries); err != nil {
		t.Fatal(err)
	}
}

// Deleting a batch removes its rows from every table, in one go, and
// nothing of another batch; a batch with a live lease and one whose
// checkpoints rescored batches read are refused; forks are detached.
func testRetention(t *testing.T, st store.Store) {
	ctx := context.Background()
	b, ret := st.Batches(), st.Retention()
	mk := func(id, parent, lineage string) {
		rec := NewBatch(id)
		rec.ParentID, rec.Lineage = parent, lineage
		if lineage == store.LineageFork {
			rec.ForkNode = "a"
		}
		if err := b.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	mk("p", "", "")
	mk("other", "", "")
	mk("f", "p", store.LineageFork)
	mk("r", "p", store.LineageRescore)
	for id, n := range map[string]int{"p": 3, "other": 2, "f": 1} {
		fill(t, st, id, n)
	}
	want := store.RowCounts{store.Results.Name: 3, store.Checkpoints.Name: 3, store.Audit.Name: 3, store.ModelCalls.Name: 3, store.Spans.Name: 3}
	if got, err := ret.Count(ctx, "p"); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Count(p) = %v %v, want %v", got, err, want)
	}
	all, err := ret.All(ctx)
	if err != nil || len(all) != 4 || all[0].ID != "p" || all[3].ID != "r" || all[3].ParentID != "p" || len(all[0].Spec) > 2 {
		t.Fatalf("All: %+v %v", all, err)
	}

	// p's checkpoints are read by its rescore r.
	var deps *store.DependentsError
	if _, err := ret.Delete(ctx, "p", store.DeleteOptions{}); !errors.As(err, &deps) || len(deps.Dependents) != 1 || deps.Dependents[0] != "r" {
		t.Fatalf("deleting a batch a rescore reads: %v", err)
	}
	// r is being run: refused, unless its owner is known to be gone.
	if err := b.Acquire(ctx, "r", "live-owner", time.Minute); err != nil {
		t.Fatal(err)
	}
	var running *store.BatchRunningError
	if _, err := ret.Delete(ctx, "r", store.DeleteOptions{}); !errors.As(err, &running) || running.Owner != "live-owner" {
		t.Fatalf("deleting a batch with a live lease: %v", err)
	}
	if _, err := ret.Delete(ctx, "r", store.DeleteOptions{DeadOwner: "someone-else"}); !errors.As(err, &running) {
		t.Fatalf("another dead owner unlocked a live lease: %v", err)
	}
	if _, err := ret.Delete(ctx, "r", store.DeleteOptions{DeadOwner: "live-owner"}); err != nil {
		t.Fatalf("deleting a batch whose owner is gone: %v", err)
	}
	// An expired lease protects nothing.
	if err := b.Acquire(ctx, "p", "stalled", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	got, err := ret.Delete(ctx, "p", store.DeleteOptions{})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Delete(p) = %v %v, want %v", got, err, want)
	}
	if _, err := b.Get(ctx, "p"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted batch is still there: %v", err)
	}
	if left, _ := ret.Count(ctx, "p"); fmt.Sprint(left) != fmt.Sprint(store.RowCounts{store.Results.Name: 0, store.Checkpoints.Name: 0,
		store.Audit.Name: 0, store.ModelCalls.Name: 0, store.Spans.Name: 0}) {
		t.Errorf("rows of the deleted batch remain: %v", left)
	}
	if _, err := st.Checkpoints().FindCached(ctx, "k-p-cp0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the node cache still serves a deleted batch's node run: %v", err)
	}
	if _, err := ret.Delete(ctx, "p", store.DeleteOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}
	// The fork stays whole, detached: no parent, still a fork at its node.
	fork, err := b.Get(ctx, "f")
	if err != nil || fork.ParentID != "" || fork.Lineage != store.LineageFork || fork.ForkNode != "a" {
		t.Errorf("the fork after its parent went: %+v %v", fork, err)
	}
	for id, n := range map[string]int64{"f": 1, "other": 2} {
		if c, _ := ret.Count(ctx, id); c[store.Results.Name] != n || c[store.Checkpoints.Name] != n || c[store.Audit.Name] != n || c[store.ModelCalls.Name] != n || c[store.Spans.Name] != n {
			t.Errorf("batch %s lost rows: %v", id, c)
		}
	}
	if _, err := st.Checkpoints().Get(ctx, "f-cp0"); err != nil {
		t.Errorf("the fork's checkpoint: %v", err)
	}
	if _, err := ret.Reclaim(ctx, false); err != nil {
		t.Errorf("Reclaim: %v", err)
	}
}
