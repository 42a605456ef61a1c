package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// Retention (wtb delete, wtb gc) and cancel from anywhere (wtb cancel),
// through the built binaries, on SQLite and PostgreSQL.

// sqlOf opens the env's database for the test's own queries (the drivers
// are registered by the stores).
func sqlOf(t *testing.T, e *env) (*sql.DB, bool) {
	t.Helper()
	driver, dsn, pg := "sqlite", strings.TrimPrefix(e.db, "sqlite://"), strings.HasPrefix(e.db, "postgres")
	if pg {
		driver, dsn = "pgx", e.db
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db, pg
}

func queryInt(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// batchTables lists every table with a batch_test_id column, as the schema
// says (so a table added later is checked too).
func batchTables(t *testing.T, db *sql.DB, pg bool) []string {
	t.Helper()
	q := `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'batch_test_id' ORDER BY 1`
	if pg {
		// A partitioned table once, not each of its partitions.
		q = `SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			WHERE a.attname = 'batch_test_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
			AND c.relnamespace = current_schema()::regnamespace ORDER BY 1`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		out = append(out, s)
	}
	if len(out) < 4 {
		t.Fatalf("found only %v holding rows of batches", out)
	}
	return out
}

// orphans counts rows that belong to no batch, and references that lead
// nowhere: rows of a batch that is gone in any table, results whose final
// checkpoint is gone, checkpoints whose parent is gone, batches whose
// parent is gone.
func orphans(t *testing.T, e *env) map[string]int {
	t.Helper()
	db, pg := sqlOf(t, e)
	out := map[string]int{}
	for _, tb := range batchTables(t, db, pg) {
		out[tb] = queryInt(t, db, "SELECT COUNT(*) FROM "+tb+" WHERE batch_test_id NOT IN (SELECT id FROM wtb_batch_tests)")
	}
	out["results → final checkpoint"] = queryInt(t, db, `SELECT COUNT(*) FROM wtb_batch_test_results r WHERE r.final_checkpoint_id <> ''
		AND NOT EXISTS (SELECT 1 FROM wtb_checkpoints c WHERE c.id = r.final_checkpoint_id)`)
	out["checkpoint → parent"] = queryInt(t, db, `SELECT COUNT(*) FROM wtb_checkpoints c WHERE c.parent_id <> ''
		AND NOT EXISTS (SELECT 1 FROM wtb_checkpoints p WHERE p.id = c.parent_id)`)
	out["batch → parent"] = queryInt(t, db, `SELECT COUNT(*) FROM wtb_batch_tests b WHERE b.parent_batch_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM wtb_batch_tests p WHERE p.id = b.parent_batch_id)`)
	for k, n := range out {
		if n == 0 {
			delete(out, k)
		}
	}
	return out
}

// rowsOf counts a batch's rows in every table that holds rows of batches.
func rowsOf(t *testing.T, e *env, id string) map[string]int {
	t.Helper()
	db, pg := sqlOf(t, e)
	out := map[string]int{}
	for _, tb := range batchTables(t, db, pg) {
		out[tb] = queryInt(t, db, fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE batch_test_id = '%s'", tb, id))
	}
	return out
}

func latestID(t *testing.T, e *env) string {
	t.Helper()
	b, err := e.store().Batches().Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b.ID
}

func batchIDs(t *testing.T, e *env) []string {
	t.Helper()
	all, err := e.store().Retention().All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range all {
		ids = append(ids, b.ID)
	}
	return ids
}

// startNewBatch is startBatch for a database that holds batches already: it
// waits for n results of the new batch.
func startNewBatch(t *testing.T, e *env, file string, n int) (*os.Process, string, func() string) {
	t.Helper()
	known := map[string]bool{}
	for _, id := range batchIDs(t, e) {
		known[id] = true
	}
	cmd := e.cmd("run", file, "--no-progress")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	st := e.store()
	var id string
	waitFor(t, 30*time.Second, func() string { return fmt.Sprintf("%d stored results (wtb stderr: %s)", n, stderr) }, func() bool {
		b, err := st.Batches().Latest(context.Background())
		if err != nil || known[b.ID] {
			return false
		}
		id = b.ID
		c, _ := st.Results().Count(context.Background(), id)
		return c >= n
	})
	return cmd.Process, id, func() string { <-waited; return stderr.String() }
}

// gcBench is slowBench with a slower node (~5 s on 4 workers): long enough
// for several gc runs to go by while it runs.
var gcBench = strings.Replace(slowBench, "sleep 0.05", "sleep 0.15", 1)

// TestGCNeverTouchesARunningBatch: gc deletes old batches with every row
// they have — a fork's parent goes and the fork stays whole, a parent a
// rescore reads stays until the rescore goes — while a batch runs beside
// it; gc, again and again during the run, never touches that batch: it
// completes with every execution stored once, and no table is left with a
// row of a deleted batch or a reference to one.
func TestGCNeverTouchesARunningBatch(t *testing.T) {
	for _, kind := range []string{sqliteStore, postgresStore} {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, kind)
			e.write("score.sh", scoreScript)
			e.write("det.hcl", deterministicBench("best"))
			e.write("slow.hcl", gcBench)
			e.mustRun("run", "det.hcl", "--no-progress")
			a1 := latestID(t, e)
			e.mustRun("run", "det.hcl", "--no-progress")
			a2 := latestID(t, e)
			e.mustRun("fork", a1, "--from", "prep", "--no-progress")
			fork := latestID(t, e)
			e.mustRunOK("rescore", a2)
			rescore := latestID(t, e)
			if o := orphans(t, e); len(o) > 0 {
				t.Fatalf("orphans before any deletion (the check is wrong): %v", o)
			}

			proc, running, wait := startNewBatch(t, e, "slow.hcl", 8)
			// Every batch is older than 0s: only the lease keeps the running one.
			dry := e.mustRun("gc", "--older-than", "0s", "--keep-last", "1", "--dry-run").stdout
			for _, want := range []string{"would delete 2 batches (dry run", fork, a1, "kept 1 batch:", a2 + "  det: rescored batch " + rescore + " reads its checkpoints",
				"kept by --keep-last: 2 batches", "RESULTS", "CHECKPOINTS", "AUDIT ENTRIES", "MODEL-CALL RECORDINGS"} {
				if !strings.Contains(dry, want) {
					t.Errorf("gc --dry-run lacks %q:\n%s", want, dry)
				}
			}
			if ids := batchIDs(t, e); len(ids) != 5 {
				t.Fatalf("--dry-run deleted something: %v", ids)
			}
			// Its rows per batch are the ones in the database.
			a1Rows := rowsOf(t, e, a1)
			line := regexp.MustCompile(`(?m)^\s*` + a1 + `\s.*$`).FindString(dry)
			// … RESULTS CHECKPOINTS AUDIT-ENTRIES MODEL-CALL-RECORDINGS SPANS
			if fields := strings.Fields(line); len(fields) < 5 || fields[len(fields)-5] != strconv.Itoa(a1Rows["wtb_batch_test_results"]) ||
				fields[len(fields)-4] != strconv.Itoa(a1Rows["wtb_checkpoints"]) || fields[len(fields)-3] != strconv.Itoa(a1Rows["wtb_audit_log"]) ||
				fields[len(fields)-2] != strconv.Itoa(a1Rows["wtb_model_calls"]) || fields[len(fields)-1] != strconv.Itoa(a1Rows["wtb_spans"]) {
				t.Errorf("dry-run line %q; rows %v", line, a1Rows)
			}

			r := e.mustRun("gc", "--older-than", "0s", "--keep-last", "1")
			if !strings.Contains(r.stdout, "deleted 2 batches:") {
				t.Errorf("gc --keep-last 1:\n%s", r.stdout)
			}
			// Everything else old goes; the running batch is kept, every time.
			for range 3 {
				r = e.mustRun("gc", "--older-than", "0s")
				if !strings.Contains(r.stdout, running+"  slow: being run by wtb pid "+strconv.Itoa(proc.Pid)) {
					t.Errorf("gc during the run does not say it keeps %s:\n%s", running, r.stdout)
				}
			}
			if !alive(proc.Pid) {
				t.Fatal("the batch finished before gc ran beside it; make it slower")
			}
			if ids := batchIDs(t, e); len(ids) != 1 || ids[0] != running {
				t.Errorf("after gc: %v, want only the running batch %s", ids, running)
			}
			stderr := wait()
			st := e.store()
			assertExactlyOnce(t, e.results(st, running), 120)
			b, err := st.Batches().Get(context.Background(), running)
			if err != nil || b.Status != store.StatusCompleted {
				t.Errorf("the batch gc ran beside: %+v %v\n%s", b, err, stderr)
			}
			rows := rowsOf(t, e, running)
			if rows["wtb_checkpoints"] < 120 || rows["wtb_audit_log"] == 0 {
				t.Errorf("the running batch's rows: %v", rows)
			}
			if o := orphans(t, e); len(o) > 0 {
				t.Errorf("rows left behind: %v", o)
			}
		})
	}
}

