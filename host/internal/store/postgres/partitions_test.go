package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/postgres"
	"github.com/wtbench/wtb/host/internal/store/postgres/pgtest"
	"github.com/wtbench/wtb/host/internal/store/storetest"
)

// Month partitions (migration 12): where rows land, exactly-once writes
// across the partitions, partitions made ahead, and dropping a month.
func TestMonthPartitions(t *testing.T) {
	ctx := context.Background()
	direct, _ := pgtest.Database(t)
	st := openURL(t, direct).(*postgres.Store)
	pool := st.Pool()
	n := func(q string, args ...any) int {
		t.Helper()
		var v int
		if err := pool.QueryRow(ctx, q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	exists := func(table string) bool { return n(`SELECT COUNT(*) FROM pg_class WHERE relname = $1`, table) == 1 }

	jan1, jan2, feb, odd := "20250115-100000-aaaaaaaa", "20250131-235959-bbbbbbbb", "20250201-000000-cccccccc", "imported-1"
	for _, id := range []string{jan1, jan2, feb, odd} {
		if err := st.Batches().Create(ctx, storetest.NewBatch(id)); err != nil {
			t.Fatal(err)
		}
	}
	// A batch's month and the next exist once it is stored.
	for _, m := range []string{"202501", "202502", "202503"} {
		for _, table := range []string{store.Results.Name, store.Checkpoints.Name} {
			if !exists(table + "_p" + m) {
				t.Errorf("no partition %s_p%s", table, m)
			}
		}
	}
	if exists(store.Results.Name + "_p202504") {
		t.Error("a partition two months ahead of any batch")
	}

	// Every write twice: a few rows (INSERT … ON CONFLICT) and many (COPY,
	// then the staged insert when some are there already).
	write := func(batch string, results, checkpoints int) {
		t.Helper()
		var w store.WriteSet
		for i := 0; i < results; i++ {
			w.Results = append(w.Results, storetest.NewResult(batch, fmt.Sprintf("k%d", i)))
		}
		for i := 0; i < checkpoints; i++ {
			w.Checkpoints = append(w.Checkpoints, store.Checkpoint{ID: fmt.Sprintf("%s-cp%d", batch, i), BatchID: batch, Source: store.SourceRan,
				State: json.RawMessage(`{"i":1}`), CreatedAt: time.Now()})
		}
		for range 2 {
			if err := st.Write(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		half := store.WriteSet{Results: w.Results[:results/2], Checkpoints: w.Checkpoints[:checkpoints/2]}
		if err := st.Write(ctx, half); err != nil {
			t.Fatal(err)
		}
	}
	write(jan1, 100, 100)
	write(jan2, 3, 3)
	write(feb, 70, 5)
	write(odd, 2, 2)
	for table, want := range map[string]int{"wtb_batch_test_results_p202501": 103, "wtb_checkpoints_p202501": 103,
		"wtb_batch_test_results_p202502": 70, "wtb_checkpoints_p202502": 5,
		"wtb_batch_test_results_default": 2, "wtb_checkpoints_default": 2} {
		if got := n("SELECT COUNT(*) FROM " + table); got != want {
			t.Errorf("%s holds %d rows, want %d", table, got, want)
		}
	}
	if c, err := st.Checkpoints().Get(ctx, jan1+"-cp7"); err != nil || c.BatchID != jan1 {
		t.Errorf("a checkpoint by id alone: %+v %v", c, err)
	}

	// Hosts making the same month's partitions at once all succeed.
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var ok bool
			errs <- pool.QueryRow(ctx, `SELECT wtb_ensure_month_partition('203001')`).Scan(&ok)
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("making a partition at once with other hosts: %v", err)
		}
	}
	if !exists("wtb_checkpoints_p203001") {
		t.Error("no partition 203001")
	}

	// A month with one table's partition only (its creation gave up half
	// way) is not one gc may drop.
	if _, err := pool.Exec(ctx, `CREATE TABLE wtb_batch_test_results_p203505 PARTITION OF wtb_batch_test_results FOR VALUES FROM ('203505') TO ('203506')`); err != nil {
		t.Fatal(err)
	}
	parts, err := st.Retention().Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byMonth := map[string]store.Partition{}
	for _, p := range parts {
		byMonth[p.Month] = p
	}
	p := byMonth["202501"]
	if fmt.Sprint(p.Batches) != fmt.Sprint([]string{jan1, jan2}) || !p.Droppable {
		t.Fatalf("January 2025: %+v", p)
	}
	if now := time.Now().UTC().Format("200601"); byMonth[now].Droppable {
		t.Errorf("this month's partition may be dropped: %+v", byMonth[now])
	}
	if _, ok := byMonth["203505"]; ok {
		t.Error("a month with one table's partition is listed")
	}
	if _, ok := byMonth["203001"]; !ok || byMonth["203001"].Droppable {
		t.Errorf("a future month: %+v", byMonth["203001"])
	}

	// Refusals leave everything as it was.
	partial := p
	partial.Batches = []string{jan1}
	if _, err := st.Retention().DropPartition(ctx, partial, store.DeleteOptions{}); !errors.Is(err, store.ErrPartitionChanged) {
		t.Errorf("dropping a month with a batch the plan did not name: %v", err)
	}
	if err := st.Batches().Acquire(ctx, jan2, "host-b", time.Minute); err != nil {
		t.Fatal(err)
	}
	var running *store.BatchRunningError
	if _, err := st.Retention().DropPartition(ctx, p, store.DeleteOptions{}); !errors.As(err, &running) || running.Batch != jan2 {
		t.Errorf("dropping a month with a running batch: %v", err)
	}
	child := storetest.NewBatch("20250210-120000-dddddddd")
	child.ParentID, child.Lineage = jan1, store.LineageRescore
	if err := st.Batches().Create(ctx, child); err != nil {
		t.Fatal(err)
	}
	var deps *store.DependentsError
	if _, err := st.Retention().DropPartition(ctx, p, store.DeleteOptions{DeadOwners: []string{"host-b"}}); !errors.As(err, &deps) || deps.Batch != jan1 {
		t.Errorf("dropping a month a rescored batch of another month reads: %v", err)
	}
	if !exists("wtb_batch_test_results_p202501") || n(`SELECT COUNT(*) FROM wtb_batch_tests WHERE id IN ($1, $2)`, jan1, jan2) != 2 ||
		n(`SELECT COUNT(*) FROM wtb_batch_test_results_p202501`) != 103 {
		t.Fatal("a refused drop changed something")
	}

	// A fork stays, detached; the month's owner known dead does not keep it.
	if _, err := pool.Exec(ctx, `UPDATE wtb_batch_tests SET lineage = 'fork' WHERE id = $1`, child.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, store.WriteSet{ModelCalls: []store.ModelCall{storetest.NewModelCall(jan1, "run1", "key1", 0)}}); err != nil {
		t.Fatal(err)
	}
	rows, err := st.Retention().DropPartition(ctx, p, store.DeleteOptions{DeadOwners: []string{"host-b"}})
	if err != nil {
		t.Fatal(err)
	}
	if rows[store.Results.Name] != 103 || rows[store.Checkpoints.Name] != 103 || rows[store.ModelCalls.Name] != 1 {
		t.Errorf("rows dropped: %v", rows)
	}
	for _, table := range []string{"wtb_batch_test_results_p202501", "wtb_checkpoints_p202501"} {
		if exists(table) {
			t.Errorf("%s is still there", table)
		}
	}
	if got := n(`SELECT COUNT(*) FROM wtb_batch_tests WHERE id IN ($1, $2)`, jan1, jan2); got != 0 {
		t.Errorf("%d batches of the dropped month left", got)
	}
	if got := n(`SELECT COUNT(*) FROM wtb_batch_tests WHERE id = $1 AND parent_batch_id IS NULL AND lineage = 'fork'`, child.ID); got != 1 {
		t.Error("the fork of another month was not detached")
	}
	if got := n(`SELECT COUNT(*) FROM wtb_model_calls`); got != 0 {
		t.Errorf("%d model calls of the dropped month left", got)
	}
	if got := n(`SELECT COUNT(*) FROM wtb_batch_test_results`); got != 72 {
		t.Errorf("the other months' results: %d, want 72", got)
	}
}

// Migration 12 rolled back keeps every row in one table each, and applied
// again partitions them again.
func TestMonthPartitionsMigrateDownAndUp(t *testing.T) {
	ctx := context.Background()
	direct, _ := pgtest.Database(t)
	st := openURL(t, direct).(*postgres.Store)
	for _, id := range []string{"20250115-100000-aaaaaaaa", "imported-1"} {
		if err := st.Batches().Create(ctx, storetest.NewBatch(id)); err != nil {
			t.Fatal(err)
		}
		var w store.WriteSet
		for i := range 70 {
			w.Results = append(w.Results, storetest.NewResult(id, fmt.Sprintf("k%d", i)))
			w.Checkpoints = append(w.Checkpoints, store.Checkpoint{ID: fmt.Sprintf("%s-cp%d", id, i), BatchID: id, Source: store.SourceRan,
				State: json.RawMessage(`{"i":1}`), CreatedAt: time.Now()})
		}
		if err := st.Write(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	digest := func() string {
		var out string
		for _, table := range []string{store.Results.Name, store.Checkpoints.Name} {
			var n int
			var sum string
			if err := st.Pool().QueryRow(ctx, `SELECT COUNT(*), md5(string_agg(r::text, E'\n' ORDER BY r::text)) FROM `+table+` r`).Scan(&n, &sum); err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintf("%s %d %s; ", table, n, sum)
		}
		return out
	}
	partitioned := func() bool {
		var kind string
		if err := st.Pool().QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE relname = 'wtb_checkpoints'`).Scan(&kind); err != nil {
			t.Fatal(err)
		}
		return kind == "p"
	}
	before := digest()
	st.Close()
	migrateTo(t, direct, 11, true)
	st = openAsIs(t, direct)
	if partitioned() {
		t.Fatal("still partitioned at 11")
	}
	if after := digest(); after != before {
		t.Errorf("rolling back changed rows:\n%s\n%s", before, after)
	}
	st.Close()
	st = openURL(t, direct).(*postgres.Store)
	if !partitioned() {
		t.Fatal("not partitioned again at 12")
	}
	if after := digest(); after != before {
		t.Errorf("migrating again changed rows:\n%s\n%s", before, after)
	}
	// Writing the rows again adds none: the keys are back.
	if err := st.Write(ctx, store.WriteSet{Results: []store.Result{storetest.NewResult("imported-1", "k1")}}); err != nil {
		t.Fatal(err)
	}
	if after := digest(); after != before {
		t.Errorf("a stored row written again changed the table:\n%s\n%s", before, after)
	}
}

func openAsIs(t *testing.T, url string) *postgres.Store {
	t.Helper()
	st, err := postgres.OpenAsIs(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
