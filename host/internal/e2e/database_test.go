package e2e

// The database as other processes see it: one owner per batch, read
// commands that never write, hints that reach the bench file's database,
// and audit and compare output. Each runs the built binaries.

import (
	"encoding/json"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/testbin"
)

// Machine-readable output is one valid document, and filters apply before limits.
func TestAuditLimitAndCompareJSON(t *testing.T) {
	e := newEnv(t)
	e.write("score.sh", scoreScript)
	e.write("bench.hcl", strings.Replace(deterministicBench("all"), `variant "bad" { params = { value = 0 } }`,
		`variant "bad" { command = ["sh", "-c", "exit 3"] }`, 1))
	r := e.run("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	// ERROR entries (failed executions) come after many INFO ones.
	errs := e.mustRun("audit", id, "--level", "ERROR", "--limit", "1").stdout
	if strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "ERROR") {
		t.Errorf("audit --level ERROR --limit 1:\n%s", errs)
	}
	if r := e.run("audit", id, "--level", "LOUD"); r.code != 2 {
		t.Errorf("an unknown level must be a usage error, got exit %d", r.code)
	}
	second := batchID(t, e.run("run", "bench.hcl", "--no-progress").stderr)
	out := e.mustRunOK("compare", id, second, "--cases", "--format", "json")
	var doc struct {
		Combinations []any `json:"combinations"`
		Cases        []any `json:"cases"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&doc); err != nil || dec.More() || doc.Cases == nil || len(doc.Combinations) != 2 {
		t.Errorf("compare --cases --format json is not one document with cases (%v):\n%s", err, out)
	}
}

// A batch has one owner at a time: a second resume of a batch being run is
// refused, and a successor takes over at once from an owner that died on
// this machine.
func TestOneOwnerPerBatch(t *testing.T) {
	e := newEnv(t)
	e.write("slow.hcl", slowBench)
	proc, id, wait := startBatch(t, e, "slow.hcl", 5)
	r := e.run("resume", id)
	noCrash(t, "resume", r)
	if r.code != 3 || !strings.Contains(r.stderr, "is being run by wtb pid") {
		t.Fatalf("resume of a running batch: exit %d, want 3 naming its owner:\n%s", r.code, r.stderr)
	}
	_ = proc.Signal(syscall.SIGKILL)
	wait()
	if l := e.mustRun("results", "--list").stdout; !strings.Contains(l, "interrupted") {
		t.Errorf("a batch whose owner died is not shown as interrupted:\n%s", l)
	}

	// Two resumes at once: the first owns the batch, the second is refused.
	first := e.cmd("resume", id, "--no-progress")
	out := &syncBuffer{}
	first.Stderr = out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() string { return "the first resume to start: " + out.String() }, func() bool {
		return strings.Contains(out.String(), "resuming batch")
	})
	second := e.run("resume", id)
	if second.code != 3 || !strings.Contains(second.stderr, "is being run by") {
		t.Errorf("a concurrent resume: exit %d, want 3:\n%s", second.code, second.stderr)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the first resume failed: %v\n%s", err, out.String())
	}
	assertExactlyOnce(t, e.results(e.store(), id), 120)
	if l := e.mustRun("results", "--list").stdout; !strings.Contains(l, "completed") {
		t.Errorf("after the resume:\n%s", l)
	}
}

// Reading never writes: read commands create no database, directory or lock
// file, and work for a user who may read the database but not write beside it.
func TestReadCommandsNeverWrite(t *testing.T) {
	e := newEnv(t)
	e.write("score.sh", scoreScript)
	e.write("bench.hcl", deterministicBench("best"))
	id := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)

	missing := filepath.Join(e.dir, "nowhere", "wtb.db")
	for _, args := range [][]string{{"results"}, {"results", "--list"}, {"audit"}, {"show", "x"}, {"compare", "a", "b"}, {"cache", "stats"}} {
		cmd := osexec.Command(e.wtb, append([]string{"--db", "sqlite://" + missing}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *osexec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "no database at") {
			t.Errorf("wtb %v on a missing database: %v\n%s", args, err, out)
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Errorf("a read command created %s", filepath.Dir(missing))
	}

	// The owner reads: nothing is left beside the database (no -wal, no -shm).
	dbDir := filepath.Dir(strings.TrimPrefix(e.db, "sqlite://"))
	before := listDir(t, dbDir)
	for _, args := range [][]string{{"results", id}, {"results", "--list"}, {"audit", id}, {"show", "--batch", id, "score=good/c1/0"}, {"compare", id, id}, {"cache", "stats"}} {
		e.mustRun(args...)
		if after := listDir(t, dbDir); after != before {
			t.Errorf("wtb %v left files beside the database:\nbefore %s\nafter  %s", args, before, after)
		}
	}

	// A reader who may not write the directory: as root, run wtb as nobody.
	for _, d := range []string{e.dir, filepath.Dir(e.dir), filepath.Dir(filepath.Dir(e.dir)), testbin.Dir(t)} {
		_ = os.Chmod(d, 0o755)
	}
	_ = os.Chmod(strings.TrimPrefix(e.db, "sqlite://"), 0o644)
	asReader := func(args ...string) *osexec.Cmd {
		full := append([]string{"--db", e.db}, args...)
		if os.Getuid() == 0 {
			return osexec.Command("runuser", append([]string{"-u", "nobody", "--", e.wtb}, full...)...)
		}
		_ = os.Chmod(dbDir, 0o555)
		t.Cleanup(func() { _ = os.Chmod(dbDir, 0o755) })
		return osexec.Command(e.wtb, full...)
	}
	for _, args := range [][]string{{"results", id}, {"results", "--list"}, {"audit", id}, {"show", "--batch", id, "score=good/c1/0"}, {"compare", id, id}, {"cache", "stats"}} {
		out, err := asReader(args...).CombinedOutput()
		if err != nil {
			t.Errorf("wtb %v as a read-only user: %v\n%s", args, err, out)
		}
	}
	if after := listDir(t, dbDir); after != before {
		t.Errorf("read commands changed the database directory:\nbefore %s\nafter  %s", before, after)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return strings.Join(names, " ")
}

// Every follow-up command the CLI prints works as printed, also when the
// database comes from the bench file.
func TestHintsReachTheBenchFilesDatabase(t *testing.T) {
	e := newEnv(t)
	e.write("slow.hcl", "wtb {\n  database = \"data/results.db\"\n}\n"+slowBench)
	cmd := osexec.Command(e.wtb, "run", "slow.hcl", "--no-progress")
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "WTB_PLUGIN_PATH="+testbin.PluginDir(t), "NO_COLOR=1")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() string { return "progress: " + stderr.String() }, func() bool {
		return strings.Contains(stderr.String(), "node runs")
	})
	time.Sleep(300 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	m := regexp.MustCompile("`(wtb [^`]*resume [^`]*)`").FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no resume hint:\n%s", stderr)
	}
	hint := strings.Fields(m[1])
	resume := osexec.Command(e.wtb, hint[1:]...)
	resume.Dir = e.dir
	resume.Env = cmd.Env
	if out, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("the printed hint %q failed: %v\n%s", m[1], err, out)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "wtb.db")); err == nil {
		t.Errorf("the hint %q created ./wtb.db instead of using the bench file's database", m[1])
	}
	if _, err := os.Stat(filepath.Join(e.dir, "data", "results.db")); err != nil {
		t.Errorf("the bench file's database is not relative to the bench file: %v", err)
	}
}