// TestDeleteAndTheForksOfADeletedParent: wtb delete refuses, whole, what it
// must keep (a running batch: exit 3; a parent a rescore reads: exit 2; an
// unknown id: exit 2 with the id meant) and deletes nothing then; deleting
// a parent leaves its fork whole and usable (show, compare, fork); a fork
// and its rescore go with --with-forks.
func TestDeleteAndTheForksOfADeletedParent(t *testing.T) {
	for _, kind := range []string{sqliteStore, postgresStore} {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, kind)
			e.write("score.sh", scoreScript)
			e.write("det.hcl", deterministicBench("best"))
			e.mustRun("run", "det.hcl", "--no-progress")
			parent := latestID(t, e)
			e.mustRun("fork", parent, "--from", "prep", "--no-progress")
			fork := latestID(t, e)
			e.mustRunOK("rescore", parent)
			rescore := latestID(t, e)
			e.mustRunOK("rescore", fork)
			forkRescore := latestID(t, e)
			forkRows := rowsOf(t, e, fork)

			r := e.run("delete", parent)
			if r.code != 2 || !strings.Contains(r.stderr, "nothing deleted: batch "+parent+": rescored batch "+rescore+" reads its checkpoints") ||
				!strings.Contains(r.stderr, "--with-forks") {
				t.Errorf("delete of a parent a rescore reads: exit %d\n%s", r.code, r.stderr)
			}
			r = e.run("delete", parent[:len(parent)-1]+"x")
			if r.code != 2 || !strings.Contains(r.stderr, "Did you mean") {
				t.Errorf("delete of an unknown id: exit %d\n%s", r.code, r.stderr)
			}
			if ids := batchIDs(t, e); len(ids) != 4 {
				t.Fatalf("a refused delete deleted: %v", ids)
			}

			// The parent and its rescore go; the fork stays, detached.
			r = e.mustRun("delete", rescore, parent)
			if !strings.Contains(r.stdout, "deleted 2 batches:") || !strings.Contains(r.stdout, "1 fork of batch "+parent+" stays, detached from it: "+fork) {
				t.Errorf("delete:\n%s", r.stdout)
			}
			if got := rowsOf(t, e, fork); fmt.Sprint(got) != fmt.Sprint(forkRows) {
				t.Errorf("the fork's rows changed: %v, were %v", got, forkRows)
			}
			if list := e.mustRun("results", "--list").stdout; !strings.Contains(list, "fork of a deleted batch at prep") {
				t.Errorf("results --list:\n%s", list)
			}
			if out := e.mustRun("show", "--batch", fork, "score=good/c2/1").stdout; !strings.Contains(out, "+ $.value = 1") {
				t.Errorf("show of the fork after its parent went:\n%s", out)
			}
			if out := e.mustRun("show", "--batch", forkRescore, "score=good/c2/1").stdout; !strings.Contains(out, "+ $.value = 1") {
				t.Errorf("show of the fork's rescore:\n%s", out)
			}
			e.mustRun("fork", fork, "--from", "prep", "--no-progress")
			grandchild := latestID(t, e)

			// --with-forks: the fork, its rescore and its own fork, newest first.
			r = e.mustRun("delete", fork, "--with-forks", "--dry-run")
			if !strings.Contains(r.stdout, "would delete 3 batches") || len(batchIDs(t, e)) != 3 {
				t.Errorf("delete --with-forks --dry-run:\n%s", r.stdout)
			}
			r = e.mustRun("delete", fork, "--with-forks")
			if !strings.Contains(r.stdout, "deleted 3 batches") || strings.Index(r.stdout, "\n  "+grandchild+" ") > strings.Index(r.stdout, "\n  "+fork+" ") {
				t.Errorf("delete --with-forks:\n%s", r.stdout)
			}
			if ids := batchIDs(t, e); len(ids) != 0 {
				t.Errorf("left: %v", ids)
			}
			if o := orphans(t, e); len(o) > 0 {
				t.Errorf("rows left behind: %v", o)
			}

			// A running batch is never deleted: all or nothing.
			e.write("slow.hcl", gcBench)
			e.mustRun("run", "det.hcl", "--no-progress")
			done := latestID(t, e)
			proc, running, wait := startNewBatch(t, e, "slow.hcl", 4)
			r = e.run("delete", done, running)
			if r.code != 3 || !strings.Contains(r.stderr, "batch "+running+": being run by wtb pid "+strconv.Itoa(proc.Pid)) ||
				!strings.Contains(r.stderr, "wtb cancel") {
				t.Errorf("delete of a running batch: exit %d\n%s", r.code, r.stderr)
			}
			if len(batchIDs(t, e)) != 2 {
				t.Error("a refused delete deleted the other batch")
			}
			_ = proc.Signal(syscall.SIGINT)
			wait()
			// Its owner gone (interrupted, lease released), it can go.
			e.mustRun("delete", running)
		})
	}
}

