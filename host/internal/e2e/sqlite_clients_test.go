package e2e

import (
	"bufio"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The SQLite database is shared with whatever else the user points at it: the
// sqlite3 shell, a Python notebook, a DB browser, another wtb. These tests run
// real batches through the built binaries while real Python sqlite3 clients
// open and close the database.

// sqliteReader is a Python sqlite3 client that opens the database, counts the
// stored results, closes it, and after each close checks that the write-ahead
// log is still there. It runs until the stop file exists and prints one line:
// "reads N walGone M counts a,b,c". While a writer holds the database, a
// closing reader is never the last connection and must leave the WAL alone:
// one that deletes it has found the writer's locks gone.
const sqliteReader = `
import os, sqlite3, sys, time, random
db, stop, ready = sys.argv[1], sys.argv[2], sys.argv[3]
reads = gone = 0
counts = []
while not os.path.exists(stop):
    c = sqlite3.connect(db, timeout=10)
    try:
        n = c.execute("SELECT count(*) FROM wtb_batch_test_results").fetchone()[0]
        counts.append(n)
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
    c.close()
    reads += 1
    if reads == 1:
        open(ready, "w").close()
    if not os.path.exists(db + "-wal") and not os.path.exists(stop):
        gone += 1
    time.sleep(random.uniform(0.002, 0.02))
print("reads %d walGone %d counts %s" % (reads, gone, ",".join(map(str, counts[-5:]))))
`

// sqliteCheck prints PRAGMA integrity_check and the number of results and
// checkpoints, as Python's sqlite3 sees them.
const sqliteCheck = `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print("integrity", ";".join(r[0] for r in c.execute("PRAGMA integrity_check")))
print("results", c.execute("SELECT count(*) FROM wtb_batch_test_results").fetchone()[0])
print("checkpoints", c.execute("SELECT count(*) FROM wtb_checkpoints").fetchone()[0])
c.close()
`

// clientsBench: 3 variants × 200 cases × 2 repeats = 1,200 executions of a
// few milliseconds each, long enough for readers to come and go.
const clientsBench = `
runner "pool" {
  plugin      = "pool"
  max_workers = 8
}
workflow "w" {
  node "work" {
    command = ["sh", "-c", "sleep 0.03; echo '{\"done\": true}'"]
    variant "a" {}
    variant "b" { params = { b = true } }
    variant "c" { params = { c = true } }
  }
}
batch_test "clients" {
  workflow = workflow.w
  runner   = runner.pool
  repeat   = 2
  cases    = "cases.jsonl"
}
`

func needPython(t *testing.T) string {
	t.Helper()
	py, err := osexec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is needed for the SQLite client tests")
		}
		t.Skip("no python3")
	}
	return py
}

func (e *env) sqlitePath() string { return strings.TrimPrefix(e.db, "sqlite://") }

// readers starts n Python readers on the database and returns a function that
// stops them and returns what each printed.
func (e *env) readers(py string, n int) func() []string {
	e.t.Helper()
	scripts := e.t.TempDir() // not the bench directory, which a test may hash
	script := filepath.Join(scripts, "reader.py")
	if err := os.WriteFile(script, []byte(sqliteReader), 0o644); err != nil {
		e.t.Fatal(err)
	}
	stop := filepath.Join(scripts, "stop")
	var cmds []*osexec.Cmd
	var outs []*syncBuffer
	var readies []string
	for i := 0; i < n; i++ {
		ready := filepath.Join(scripts, fmt.Sprintf("ready-%d", i))
		readies = append(readies, ready)
		c := osexec.Command(py, script, e.sqlitePath(), stop, ready)
		out := &syncBuffer{}
		c.Stdout, c.Stderr = out, out
		if err := c.Start(); err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { _ = c.Process.Kill() })
		cmds, outs = append(cmds, c), append(outs, out)
	}
	// Every reader has read once before the caller goes on: on a loaded
	// machine a Python process takes a while to start.
	waitFor(e.t, 60*time.Second, func() string { return "the readers did not start" }, func() bool {
		for _, r := range readies {
			if _, err := os.Stat(r); err != nil {
				return false
			}
		}
		return true
	})
	return func() []string {
		if err := os.WriteFile(stop, nil, 0o644); err != nil {
			e.t.Fatal(err)
		}
		var lines []string
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				e.t.Errorf("reader %d: %v\n%s", i, err, outs[i].String())
			}
			lines = append(lines, strings.TrimSpace(outs[i].String()))
		}
		return lines
	}
}

