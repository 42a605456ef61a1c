package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/migrations"
)

// Month partitions on PostgreSQL (migration 12), through the built binaries.

// lastUnpartitioned is the last schema version with unpartitioned results
// and checkpoints.
const lastUnpartitioned = 11

// TestPartitionMigrationKeepsEveryRowOfAPopulatedDatabase populates a
// database at schema 11 with what the binaries store — two finished
// batches, one whose host was killed mid-batch, one of them moved to a past
// month — migrates it with the binary, and checks that every table holds
// exactly the rows it held (count and content), that each month's rows sit
// in their partition, that the killed batch resumes storing each execution
// once, that rewriting stored rows adds none, and that gc drops the past
// month's partitions whole.
func TestPartitionMigrationKeepsEveryRowOfAPopulatedDatabase(t *testing.T) {
	ctx := context.Background()
	// The binaries write into a database of their own; its rows are then
	// copied into one at schema 11 (the rows of every table have the same
	// columns at 11 and 12).
	src := newEnvOn(t, postgresStore)
	src.write("score.sh", scoreScript)
	src.write("bench.hcl", deterministicBench("best"))
	src.write("slow.hcl", slowBench)
	proc, killed, wait := startBatch(t, src, "slow.hcl", 12) // first: it finds its batch as the latest
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait()
	old := batchID(t, src.mustRun("run", "bench.hcl", "--no-progress").stderr)
	done := batchID(t, src.mustRun("run", "bench.hcl", "--no-progress").stderr)

	dst := newEnvOn(t, postgresStore)
	dst.dir = src.dir // the bench files, where the batches' specs name them
	migrateTo(t, dst.db, lastUnpartitioned)
	for _, table := range []string{"wtb_batch_tests", store.Results.Name, store.Checkpoints.Name, store.Audit.Name, store.ModelCalls.Name, store.Spans.Name} {
		copyTable(t, src.db, dst.db, table)
	}
	// As pg_dump would: the results' id sequence goes on where the source's is.
	if err := exec(dst.db, `SELECT setval('wtb_batch_test_results_id_seq', (SELECT MAX(id) FROM wtb_batch_test_results))`); err != nil {
		t.Fatal(err)
	}
	// One batch started in a past month: its id and age say so.
	past := time.Now().UTC().AddDate(0, 0, -40)
	moved := past.Format("20060102") + old[8:]
	for _, q := range []string{
		fmt.Sprintf(`UPDATE wtb_batch_tests SET id = '%s', created_at = created_at - interval '40 days' WHERE id = '%s'`, moved, old),
		fmt.Sprintf(`UPDATE wtb_batch_test_results SET batch_test_id = '%s' WHERE batch_test_id = '%s'`, moved, old),
		fmt.Sprintf(`UPDATE wtb_checkpoints SET batch_test_id = '%s' WHERE batch_test_id = '%s'`, moved, old),
		fmt.Sprintf(`UPDATE wtb_audit_log SET batch_test_id = '%s' WHERE batch_test_id = '%s'`, moved, old),
	} {
		if err := exec(dst.db, q); err != nil {
			t.Fatal(err)
		}
	}
	tables := []string{"wtb_batch_tests", store.Results.Name, store.Checkpoints.Name, store.Audit.Name, store.ModelCalls.Name, store.Spans.Name}
	before := map[string]string{}
	for _, table := range tables {
		before[table] = tableDigest(t, dst.db, table)
	}
	killedRows := count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM wtb_batch_test_results WHERE batch_test_id = '%s'`, killed))
	if killedRows <= 0 || killedRows >= 120 {
		t.Fatalf("the killed batch should have some of its 120 results stored, has %d", killedRows)
	}
	if n := count(dst.db, `SELECT COUNT(*) FROM wtb_checkpoints`); n < 24+killedRows {
		t.Fatalf("only %d checkpoints to migrate", n)
	}

	seq := count(dst.db, `SELECT last_value FROM wtb_batch_test_results_id_seq`)
	dst.mustRun("results", "--list") // migrates
	if after := count(dst.db, `SELECT last_value FROM wtb_batch_test_results_id_seq`); after != seq {
		t.Errorf("the results' id sequence was at %d before the migration, %d after", seq, after)
	}
	if v := count(dst.db, `SELECT MAX(version_id) FROM wtb_goose_db_version WHERE is_applied`); v != lastUnpartitioned+1 {
		t.Fatalf("schema version after the binary opened the database: %d", v)
	}
	for _, table := range tables {
		if after := tableDigest(t, dst.db, table); after != before[table] {
			t.Errorf("%s changed in the migration:\nbefore %s\nafter  %s", table, before[table], after)
		}
	}
	for _, table := range []string{store.Results.Name, store.Checkpoints.Name} {
		if kind := count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM pg_class WHERE relname = '%s' AND relkind = 'p'`, table)); kind != 1 {
			t.Errorf("%s is not a partitioned table", table)
		}
		for id, month := range map[string]string{moved: past.Format("200601"), done: done[:6], killed: killed[:6]} {
			where := fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE batch_test_id = '%s'`, table, id)
			all, inPart := count(dst.db, where), count(dst.db, strings.Replace(where, table, table+"_p"+month, 1))
			if all == 0 || inPart != all {
				t.Errorf("%s: batch %s has %d rows, %d of them in the partition of %s", table, id, all, inPart, month)
			}
		}
		if n := count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM %s_default`, table)); n != 0 {
			t.Errorf("%s_default holds %d rows; every batch has its month's partition", table, n)
		}
	}

	// The killed batch resumes on the migrated database, storing only what
	// was missing.
	r := dst.mustRun("resume", killed)
	if !strings.Contains(r.stderr, fmt.Sprintf("%d to run", 120-killedRows)) {
		t.Errorf("resume should run only what is not stored (%d):\n%s", 120-killedRows, r.stderr)
	}
	st := dst.store()
	assertExactlyOnce(t, dst.results(st, killed), 120)
	// Writing stored rows again (a retried write, a resume) adds none:
	// results through both write paths (a few rows: INSERT … ON CONFLICT;
	// 64 or more: COPY, then the staged insert), checkpoints likewise.
	rs := dst.results(st, killed)
	var cps []store.Checkpoint
	if err := st.Checkpoints().EachID(ctx, killed, func(id string) {
		cp, err := st.Checkpoints().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, *cp)
	}); err != nil {
		t.Fatal(err)
	}
	nCheckpoints := len(cps)
	for _, w := range []store.WriteSet{{Results: rs[:3], Checkpoints: cps[:3]}, {Results: rs, Checkpoints: cps}} {
		if err := st.Write(ctx, w); err != nil {
			t.Fatalf("writing stored rows again: %v", err)
		}
	}
	assertExactlyOnce(t, dst.results(st, killed), 120)
	if n := count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM wtb_checkpoints WHERE batch_test_id = '%s'`, killed)); n != nCheckpoints {
		t.Errorf("checkpoints of the killed batch after writing them again: %d, want %d", n, nCheckpoints)
	}
	// A new batch on the migrated database.
	assertExactlyOnce(t, dst.results(st, batchID(t, dst.mustRun("run", "bench.hcl", "--no-progress").stderr)), 12)

	// gc: the past month has one batch, which goes: its partitions are
	// dropped whole; this month's batches are untouched.
	month := past.Format("2006-01")
	dry := dst.mustRun("gc", "--older-than", "30d", "--dry-run").stdout
	if !strings.Contains(dry, "every batch started in "+month+" goes (1 batch)") || !strings.Contains(dry, "wtb_batch_test_results_p"+past.Format("200601")) {
		t.Errorf("gc --dry-run should say the partitions of %s would be dropped:\n%s", month, dry)
	}
	rows := fmt.Sprintf("%d results, %d checkpoints, %d audit entries",
		count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM wtb_batch_test_results WHERE batch_test_id = '%s'`, moved)),
		count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM wtb_checkpoints WHERE batch_test_id = '%s'`, moved)),
		count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM wtb_audit_log WHERE batch_test_id = '%s'`, moved)))
	gc := dst.mustRun("gc", "--older-than", "30d").stdout
	if !strings.Contains(gc, "dropped the partitions of "+month+" (1 batch, every batch started that month) rather than deleting row by row: "+rows) {
		t.Errorf("gc should drop the partitions of %s with %s:\n%s", month, rows, gc)
	}
	for _, table := range []string{store.Results.Name, store.Checkpoints.Name} {
		if n := count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM pg_class WHERE relname = '%s_p%s'`, table, past.Format("200601"))); n != 0 {
			t.Errorf("%s's partition of %s is still there", table, month)
		}
	}
	for table, n := range map[string]int{"wtb_batch_tests": 0, store.Audit.Name: 0} {
		if got := count(dst.db, fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE %s = '%s'`, table, map[bool]string{true: "id", false: "batch_test_id"}[table == "wtb_batch_tests"], moved)); got != n {
			t.Errorf("%s still has %d rows of the deleted batch", table, got)
		}
	}
	if after := tableDigest(t, dst.db, fmt.Sprintf(`(SELECT * FROM wtb_batch_test_results WHERE batch_test_id = '%s')`, done)); !strings.HasPrefix(after, "12 ") {
		t.Errorf("the batch of this month lost rows to gc: %s", after)
	}
	if orphans := orphans(t, dst); len(orphans) > 0 {
		t.Errorf("rows left without their batch, or dangling references: %v", orphans)
	}
}

