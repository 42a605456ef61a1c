// Package storetest is the repository test suite every store implementation
// must pass: the same tests run against SQLite and PostgreSQL.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// Opener returns a fresh, empty store for one test.
type Opener func(t *testing.T) store.Store

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	t.Run("batches", func(t *testing.T) { testBatches(t, open(t)) })
	t.Run("results_idempotent", func(t *testing.T) { testResultsIdempotent(t, open(t)) })
	t.Run("checkpoints", func(t *testing.T) { testCheckpoints(t, open(t)) })
	t.Run("node_cache", func(t *testing.T) { testCache(t, open(t)) })
	t.Run("audit", func(t *testing.T) { testAudit(t, open(t)) })
	t.Run("batch_lease", func(t *testing.T) { testLease(t, open(t)) })
	t.Run("large_state", func(t *testing.T) { testLargeState(t, open(t)) })
	t.Run("concurrent_writers", func(t *testing.T) { testConcurrentWriters(t, open(t)) })
	t.Run("logs_and_notes", func(t *testing.T) { testLogsAndNotes(t, open(t)) })
	t.Run("results_query", func(t *testing.T) { testResultsQuery(t, open(t)) })
	t.Run("results_streamed", func(t *testing.T) { testResultsStreamed(t, open(t)) })
	t.Run("cases_query", func(t *testing.T) { testCasesQuery(t, open(t)) })
	t.Run("outputs", func(t *testing.T) { testOutputs(t, open(t)) })
	t.Run("decisions", func(t *testing.T) { testDecisions(t, open(t)) })
	t.Run("unknown_batch", func(t *testing.T) { testUnknownBatch(t, open(t)) })
	t.Run("bulk_idempotent", func(t *testing.T) { testBulkIdempotent(t, open(t)) })
	t.Run("model_calls", func(t *testing.T) { testModelCalls(t, open(t)) })
	t.Run("spans", func(t *testing.T) { testSpans(t, open(t)) })
	t.Run("cancel_requests", func(t *testing.T) { testCancelRequests(t, open(t)) })
	t.Run("retention", func(t *testing.T) { testRetention(t, open(t)) })
	t.Run("dataset_version", func(t *testing.T) { testDatasetVersion(t, open(t)) })
}

// A batch's dataset version — its cases hash and git state — reads back as
// written, by Get and by List; a batch without one reads back empty.
func testDatasetVersion(t *testing.T, st store.Store) {
	ctx := context.Background()
	b := NewBatch("b")
	b.CasesHash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	b.GitCommit, b.GitBranch, b.GitDirty = "3f2a9c01b7de4f5a6b7c8d9e0f1a2b3c4d5e6f70", "feature/ci", true
	if err := st.Batches().Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Batches().Create(ctx, NewBatch("old")); err != nil {
		t.Fatal(err)
	}
	got, err := st.Batches().Get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if got.CasesHash != b.CasesHash || got.GitCommit != b.GitCommit || got.GitBranch != b.GitBranch || !got.GitDirty {
		t.Errorf("read back %q %q %q %v", got.CasesHash, got.GitCommit, got.GitBranch, got.GitDirty)
	}
	list, err := st.Batches().List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		switch {
		case l.ID == "b" && (l.CasesHash != b.CasesHash || l.GitCommit != b.GitCommit || !l.GitDirty):
			t.Errorf("listed %+v", l)
		case l.ID == "old" && (l.CasesHash != "" || l.GitCommit != "" || l.GitBranch != "" || l.GitDirty):
			t.Errorf("a batch without a dataset version lists one: %+v", l)
		}
	}
}

// Rows of a batch that does not exist are refused, whole.
func testUnknownBatch(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	rs := make([]store.Result, 100)
	for i := range rs {
		batch := "b"
		if i == 99 {
			batch = "ghost"
		}
		rs[i] = NewResult(batch, fmt.Sprintf("k%03d", i))
	}
	if err := st.Write(ctx, store.WriteSet{Results: rs}); err == nil {
		t.Error("a write naming a batch that does not exist succeeded")
	}
	if n, _ := st.Results().Count(ctx, "b"); n != 0 {
		t.Errorf("%d rows of a refused write were stored", n)
	}
}