var readerRE = regexp.MustCompile(`^reads (\d+) walGone (\d+)`)

// checkReaders fails the test if a reader saw the WAL vanish under a writer,
// or read nothing at all.
func checkReaders(t *testing.T, lines []string) {
	t.Helper()
	for i, l := range lines {
		m := readerRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("reader %d printed %q", i, l)
			continue
		}
		if reads, _ := strconv.Atoi(m[1]); reads == 0 {
			t.Errorf("reader %d never read: %s", i, l)
		}
		if m[2] != "0" {
			t.Errorf("reader %d: the write-ahead log was gone after %s of its closes while wtb was writing (%s)", i, m[2], l)
		}
	}
}

// sqliteFacts runs sqliteCheck.
func (e *env) sqliteFacts(py string) map[string]string {
	e.t.Helper()
	script := filepath.Join(e.t.TempDir(), "check.py")
	if err := os.WriteFile(script, []byte(sqliteCheck), 0o644); err != nil {
		e.t.Fatal(err)
	}
	out, err := osexec.Command(py, script, e.sqlitePath()).CombinedOutput()
	if err != nil {
		e.t.Fatalf("checking the database with Python: %v\n%s", err, out)
	}
	facts := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		facts[k] = v
	}
	return facts
}

var storeRowsRE = regexp.MustCompile(`(?m)^wtb_store_write_rows_sum\{[^}]*\} (\S+)$`)

// writing is a wtb command running with its metrics endpoint, so a test can
// tell how many rows it has committed.
type writing struct {
	cmd     *osexec.Cmd
	stderr  *syncBuffer
	metrics string
}

var metricsAddrRE = regexp.MustCompile(`metrics on http://([0-9.:]+)/metrics`)

func (e *env) startWriting(args ...string) *writing {
	e.t.Helper()
	w := &writing{cmd: e.cmd(append(args, "--no-progress", "--metrics-addr", "127.0.0.1:0", "--metrics-linger", "0")...), stderr: &syncBuffer{}}
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = w.cmd.Process.Kill() })
	waitFor(e.t, 20*time.Second, func() string { return "no metrics address:\n" + w.stderr.String() }, func() bool {
		return metricsAddrRE.MatchString(w.stderr.String())
	})
	w.metrics = "http://" + metricsAddrRE.FindStringSubmatch(w.stderr.String())[1] + "/metrics"
	return w
}

// rows is the host's own count of rows (results and checkpoints) committed.
func (w *writing) rows(t *testing.T) float64 {
	m := storeRowsRE.FindStringSubmatch(httpGet(t, w.metrics))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// withReaders runs readers on the database while w writes, until w has
// committed at least rows rows, and checks them; they stop while w is still
// writing, so every WAL check they made was made under a live writer.
func (e *env) withReaders(py string, w *writing, n int, rows float64) {
	e.t.Helper()
	stop := e.readers(py, n)
	waitFor(e.t, 60*time.Second, func() string { return "the batch wrote too little:\n" + w.stderr.String() }, func() bool {
		return w.rows(e.t) >= rows
	})
	checkReaders(e.t, stop())
}

func (w *writing) wait(t *testing.T) string {
	t.Helper()
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("wtb: %v\n%s", err, w.stderr.String())
	}
	return w.stderr.String()
}

