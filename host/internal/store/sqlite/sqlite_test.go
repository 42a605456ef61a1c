package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
	"github.com/wtbench/wtb/host/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wtb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestRepositorySuite(t *testing.T) { storetest.Run(t, open) }

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wtb.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// A newer wtb migrated the file: write its version with a plain connection.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlite.Open(context.Background(), path)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("opening a database with schema 999: %v", err)
	}
}

func TestConcurrentOpenOfANewDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wtb.db")
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			st, err := sqlite.Open(context.Background(), path)
			if err == nil {
				st.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
}

// BenchmarkWriteResults measures bulk result writes: one transaction of b.N
// rows with a prepared statement (run with -benchtime=100000x for the
// 100,000-row figure).
func BenchmarkWriteResults(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Batches().Create(ctx, storetest.NewBatch("bench")); err != nil {
		b.Fatal(err)
	}
	rs := make([]store.Result, b.N)
	for i := range rs {
		rs[i] = storetest.NewResult("bench", fmt.Sprintf("combo/case-%d/0", i))
	}
	b.ResetTimer()
	for len(rs) > 0 {
		n := min(len(rs), 4000) // the scheduler's writer batch size
		if err := st.Write(ctx, store.WriteSet{Results: rs[:n]}); err != nil {
			b.Fatal(err)
		}
		rs = rs[n:]
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// A write that leaves the write-ahead log over its limit truncates it: the log
// stays bounded even when readers never leave SQLite a moment to start it over.
func TestWriteBoundsTheWriteAheadLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Batches().Create(ctx, storetest.NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	write := func(round int) int64 {
		rs := make([]store.Result, 2000)
		for i := range rs {
			rs[i] = storetest.NewResult("b", fmt.Sprintf("combo/case-%d-%d/0", round, i))
		}
		if err := st.Write(ctx, store.WriteSet{Results: rs}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	unbounded := write(0)
	const limit = 256 << 10
	if unbounded < limit {
		t.Fatalf("a write of 2000 results left a %d-byte log; the test needs one over %d", unbounded, limit)
	}
	st.SetWALLimit(limit)
	for round := 1; round <= 3; round++ {
		if size := write(round); size >= limit {
			t.Errorf("after write %d the log is %d bytes, over its %d-byte limit", round, size, limit)
		}
	}
	if n, _ := st.Results().Count(ctx, "b"); n != 8000 {
		t.Errorf("%d results stored, want 8000", n)
	}
}

// BenchmarkRawDriver is the baseline BenchmarkWriteResults is measured
// against: the same driver (modernc.org/sqlite through database/sql) with
// nothing of the store — a prepared single-row INSERT in transactions of
// 4,000 — inserting plain rows (an integer and a short text) and result rows
// (every column of wtb_batch_test_results, values encoded beforehand).
func BenchmarkRawDriver(b *testing.B) {
	for _, kind := range []string{"plain", "results"} {
		b.Run(kind, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "raw.db")
			st, err := sqlite.Open(context.Background(), path) // the real schema
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := st.Batches().Create(ctx, storetest.NewBatch("bench")); err != nil {
				b.Fatal(err)
			}
			st.Close()
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			query := "INSERT INTO plain (id, v) VALUES (?, ?)"
			if kind == "plain" {
				if _, err := db.Exec("CREATE TABLE plain (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"); err != nil {
					b.Fatal(err)
				}
			} else {
				query = `INSERT INTO wtb_batch_test_results (batch_test_id, execution_key, execution_id, combination_name, variant_config,
					case_id, repeat_index, status, success, error, failed_node, failure_kind, metrics, scores, overall_score, passed,
					duration_ms, worker_id, attempts, final_checkpoint_id, created_at, notes, logs)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
			}
			args := make([][]any, b.N)
			for i := range args {
				if kind == "plain" {
					args[i] = []any{i, fmt.Sprintf("value-%d", i)}
					continue
				}
				key := fmt.Sprintf("combo/case-%d/0", i)
				args[i] = []any{"bench", key, key + "#1", "a=x", `{"a":"x"}`, "c", 0, "succeeded", 1, "", "", "",
					`{"tokens":12}`, `{"correct":1}`, 0.75, 1, 12.5, "w1", 1, "cp-" + key, "2026-11-26T00:00:00.000000000Z", "{}", "[]"}
			}
			b.ResetTimer()
			for start := 0; start < b.N; start += 4000 {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				stmt, err := tx.Prepare(query)
				if err != nil {
					b.Fatal(err)
				}
				for _, a := range args[start:min(b.N, start+4000)] {
					if _, err := stmt.Exec(a...); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// Opening and closing more stores on a database in the same process (wtb
// parity runs two batches; a reader upgrades through a writer) leaves the
// first store's SQLite locks in place: another client that closes the
// database afterwards is not the last one and must not remove the
// write-ahead log. The other client is a separate process (Python's sqlite3),
// as POSIX locks are per process.
func TestOtherOpensInTheProcessKeepTheWritersLocks(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wtb.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Batches().Create(ctx, storetest.NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		other, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		other.Close()
		reader, err := sqlite.OpenReadOnly(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reader.Batches().List(ctx, 10); err != nil {
			t.Fatal(err)
		}
		reader.Close()
	}
	out, err := exec.Command(py, "-c", `import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("SELECT count(*) FROM wtb_batch_tests").fetchone(); c.close()`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("a client closing the database removed the write-ahead log while wtb held it: %v", err)
	}
	// And the writer still writes.
	if err := st.Batches().Create(ctx, storetest.NewBatch("c")); err != nil {
		t.Fatal(err)
	}
}