// bigScript prints a 100 KB output.
const bigScript = `#!/bin/sh
printf '{"blob": "'
head -c 100000 /dev/zero | tr '\0' x
printf '"}'
`

// bigOutputBench stores about 8 MB: 40 executions whose node prints 100 KB
// (kept as its output and in the state after it).
const bigOutputBench = `
runner "pool" {
  plugin      = "pool"
  max_workers = 4
}
workflow "w" {
  node "big" {
    command = ["sh", "big.sh"]
    variant "a" {}
    variant "b" { params = { b = true } }
  }
}
batch_test "big" {
  workflow = workflow.w
  runner   = runner.pool
  repeat   = 4
  case "c1" { input = {} }
  case "c2" { input = {} }
  case "c3" { input = {} }
  case "c4" { input = {} }
  case "c5" { input = {} }
}
`

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TestDeleteGivesTheSpaceBackOnSQLite: with the viewer reading the
// database, deleting a batch of 8 MB shrinks the file; the viewer goes on
// serving, and the database is intact. A database made by an older wtb
// (auto_vacuum none) keeps the space until gc --vacuum rewrites it once.
func TestDeleteGivesTheSpaceBackOnSQLite(t *testing.T) {
	e := newEnv(t)
	e.write("big.hcl", bigOutputBench)
	e.write("big.sh", bigScript)
	e.write("score.sh", scoreScript)
	e.write("det.hcl", deterministicBench("best"))
	e.mustRun("run", "det.hcl", "--no-progress")
	small := latestID(t, e)
	e.mustRun("run", "big.hcl", "--no-progress")
	big := latestID(t, e)
	for _, r := range e.results(e.store(), big) {
		if !r.Success {
			t.Fatalf("%s: %s", r.ExecutionKey, r.Error)
		}
	}
	path := filepath.Join(e.dir, "wtb.db")
	url := startViewer(t, e)
	get := func() string { return httpGet(t, url+"/api/batches") }
	if !strings.Contains(get(), big) {
		t.Fatal("the viewer does not list the big batch")
	}
	before := fileSize(t, path)
	r := e.mustRun("delete", big)
	after := fileSize(t, path)
	t.Logf("SQLite file and WAL: %d bytes before, %d after deleting an 8 MB batch with the viewer open\n%s", before, after, r.stdout)
	if before < 8<<20 || after > before/4 {
		t.Errorf("the file did not shrink: %d → %d bytes\n%s", before, after, r.stdout)
	}
	if !strings.Contains(r.stdout, "database on disk: ") || !strings.Contains(r.stdout, "incremental auto-vacuum gave the free pages back") {
		t.Errorf("delete does not say what it gave back:\n%s", r.stdout)
	}
	if out := get(); strings.Contains(out, big) || !strings.Contains(out, small) {
		t.Errorf("the viewer after the deletion:\n%s", out)
	}
	db, _ := sqlOf(t, e)
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %q %v", ok, err)
	}

	// An older database: the space stays inside the file until --vacuum.
	if _, err := db.Exec("PRAGMA auto_vacuum = NONE"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("VACUUM"); err != nil {
		t.Fatal(err)
	}
	e.mustRun("run", "big.hcl", "--no-progress")
	big = latestID(t, e)
	before = fileSize(t, path)
	r = e.mustRun("delete", big)
	kept := fileSize(t, path)
	if !strings.Contains(r.stdout, "wtb gc --vacuum") || kept < 7<<20 || !strings.Contains(r.stdout, "free inside it") {
		t.Errorf("delete on an older database (%d → %d bytes):\n%s", before, kept, r.stdout)
	}
	r = e.mustRun("gc", "--keep-last", "1", "--vacuum")
	after = fileSize(t, path)
	t.Logf("older database: %d bytes, %d after delete, %d after gc --vacuum\n%s", before, kept, after, r.stdout)
	if after > kept/4 || !strings.Contains(r.stdout, "nothing to delete") || !strings.Contains(r.stdout, "switched it to incremental auto-vacuum") {
		t.Errorf("gc --vacuum: %d → %d bytes\n%s", kept, after, r.stdout)
	}
	if mode := queryInt(t, db, "PRAGMA auto_vacuum"); mode != 2 {
		t.Errorf("after --vacuum auto_vacuum is %d", mode)
	}
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %q %v", ok, err)
	}
}
