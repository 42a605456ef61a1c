// Package pgtest gives tests a fresh PostgreSQL database on the throwaway
// server that scripts/services.sh starts (WTB_TEST_POSTGRES_URL), and the same
// database through PgBouncer (WTB_TEST_PGBOUNCER_URL). Without a server the
// tests skip — or fail when CI=true, so CI never passes by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Require returns the admin URL of the test server or skips (fails in CI).
func Require(t testing.TB, envVar string) string {
	t.Helper()
	u := os.Getenv(envVar)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run PostgreSQL tests (start the server with scripts/services.sh)", envVar)
		}
		t.Skipf("%s is not set; run `make test` (it starts PostgreSQL) to include these tests", envVar)
	}
	return u
}

// Database creates an empty database and returns its URL on the server and,
// when PgBouncer runs, through PgBouncer. It is dropped when the test ends.
func Database(t testing.TB) (direct, bouncer string) {
	t.Helper()
	admin := Require(t, "WTB_TEST_POSTGRES_URL")
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "wtb_t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	direct = withDatabase(admin, name)
	if pb := os.Getenv("WTB_TEST_PGBOUNCER_URL"); pb != "" {
		bouncer = withDatabase(pb, name)
	}
	return direct, bouncer
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

// Restart stops and starts the test server (fast shutdown): connections drop
// as they would in a failover. It needs the server started by services.sh.
func Restart(t testing.TB, downFor time.Duration) {
	t.Helper()
	pgbin, data, port, sock := os.Getenv("WTB_TEST_PGBIN"), os.Getenv("WTB_TEST_PGDATA"), os.Getenv("WTB_TEST_PGPORT"), os.Getenv("WTB_TEST_PGSOCK")
	if pgbin == "" || data == "" {
		t.Skip("the test server's pg_ctl is unknown (WTB_TEST_PGBIN, WTB_TEST_PGDATA)")
	}
	ctl := func(args ...string) {
		full := append([]string{pgbin + "/pg_ctl", "-D", data, "-w"}, args...)
		cmd := exec.Command(full[0], full[1:]...)
		if os.Geteuid() == 0 {
			cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--"}, full...)...)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pg_ctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ctl("-m", "fast", "stop")
	time.Sleep(downFor)
	ctl("-l", data+"/../log", "-o", fmt.Sprintf("-p %s -k %s -h 127.0.0.1 -c fsync=off -c max_connections=200", port, sock), "start")
}
