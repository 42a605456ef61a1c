package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/open"
	"github.com/wtbench/wtb/host/internal/store/postgres/pgtest"
	"github.com/wtbench/wtb/host/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// env is one isolated workspace: a bench directory and a database.
type env struct {
	t   *testing.T
	dir string
	db  string
	wtb string
	// environ is added to every command's environment.
	environ []string
}

// Stores an end-to-end test can run against.
const (
	sqliteStore    = "sqlite"
	postgresStore  = "postgres"
	pgbouncerStore = "pgbouncer"
)

func newEnv(t *testing.T) *env { return newEnvOn(t, sqliteStore) }

// newEnvOn makes a workspace whose database is a fresh SQLite file, a fresh
// PostgreSQL database, or that database through PgBouncer.
func newEnvOn(t *testing.T, kind string) *env {
	t.Helper()
	testbin.BuildAll(t)
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "wtb.db")
	switch kind {
	case postgresStore:
		db, _ = pgtest.Database(t)
	case pgbouncerStore:
		pgtest.Require(t, "WTB_TEST_PGBOUNCER_URL")
		_, db = pgtest.Database(t)
	}
	return &env{t: t, dir: dir, db: db, wtb: filepath.Join(testbin.Dir(t), "wtb")}
}

func (e *env) write(name, content string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(name, ".sh") {
		mode = 0o755
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
	return path
}

type result struct {
	code           int
	stdout, stderr string
}

func (e *env) cmd(args ...string) *osexec.Cmd {
	cmd := osexec.Command(e.wtb, append([]string{"--db", e.db}, args...)...)
	cmd.Dir = e.dir
	cmd.Env = append(append(os.Environ(), "WTB_PLUGIN_PATH="+testbin.PluginDir(e.t), "NO_COLOR=1"), e.environ...)
	return cmd
}

func (e *env) run(args ...string) result {
	e.t.Helper()
	cmd := e.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*osexec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running wtb %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

func (e *env) mustRun(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("wtb %v exited %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

var batchIDRE = regexp.MustCompile(`batch (\d{8}-\d{6}-[0-9a-f]{8})`)

func batchID(t *testing.T, out string) string {
	t.Helper()
	m := batchIDRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no batch id in output:\n%s", out)
	}
	return m[1]
}

func (e *env) store() store.Store {
	e.t.Helper()
	st, err := open.Open(context.Background(), e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

func (e *env) results(st store.Store, id string) []store.Result {
	e.t.Helper()
	rs, err := st.Results().List(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// spanRows are the stored spans of every node run of the batch.
func (e *env) spanRows(st store.Store, id string) []store.NodeSpans {
	e.t.Helper()
	ctx := context.Background()
	cps, err := st.Checkpoints().ListByBatch(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	runIDs := make([]string, 0, len(cps))
	for _, cp := range cps {
		runIDs = append(runIDs, cp.ID)
	}
	rows, err := st.Spans().ListByRuns(ctx, id, runIDs)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

// assertExactlyOnce checks every execution of the batch is stored once.
func assertExactlyOnce(t *testing.T, rs []store.Result, total int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range rs {
		seen[r.ExecutionKey]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("execution %s stored %d times", k, n)
		}
	}
	if len(seen) != total || len(rs) != total {
		t.Errorf("stored %d rows for %d distinct executions; want %d", len(rs), len(seen), total)
	}
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	f := procStat(pid)
	return len(f) > 0 && f[0] != "Z"
}

// procStat is /proc/PID/stat after the command name: state, ppid, pgrp,
// session, ... (nil when the process is gone).
func procStat(pid int) []string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(stat)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// parentOf is pid's parent (0 when pid is gone).
func parentOf(pid int) int {
	f := procStat(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// childPids lists the processes whose parent is pid and whose command line
// contains match.
func childPids(pid int, match string) []int { return processes(match, pid) }

// pidsWith lists the live processes whose command line contains match.
func pidsWith(match string) []int { return processes(match, 0) }

// processes lists the live processes whose command line contains match and,
// unless parent is 0, whose parent is parent.
func processes(match string, parent int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || (parent != 0 && parentOf(pid) != parent) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), match) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// exec runs one SQL statement against a PostgreSQL URL.
func exec(url, sql string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func count(url, sql string) int {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	var n int
	_ = conn.QueryRow(ctx, sql).Scan(&n)
	return n
}

// quickstart writes examples/quickstart into the workspace (quickstart.hcl
// and its cases, pointed at the built qa program and plugins) and returns the
// bench file's text.
func quickstart(e *env) string {
	e.t.Helper()
	qa := testbin.Build(e.t, testbin.QA)
	src, err := os.ReadFile(filepath.Join(testbin.Root(), "examples/quickstart/bench.hcl"))
	if err != nil {
		e.t.Fatal(err)
	}
	bench := strings.Replace(string(src), `qa = "../../bin/examples/qa"`, fmt.Sprintf("qa = %q", qa), 1)
	bench = strings.Replace(bench, `plugin_dir = "../../bin/plugins"`, fmt.Sprintf("plugin_dir = %q", testbin.PluginDir(e.t)), 1)
	cases, err := os.ReadFile(filepath.Join(testbin.Root(), "examples/quickstart/cases.jsonl"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.write("cases.jsonl", string(cases))
	e.write("quickstart.hcl", bench)
	return bench
}

func (e *env) mustRunOK(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 && r.code != 1 {
		e.t.Fatalf("wtb %v exited %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// leaderboard is the scores part of `results --format json`.
func leaderboard(t *testing.T, doc string) string {
	t.Helper()
	var d struct {
		Summary struct {
			Leaderboard []struct {
				Combination string  `json:"combination"`
				Mean        float64 `json:"mean_score"`
				Stddev      float64 `json:"stddev"`
			} `json:"leaderboard"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("results json: %v\n%s", err, doc)
	}
	out, _ := json.Marshal(d.Summary.Leaderboard)
	return string(out)
}
