package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// A large write repeated, in part or whole, stores every row once: the
// fast path (straight into the table) falls back when rows are there.
func testBulkIdempotent(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	rs := make([]store.Result, 500)
	for i := range rs {
		rs[i] = NewResult("b", fmt.Sprintf("k%04d", i))
	}
	for _, part := range [][]store.Result{rs[:300], rs, rs[200:], rs} {
		if err := st.Write(ctx, store.WriteSet{Results: part}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := st.Results().Count(ctx, "b"); n != 500 {
		t.Errorf("%d rows stored, want 500", n)
	}
}

// Query filters in the database and pages in execution key order.
func testResultsQuery(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	var rs []store.Result
	for i := 0; i < 30; i++ {
		r := NewResult("b", fmt.Sprintf("k%02d", i))
		r.Combination = []string{"a=x", "a=y"}[i%2]
		r.CaseID = fmt.Sprintf("c%d", i%3)
		r.OverallScore = float64(i) / 30
		if i%5 == 0 {
			r.Status, r.Success = store.ResultFailed, false
		}
		rs = append(rs, r)
	}
	if err := st.Write(ctx, store.WriteSet{Results: rs}); err != nil {
		t.Fatal(err)
	}
	keys := func(rows []store.Result) string {
		var out []string
		for _, r := range rows {
			out = append(out, r.ExecutionKey)
		}
		return strings.Join(out, ",")
	}
	lo, hi := 0.49, 0.81 // scores 15/30 .. 24/30
	for name, c := range map[string]struct {
		q     store.ResultQuery
		total int
		page  string
	}{
		"all":             {store.ResultQuery{}, 30, ""},
		"page":            {store.ResultQuery{Offset: 3, Limit: 4}, 30, "k03,k04,k05,k06"},
		"combination":     {store.ResultQuery{Combination: "a=y", Limit: 3}, 15, "k01,k03,k05"},
		"case and status": {store.ResultQuery{CaseID: "c0", Status: store.ResultFailed}, 2, "k00,k15"},
		"score range":     {store.ResultQuery{MinScore: &lo, MaxScore: &hi}, 10, ""},
		"nothing":         {store.ResultQuery{Combination: "a=z"}, 0, ""},
		"offset past end": {store.ResultQuery{Offset: 40, Limit: 5}, 30, ""},
		"best first":      {store.ResultQuery{Sort: store.ResultSortScore, Desc: true, Limit: 3}, 30, "k29,k28,k27"},
		"failed first":    {store.ResultQuery{Sort: store.ResultSortStatus, Limit: 3}, 30, "k00,k05,k10"},
		"keys descending": {store.ResultQuery{Sort: store.ResultSortKey, Desc: true, Offset: 1, Limit: 2}, 30, "k28,k27"},
		"equal durations": {store.ResultQuery{Sort: store.ResultSortDuration, Desc: true, Combination: "a=x", Limit: 2}, 15, "k00,k02"},
	} {
		rows, total, err := st.Results().Query(ctx, "b", c.q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if total != c.total {
			t.Errorf("%s: total %d, want %d", name, total, c.total)
		}
		if c.page != "" && keys(rows) != c.page {
			t.Errorf("%s: page %s, want %s", name, keys(rows), c.page)
		}
		if c.q.Limit == 0 && c.q.Offset == 0 && len(rows) != c.total {
			t.Errorf("%s: %d rows without a limit, want %d", name, len(rows), c.total)
		}
	}
	if _, _, err := st.Results().Query(ctx, "b", store.ResultQuery{Sort: "nope"}); err == nil {
		t.Error("an unknown sort was accepted")
	}
}

// Node logs and evaluator notes round-trip on checkpoints and results, in
// order and with their times; rows without them read back empty.
func testLogsAndNotes(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	lines := []store.LogLine{
		{Time: at, Stream: store.StreamStderr, Line: "loading model"},
		{Time: at.Add(time.Millisecond), Stream: store.StreamRunner, Line: `quote " and ünïcode`},
	}
	cp := store.Checkpoint{ID: "cp-1", BatchID: "b", Node: "a", Position: 1, Source: store.SourceRan,
		State: json.RawMessage(`{"x":1}`), Logs: lines, CreatedAt: at}
	plain := store.Checkpoint{ID: "cp-2", BatchID: "b", Node: "b", Position: 2, Source: store.SourceRan,
		State: json.RawMessage(`{}`), CreatedAt: at}
	failed := NewResult("b", "k-failed")
	failed.Success, failed.Status, failed.Logs = false, store.ResultFailed, lines[:1]
	failed.Notes = map[string]string{"correct": `got "Lyon", want "Paris"`}
	if err := st.Write(ctx, store.WriteSet{Checkpoints: []store.Checkpoint{cp, plain},
		Results: []store.Result{failed, NewResult("b", "k-ok")}}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Checkpoints().Get(ctx, "cp-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Logs) != 2 || got.Logs[1].Line != lines[1].Line || got.Logs[0].Stream != store.StreamStderr ||
		!got.Logs[1].Time.Equal(lines[1].Time) {
		t.Errorf("checkpoint logs: %+v, want %+v", got.Logs, lines)
	}
	if got, _ := st.Checkpoints().Get(ctx, "cp-2"); got == nil || len(got.Logs) != 0 {
		t.Errorf("a checkpoint without logs reads back %+v", got)
	}
	r, err := st.Results().Get(ctx, "b", "k-failed")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Logs) != 1 || r.Logs[0].Line != "loading model" || r.Notes["correct"] != failed.Notes["correct"] {
		t.Errorf("result logs %+v, notes %+v", r.Logs, r.Notes)
	}
	if r, _ := st.Results().Get(ctx, "b", "k-ok"); r == nil || len(r.Logs) != 0 || len(r.Notes) != 0 {
		t.Errorf("a result without logs or notes reads back %+v", r)
	}
}

func testResultsIdempotent(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	var rs []store.Result
	for i := 0; i < 50; i++ {
		rs = append(rs, NewResult("b", fmt.Sprintf("a=x/c%d/0", i)))
	}
	if err := st.Write(ctx, store.WriteSet{Results: rs[:30]}); err != nil {
		t.Fatal(err)
	}
	// A retried write overlaps what is stored: nothing is duplicated, and the
	// first stored version wins.
	changed := append([]store.Result(nil), rs...)
	changed[0].OverallScore = 0.1
	if err := st.Write(ctx, store.WriteSet{Results: changed}); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, store.WriteSet{Results: rs}); err != nil {
		t.Fatal(err)
	}
	n, _ := st.Results().Count(ctx, "b")
	keys := keysOf(t, st, "b")
	if n != 50 || len(keys) != 50 {
		t.Fatalf("stored %d rows, %d keys; want 50", n, len(keys))
	}
	got, err := st.Results().Get(ctx, "b", "a=x/c0/0")
	if err != nil {
		t.Fatal(err)
	}
	if got.OverallScore != 0.75 || got.Metrics["tokens"] != 12 || got.Scores["correct"] != 1 || got.Variants["a"] != "x" ||
		!got.Success || !got.Passed || got.DurationMs != 12.5 || got.FinalCheckpointID != "cp-a=x/c0/0" {
		t.Errorf("round trip: %+v", got)
	}
	// A key the batch does not hold is ErrNotFound, not any error: wtb show
	// then tries it as a node-run key and says "no such execution".
	if _, err := st.Results().Get(ctx, "b", "c0/0/a=x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a key not stored: %v, want ErrNotFound", err)
	}
	list, _ := st.Results().List(ctx, "b")
	if len(list) != 50 {
		t.Errorf("List: %d rows", len(list))
	}
	streamed := 0
	if err := st.Results().Each(ctx, "b", func(r *store.Result) error { streamed++; return nil }); err != nil || streamed != 50 {
		t.Errorf("Each: %d rows (%v)", streamed, err)
	}
}

func keysOf(t *testing.T, st store.Store, batch string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	if err := st.Results().EachKey(context.Background(), batch, func(k string) { keys[k] = true }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// Each streams a batch's results whole in execution key order; EachScored
// streams what verdicts read (scores, status, pass) with the columns it
// leaves out read as empty values, on both backends alike.
func testResultsStreamed(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	var rs []store.Result
	for _, key := range []string{"k2", "k0", "k1"} {
		r := NewResult("b", key)
		r.Notes = map[string]string{"correct": "off by one"}
		r.Logs = []store.LogLine{{Time: r.CreatedAt, Stream: store.StreamStderr, Line: "warming up"}}
		r.Error = "boom in " + key
		rs = append(rs, r)
	}
	if err := st.Write(ctx, store.WriteSet{Results: rs}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	err := st.Results().Each(ctx, "b", func(r *store.Result) error {
		keys = append(keys, r.ExecutionKey)
		if r.Error != "boom in "+r.ExecutionKey || r.Notes["correct"] != "off by one" || len(r.Logs) != 1 ||
			r.Variants["a"] != "x" || r.WorkerID != "w1" || r.Metrics["tokens"] != 12 {
			t.Errorf("Each read %+v, want every column", r)
		}
		return nil
	})
	if err != nil || strings.Join(keys, ",") != "k0,k1,k2" {
		t.Errorf("Each: keys %v, err %v; want k0,k1,k2", keys, err)
	}
	keys = nil
	err = st.Results().EachScored(ctx, "b", func(r *store.Result) error {
		keys = append(keys, r.ExecutionKey)
		if r.Scores["correct"] != 1 || r.OverallScore != 0.75 || !r.Passed || r.Status != "succeeded" || r.CaseID != "c" ||
			r.Combination != "a=x" || r.Attempts != 1 {
			t.Errorf("EachScored read %+v, want the scored columns", r)
		}
		if r.Error != "" || len(r.Notes) != 0 || len(r.Logs) != 0 || len(r.Variants) != 0 || r.WorkerID != "" ||
			len(r.Metrics) != 0 || r.ExecutionID != "" {
			t.Errorf("EachScored read %+v, want the columns it leaves out empty", r)
		}
		return nil
	})
	if err != nil || strings.Join(keys, ",") != "k0,k1,k2" {
		t.Errorf("EachScored: keys %v, err %v; want k0,k1,k2", keys, err)
	}
	stop := errors.New("stop")
	n := 0
	if err := st.Results().Each(ctx, "b", func(*store.Result) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Each after its function failed: %d rows, %v; want 1 row and the function's error", n, err)
	}
	all, err := st.Results().List(ctx, "b")
	if err != nil || len(all) != 3 {
		t.Errorf("List: %d results, %v", len(all), err)
	}
}