// Readers come and go during a batch: the write-ahead log stays while wtb
// writes; a SIGKILL of the host loses no row it had committed (its own
// wtb_store_write_rows, scraped just before the kill, against the rows
// Python finds); a resume and a second batch with readers in between leave a
// database that passes integrity_check, every execution stored once.
func TestOtherSQLiteClientsComeAndGoDuringABatch(t *testing.T) {
	py := needPython(t)
	e := newEnv(t)
	var cases strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&cases, "{\"id\": \"c%d\", \"input\": {}}\n", i)
	}
	e.write("cases.jsonl", cases.String())
	e.write("bench.hcl", clientsBench)
	const total = 3 * 200 * 2

	const totalRows = 2 * total // a result and a checkpoint each

	w := e.startWriting("run", "bench.hcl")
	// Other wtb processes read the database meanwhile, too.
	for i := 0; i < 3; i++ {
		e.mustRun("results", "--list")
	}
	e.withReaders(py, w, 3, totalRows/2)

	// The rows the host says it committed, then SIGKILL.
	committed := w.rows(t)
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.cmd.Wait()
	id := batchID(t, w.stderr.String())
	facts := e.sqliteFacts(py)
	if facts["integrity"] != "ok" {
		t.Fatalf("integrity_check after SIGKILL: %s", facts["integrity"])
	}
	results, _ := strconv.Atoi(facts["results"])
	checkpoints, _ := strconv.Atoi(facts["checkpoints"])
	if float64(results+checkpoints) < committed {
		t.Fatalf("the host reported %v rows committed; after SIGKILL the database holds %d results + %d checkpoints", committed, results, checkpoints)
	}
	if results == 0 || results >= total {
		t.Fatalf("the kill was meant to land mid-batch: %d of %d results stored", results, total)
	}

	// Resume and a second batch, each with readers coming and going.
	w = e.startWriting("resume", id)
	e.withReaders(py, w, 2, float64(totalRows-2*results)/4)
	w.wait(t)
	w = e.startWriting("run", "bench.hcl")
	e.withReaders(py, w, 2, totalRows/4)
	second := batchID(t, w.wait(t))

	facts = e.sqliteFacts(py)
	if facts["integrity"] != "ok" {
		t.Fatalf("integrity_check after a resume and a second batch: %s", facts["integrity"])
	}
	st := e.store()
	assertExactlyOnce(t, e.results(st, id), total)
	assertExactlyOnce(t, e.results(st, second), total)
}

// A database in a directory an environment names (a working_dir of ".", the
// default wtb.db beside the bench file) is hashed for the node cache key
// while the host holds it. Reading it to hash it would release the host's
// locks; it is left out unread, and the key does not move from one run to
// the next as the database grows.
func TestADatabaseInAHashedDirectoryKeepsItsLocks(t *testing.T) {
	py := needPython(t)
	e := newEnv(t)
	var cases strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&cases, "{\"id\": \"c%d\", \"input\": {}}\n", i)
	}
	e.write("cases.jsonl", cases.String())
	// An environment variable naming "." is a path the environment names:
	// the directory that holds wtb.db is hashed into every cache key.
	e.write("bench.hcl", strings.Replace(clientsBench, `batch_test "clients" {`, `environment "here" {
  plugin = "local"
  env    = { DATA_DIR = "." }
}
batch_test "clients" {
  environment = environment.here
  cache       = true`, 1))
	w := e.startWriting("run", "bench.hcl")
	e.withReaders(py, w, 3, 2*1200/2)
	w.wait(t)
	facts := e.sqliteFacts(py)
	if facts["integrity"] != "ok" {
		t.Fatalf("integrity_check: %s", facts["integrity"])
	}
	// With the batch's node cache on, a second run serves every node run from
	// the cache: the database that grew in between is not part of the key.
	if r := e.mustRun("run", "bench.hcl", "--no-progress"); !strings.Contains(r.stderr, " 0 node runs") {
		t.Errorf("the second run ran nodes again (cache keys moved with the database):\n%s", r.stderr)
	}
}