// A batch's decisions replace each other and read back whole.
func testDecisions(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Batches().Get(ctx, "b"); got == nil || len(got.Decisions) != 0 {
		t.Fatalf("a new batch has decisions: %+v", got)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	ds := []store.Decision{{Combination: "a=x", Kind: store.DecisionPruned, Reason: "worse", Best: "a=y", Test: "paired t",
		PValue: 0.0001, Bound: -0.1, CasesSeen: 12, Executions: 12, Skipped: 18, At: at}}
	if err := st.Batches().SetDecisions(ctx, "b", ds); err != nil {
		t.Fatal(err)
	}
	ds = append(ds, store.Decision{Combination: "a=z", Kind: store.DecisionConverged, Repeats: 4, CIHalfWidth: 0.04, At: at})
	if err := st.Batches().SetDecisions(ctx, "b", ds); err != nil {
		t.Fatal(err)
	}
	got, err := st.Batches().Get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Decisions) != 2 || got.Decisions[0].PValue != 0.0001 || got.Decisions[1].Repeats != 4 || !got.Decisions[0].At.Equal(at) {
		t.Errorf("decisions read back %+v", got.Decisions)
	}
	if err := st.Batches().SetDecisions(ctx, "nope", ds); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("decisions of an unknown batch: %v", err)
	}
}

// NewBatch returns a batch record for tests.
func NewBatch(id string) *store.Batch {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &store.Batch{ID: id, Name: "suite", File: "bench.hcl", Status: store.StatusRunning,
		Spec: json.RawMessage(`{"name":"suite"}`), SpecHash: "h", Runner: "local (pool)", Total: 10,
		Host: "test", Version: "test", CreatedAt: now, StartedAt: now}
}

// NewResult returns a result row for tests.
func NewResult(batch, key string) store.Result {
	return store.Result{BatchID: batch, ExecutionKey: key, ExecutionID: key + "#1", Combination: "a=x",
		Variants: map[string]string{"a": "x"}, CaseID: "c", Status: "succeeded", Success: true,
		Metrics: map[string]float64{"tokens": 12}, Scores: map[string]float64{"correct": 1}, OverallScore: 0.75,
		Passed: true, DurationMs: 12.5, WorkerID: "w1", Attempts: 1, FinalCheckpointID: "cp-" + key,
		CreatedAt: time.Now().UTC()}
}

func testBatches(t *testing.T, st store.Store) {
	ctx := context.Background()
	if _, err := st.Batches().Latest(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Latest on an empty store: %v, want ErrNotFound", err)
	}
	a := NewBatch("b-1")
	if err := st.Batches().Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	b := NewBatch("b-2")
	b.CreatedAt = a.CreatedAt.Add(time.Second)
	b.ParentID, b.ForkNode = "b-1", "retrieve"
	if err := st.Batches().Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Batches().Create(ctx, NewBatch("b-1")); err == nil {
		t.Error("creating a batch id twice must fail")
	}
	got, err := st.Batches().Get(ctx, "b-2")
	if err != nil {
		t.Fatal(err)
	}
	if got.ParentID != "b-1" || got.ForkNode != "retrieve" || got.Status != store.StatusRunning || got.Total != 10 ||
		!got.CreatedAt.Equal(b.CreatedAt) || string(got.Spec) == "" {
		t.Errorf("round trip: %+v", got)
	}
	if latest, _ := st.Batches().Latest(ctx); latest == nil || latest.ID != "b-2" {
		t.Errorf("Latest = %+v, want b-2", latest)
	}
	if list, _ := st.Batches().List(ctx, 10); len(list) != 2 || list[0].ID != "b-2" {
		t.Errorf("List: %+v", list)
	}
	fin := time.Now().UTC()
	if err := st.Batches().SetStatus(ctx, "b-1", store.StatusCompleted, &fin, json.RawMessage(`{"verdict":"ok"}`)); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Batches().Get(ctx, "b-1")
	if got.Status != store.StatusCompleted || got.FinishedAt == nil || !strings.Contains(string(got.Summary), "ok") {
		t.Errorf("after SetStatus: %+v", got)
	}
	if _, err := st.Batches().Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
	if err := st.Batches().SetStatus(ctx, "nope", store.StatusFailed, nil, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetStatus unknown: %v", err)
	}
}

