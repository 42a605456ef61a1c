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
	"net"
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

// Server is a PostgreSQL cluster of one test's own, for tests that stop and
// start it: the shared test server stays up for everyone else.
type Server struct {
	URL  string
	bin  string
	data string
	port string
}

// OwnServer starts a throwaway cluster (initdb into a temporary directory, a
// free port on 127.0.0.1) and stops it when the test ends. It needs the
// PostgreSQL binaries (WTB_TEST_PGBIN) and, as root, the postgres user.
func OwnServer(t testing.TB) *Server {
	t.Helper()
	Require(t, "WTB_TEST_POSTGRES_URL")
	bin := os.Getenv("WTB_TEST_PGBIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("WTB_TEST_PGBIN is not set")
		}
		t.Skip("WTB_TEST_PGBIN is not set (scripts/services.sh sets it)")
	}
	dir, err := os.MkdirTemp("", "wtb-pg-own-")
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		_ = exec.Command("chown", "postgres:postgres", dir).Run()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	s := &Server{bin: bin, data: dir + "/db", port: port,
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", port)}
	s.run(t, "initdb", "-D", s.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	s.ctl(t, "-l", dir+"/log", "-o", s.options(dir), "start")
	t.Cleanup(func() {
		s.ctlQuiet("-m", "immediate", "stop")
		_ = os.RemoveAll(dir)
	})
	return s
}

func (s *Server) options(dir string) string {
	return fmt.Sprintf("-p %s -k %s -h 127.0.0.1 -c fsync=off", s.port, dir)
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	full := append([]string{s.bin + "/" + name}, args...)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, full...)...)
	}
	return exec.Command(full[0], full[1:]...)
}

func (s *Server) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := s.command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func (s *Server) ctl(t testing.TB, args ...string) {
	t.Helper()
	s.run(t, "pg_ctl", append([]string{"-D", s.data, "-w"}, args...)...)
}

func (s *Server) ctlQuiet(args ...string) {
	_ = s.command("pg_ctl", append([]string{"-D", s.data, "-w"}, args...)...).Run()
}

// Restart stops the server (fast shutdown: connections drop as in a
// failover), waits, and starts it again.
func (s *Server) Restart(t testing.TB, downFor time.Duration) {
	t.Helper()
	s.ctl(t, "-m", "fast", "stop")
	time.Sleep(downFor)
	dir := strings.TrimSuffix(s.data, "/db")
	s.ctl(t, "-l", dir+"/log", "-o", s.options(dir), "start")
}
