package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/postgres"
	"github.com/wtbench/wtb/host/internal/store/postgres/pgtest"
	"github.com/wtbench/wtb/host/internal/store/storetest"
)

func openURL(t *testing.T, u string) store.Store {
	st, err := postgres.Open(context.Background(), u, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestRepositorySuiteDirect(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		direct, _ := pgtest.Database(t)
		return openURL(t, direct)
	})
}

func TestRepositorySuiteThroughPgBouncer(t *testing.T) {
	pgtest.Require(t, "WTB_TEST_PGBOUNCER_URL")
	storetest.Run(t, func(t *testing.T) store.Store {
		_, bouncer := pgtest.Database(t)
		return openURL(t, bouncer)
	})
}

func TestTwoHostsMigrateAtOnce(t *testing.T) {
	direct, bouncer := pgtest.Database(t)
	for _, u := range []string{direct, bouncer} {
		if u == "" {
			continue
		}
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			go func() {
				st, err := postgres.Open(context.Background(), u, postgres.Options{})
				if err == nil {
					st.Close()
				}
				errs <- err
			}()
		}
		for i := 0; i < 4; i++ {
			if err := <-errs; err != nil {
				t.Errorf("%s: concurrent open %d: %v", store.Redact(u), i, err)
			}
		}
	}
}

func TestNewerSchemaIsRefusedAndLeftAlone(t *testing.T) {
	direct, _ := pgtest.Database(t)
	st := openURL(t, direct).(*postgres.Store)
	if _, err := st.Pool().Exec(context.Background(), `INSERT INTO wtb_goose_db_version (version_id, is_applied) VALUES (999, true)`); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(context.Background(), direct, postgres.Options{})
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("want a schema-too-new error naming 999, got %v", err)
	}
}

func TestWrongPasswordIsAClearErrorWithoutThePassword(t *testing.T) {
	pgtest.Require(t, "WTB_TEST_POSTGRES_URL")
	port := os.Getenv("WTB_TEST_PGPORT")
	if port == "" {
		t.Skip("WTB_TEST_PGPORT unknown")
	}
	u := fmt.Sprintf("postgres://wtb_pw:%s@127.0.0.1:%s/postgres?sslmode=disable", url.QueryEscape("s3cret-guess"), port)
	_, err := postgres.Open(context.Background(), u, postgres.Options{RetryFor: time.Second})
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("want a password error, got %v", err)
	}
	if strings.Contains(err.Error(), "s3cret-guess") {
		t.Errorf("the error quotes the password: %v", err)
	}
}

func TestUnreachableHost(t *testing.T) {
	start := time.Now()
	_, err := postgres.Open(context.Background(), "postgres://u:pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", postgres.Options{RetryFor: time.Second})
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("want a connection error, got %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("took %s to give up", time.Since(start))
	}
}

func TestWritesSurviveAServerRestart(t *testing.T) {
	srv := pgtest.OwnServer(t)
	st := openURL(t, srv.URL)
	ctx := context.Background()
	if err := st.Batches().Create(ctx, storetest.NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 40; i++ {
			var rs []store.Result
			for j := 0; j < 100; j++ {
				rs = append(rs, storetest.NewResult("b", fmt.Sprintf("k-%d-%d", i, j)))
			}
			if err := st.Write(ctx, store.WriteSet{Results: rs}); err != nil {
				done <- err
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		done <- nil
	}()
	time.Sleep(200 * time.Millisecond)
	srv.Restart(t, 500*time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("a write failed across the restart: %v", err)
	}
	n, _ := st.Results().Count(ctx, "b")
	if n != 4000 {
		t.Errorf("stored %d rows, want 4000 exactly once", n)
	}
}

// BenchmarkWriteResults compares bulk writes (COPY into a temporary table, then
// INSERT ... ON CONFLICT) with one INSERT per row, direct and through
// PgBouncer. Run with -benchtime=100000x for the 100,000-row figure.
func BenchmarkWriteResults(b *testing.B) {
	for _, via := range []string{"direct", "pgbouncer"} {
		for _, mode := range []string{"bulk", "row-by-row"} {
			b.Run(via+"/"+mode, func(b *testing.B) {
				direct, bouncer := pgtest.Database(b)
				u := direct
				if via == "pgbouncer" {
					if bouncer == "" {
						b.Skip("no PgBouncer")
					}
					u = bouncer
				}
				st, err := postgres.Open(context.Background(), u, postgres.Options{})
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
					n := min(len(rs), 4000)
					if mode == "bulk" {
						err = st.Write(ctx, store.WriteSet{Results: rs[:n]})
					} else {
						err = st.WriteResultsOneByOne(ctx, rs[:n])
					}
					if err != nil {
						b.Fatal(err)
					}
					rs = rs[n:]
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// BenchmarkRawCopy is the baseline of BenchmarkWriteResults/bulk: pgx's COPY
// of the same result rows (values encoded beforehand) into a table shaped
// like the results table with no index, no constraint and no idempotency — as
// fast as the driver and the server take rows.
func BenchmarkRawCopy(b *testing.B) {
	direct, _ := pgtest.Database(b)
	st, err := postgres.Open(context.Background(), direct, postgres.Options{}) // the real schema
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, direct)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE raw_results (LIKE wtb_batch_test_results INCLUDING DEFAULTS)"); err != nil {
		b.Fatal(err)
	}
	cols := []string{"batch_test_id", "execution_key", "execution_id", "combination_name", "variant_config", "case_id", "repeat_index",
		"status", "success", "error", "failed_node", "failure_kind", "metrics", "scores", "overall_score", "passed", "duration_ms",
		"worker_id", "attempts", "final_checkpoint_id", "created_at", "notes", "logs"}
	now := time.Now()
	rows := make([][]any, b.N)
	for i := range rows {
		key := fmt.Sprintf("combo/case-%d/0", i)
		rows[i] = []any{"bench", key, key + "#1", "a=x", `{"a":"x"}`, "c", 0, "succeeded", true, "", "", "",
			`{"tokens":12}`, `{"correct":1}`, 0.75, true, 12.5, "w1", 1, "cp-" + key, now, "{}", "[]"}
	}
	b.ResetTimer()
	for start := 0; start < b.N; start += 4000 {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_results"}, cols, pgx.CopyFromRows(rows[start:min(b.N, start+4000)]))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