func testAudit(t *testing.T, st store.Store) {
	ctx := context.Background()
	t0 := time.Now().UTC()
	var entries []store.AuditEntry
	for i, sev := range []string{"DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"} {
		entries = append(entries, store.AuditEntry{ID: fmt.Sprintf("e%d", i), BatchID: "b", Time: t0.Add(time.Duration(i) * time.Millisecond),
			Severity: sev, EventType: "execution." + strings.ToLower(sev), Message: "m", ExecutionKey: "k", Details: json.RawMessage(`{"n":1}`)})
	}
	entries[1].ExecutionKey = "k2"
	if err := st.Audit().Append(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if err := st.Audit().Append(ctx, entries[3:]); err != nil { // retried write
		t.Fatal(err)
	}
	all, _ := st.Audit().List(ctx, "b", store.AuditFilter{MinSeverity: "DEBUG"})
	if len(all) != 5 || all[0].Severity != "DEBUG" || all[4].Severity != "ERROR" {
		t.Fatalf("List all: %+v", all)
	}
	warn, _ := st.Audit().List(ctx, "b", store.AuditFilter{MinSeverity: "WARNING"})
	if len(warn) != 2 {
		t.Errorf("WARNING and above: %d", len(warn))
	}
	typ, _ := st.Audit().List(ctx, "b", store.AuditFilter{MinSeverity: "DEBUG", EventType: "execution.info"})
	if len(typ) != 1 {
		t.Errorf("by type: %d", len(typ))
	}
	// One execution's entries (the viewer's execution page).
	of, _ := st.Audit().List(ctx, "b", store.AuditFilter{MinSeverity: "DEBUG", ExecutionKey: "k2"})
	if len(of) != 1 || of[0].ID != "e1" {
		t.Errorf("by execution key: %+v", of)
	}
	// The limit counts entries that pass the severity filter: the first error
	// comes after four lower ones.
	errs, _ := st.Audit().List(ctx, "b", store.AuditFilter{MinSeverity: "ERROR", Limit: 1})
	if len(errs) != 1 || errs[0].Severity != "ERROR" {
		t.Errorf("--level ERROR --limit 1: %+v", errs)
	}
	// A follower asks for what came at or after the last time it printed.
	since, _ := st.Audit().List(ctx, "b", store.AuditFilter{MinSeverity: "DEBUG", Since: entries[3].Time})
	if len(since) != 2 || since[0].ID != "e3" {
		t.Errorf("since the fourth entry: %+v", since)
	}
}

func testConcurrentWriters(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rs []store.Result
			for i := 0; i < 100; i++ {
				// Writers overlap: keys repeat across them.
				rs = append(rs, NewResult("b", fmt.Sprintf("k%d", (w*37+i)%200)))
			}
			if err := st.Write(ctx, store.WriteSet{Results: rs}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	keys := keysOf(t, st, "b")
	n, _ := st.Results().Count(ctx, "b")
	if n != len(keys) {
		t.Errorf("%d rows for %d keys: duplicates", n, len(keys))
	}
}

// A batch has one owner at a time; a dead owner's lease runs out and a
// successor takes over, after which the old owner cannot renew.
func testLease(t *testing.T, st store.Store) {
	ctx := context.Background()
	b := st.Batches()
	if err := b.Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Get(ctx, "b"); !got.Orphaned() {
		t.Errorf("a running batch nobody owns is not shown as orphaned: %+v", got)
	}
	if err := b.Acquire(ctx, "b", "first", time.Minute); err != nil {
		t.Fatal(err)
	}
	var held *store.LeaseHeldError
	if err := b.Acquire(ctx, "b", "second", time.Minute); !errors.As(err, &held) || held.Owner != "first" {
		t.Fatalf("a second owner got the batch: %v", err)
	}
	if err := b.Acquire(ctx, "b", "first", time.Minute); err != nil {
		t.Errorf("the owner cannot re-acquire its own batch: %v", err)
	}
	if got, _ := b.Get(ctx, "b"); got.Owner != "first" || !got.LeaseLive || got.Orphaned() {
		t.Errorf("owned batch: %+v", got)
	}
	if err := b.Renew(ctx, "b", "second", time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("a non-owner renewed: %v", err)
	}
	// The owner dies: its short lease runs out and a successor takes over.
	if err := b.Renew(ctx, "b", "first", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got, _ := b.Get(ctx, "b"); !got.Orphaned() {
		t.Errorf("an expired lease still looks live: %+v", got)
	}
	if err := b.Acquire(ctx, "b", "second", time.Minute); err != nil {
		t.Fatalf("the successor could not take over an expired lease: %v", err)
	}
	if err := b.Renew(ctx, "b", "first", time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("the old owner renewed after a takeover: %v", err)
	}
	if err := b.Release(ctx, "b", "first"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Get(ctx, "b"); got.Owner != "second" {
		t.Errorf("a former owner released the new owner's lease: %+v", got)
	}
	// A successor that knows the holder died takes over at once.
	if err := b.Takeover(ctx, "b", "second", "fourth", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Takeover(ctx, "b", "second", "fifth", time.Minute); !errors.As(err, &held) || held.Owner != "fourth" {
		t.Errorf("a takeover from a holder that no longer holds the batch succeeded: %v", err)
	}
	if err := b.Release(ctx, "b", "fourth"); err != nil {
		t.Fatal(err)
	}
	if err := b.Acquire(ctx, "b", "third", time.Minute); err != nil {
		t.Errorf("a released batch cannot be taken: %v", err)
	}
}
