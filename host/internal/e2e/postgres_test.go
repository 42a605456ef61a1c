package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/postgres/pgtest"
)

// TestBatchOnPostgres runs the deterministic batch with --db postgres://...,
// directly and through PgBouncer in transaction pooling mode.
func TestBatchOnPostgres(t *testing.T) {
	for _, kind := range []string{postgresStore, pgbouncerStore} {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, kind)
			e.write("score.sh", scoreScript)
			e.write("bench.hcl", deterministicBench("best"))
			r := e.mustRun("run", "bench.hcl", "--no-progress")
			id := batchID(t, r.stderr)
			if !strings.Contains(r.stderr, "postgres://") {
				t.Errorf("the run should name its store:\n%s", r.stderr)
			}
			rs := e.results(e.store(), id)
			assertExactlyOnce(t, rs, 12)
			for _, res := range rs {
				want := 0.0
				if res.Combination == "score=good" {
					want = 1
				}
				if !res.Success || res.OverallScore != want {
					t.Errorf("%s: success=%v score=%v", res.ExecutionKey, res.Success, res.OverallScore)
				}
			}
			show := e.mustRun("show", "--batch", id, "score=good/c2/1").stdout
			if !strings.Contains(show, "+ $.value = 1") {
				t.Errorf("show on PostgreSQL:\n%s", show)
			}
			if out := e.mustRun("audit", id).stdout; !strings.Contains(out, "batch.finished") {
				t.Errorf("audit on PostgreSQL:\n%s", out)
			}
		})
	}
}

// TestPostgresRestartMidBatch stops and starts the server while a batch runs:
// the batch completes and every execution is stored exactly once.
func TestPostgresRestartMidBatch(t *testing.T) {
	srv := pgtest.OwnServer(t)
	e := newEnv(t)
	e.db = srv.URL
	e.write("slow.hcl", slowBench)
	_, id, wait := startBatch(t, e, "slow.hcl", 10)
	srv.Restart(t, time.Second)
	stderr := wait()
	st := e.store()
	rs := e.results(st, id)
	assertExactlyOnce(t, rs, 120)
	for _, r := range rs {
		if !r.Success {
			t.Errorf("%s: %s", r.ExecutionKey, r.Error)
		}
	}
	b, err := st.Batches().Get(context.Background(), id)
	if err != nil || b.Status != store.StatusCompleted {
		t.Errorf("batch after the restart: %+v %v\n%s", b, err, stderr)
	}
	// The wait was said out loud: WARN lines while it lasted and when it
	// ended, and an audit entry with its duration.
	if !strings.Contains(stderr, "the database is not answering") || !strings.Contains(stderr, "the database answers again") {
		t.Errorf("no WARN lines about the stall:\n%s", stderr)
	}
	entries, _ := st.Audit().List(context.Background(), id, store.AuditFilter{EventType: "store.stalled"})
	stalled := false
	for _, en := range entries {
		var d struct {
			WaitedMs float64 `json:"waited_ms"`
		}
		_ = json.Unmarshal(en.Details, &d)
		stalled = stalled || (en.Severity == "WARNING" && d.WaitedMs >= 500)
	}
	if !stalled {
		t.Errorf("the audit trail does not record a stall of at least 0.5 s: %+v", entries)
	}
}

// TestBadDatabaseURLs: a wrong password, an unreachable host and a schema
// from the future are one-line errors with exit code 3, and nothing is written.
func TestBadDatabaseURLs(t *testing.T) {
	e := newEnv(t)
	e.write("score.sh", scoreScript)
	e.write("bench.hcl", deterministicBench("best"))
	pgtest.Require(t, "WTB_TEST_POSTGRES_URL")
	pgport := envOr("WTB_TEST_PGPORT", "5432")
	cases := map[string]struct{ url, want string }{
		"wrong password": {fmt.Sprintf("postgres://wtb_pw:not-the-password@127.0.0.1:%s/postgres?sslmode=disable", pgport), "password authentication failed"},
		"unreachable":    {"postgres://u:pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "connect"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e.db = c.url
			r := e.run("run", "bench.hcl", "--no-progress")
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 3 || len(lines) != 1 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			if strings.Contains(r.stderr, "not-the-password") || strings.Contains(r.stderr, ":pw@") {
				t.Errorf("the password is printed: %s", r.stderr)
			}
		})
	}
	t.Run("schema from the future", func(t *testing.T) {
		direct, _ := pgtest.Database(t)
		e.db = direct
		e.store() // migrates the new database
		if err := exec(direct, `INSERT INTO wtb_goose_db_version (version_id, is_applied) VALUES (999, true)`); err != nil {
			t.Fatal(err)
		}
		r := e.run("run", "bench.hcl", "--no-progress")
		if r.code != 3 || !strings.Contains(r.stderr, "schema version 999") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		if n := count(direct, `SELECT COUNT(*) FROM wtb_batch_tests`); n != 0 {
			t.Errorf("%d batches written to a database wtb refused", n)
		}
	})
}