// migrateTo applies the PostgreSQL migrations up to version v, as a wtb of
// that schema would have.
func migrateTo(t *testing.T, url string, v int64) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithTableName("wtb_goose_db_version"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), v); err != nil {
		t.Fatalf("migrating to %d: %v", v, err)
	}
}

// copyTable copies every row of a table from one database to another with
// COPY, by the destination's columns.
func copyTable(t *testing.T, from, to, table string) {
	t.Helper()
	ctx := context.Background()
	src, err := pgx.Connect(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	dst, err := pgx.Connect(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close(ctx)
	rows, err := dst.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema() ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(cols) == 0 {
		t.Fatalf("columns of %s: %v", table, err)
	}
	list := strings.Join(cols, ", ")
	var buf strings.Builder
	if _, err := src.PgConn().CopyTo(ctx, &buf, fmt.Sprintf("COPY (SELECT %s FROM %s) TO STDOUT", list, table)); err != nil {
		t.Fatalf("copying %s out: %v", table, err)
	}
	if _, err := dst.PgConn().CopyFrom(ctx, strings.NewReader(buf.String()), fmt.Sprintf("COPY %s (%s) FROM STDIN", table, list)); err != nil {
		t.Fatalf("copying %s in: %v", table, err)
	}
}

// tableDigest is "COUNT md5" of every row of a table (or a parenthesised
// query) as text, in a fixed order.
func tableDigest(t *testing.T, url, table string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	var sum string
	q := fmt.Sprintf(`SELECT COUNT(*), md5(COALESCE(string_agg(r::text, E'\n' ORDER BY r::text), '')) FROM %s r`, table)
	if err := conn.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return fmt.Sprintf("%d %s", n, sum)
}
