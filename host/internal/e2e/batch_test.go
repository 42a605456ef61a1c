package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"golang.org/x/tools/txtar"
)

const scoreScript = `#!/bin/sh
# Prints the value param back: {"value": N}.
v=$(sed -n 's/.*"params":{"value":\([0-9]*\)}.*/\1/p')
echo "{\"value\": $v}"
`

func deterministicBench(appliesTo string) string {
	return fmt.Sprintf(`
runner "pool" {
  plugin      = "pool"
  max_workers = 4
}
workflow "w" {
  node "prep" {
    kind   = "merge"
    params = { stage = "prep" }
  }
  node "score" {
    depends_on = ["prep"]
    command    = ["sh", "score.sh"]
    variant "good" { params = { value = 1 } }
    variant "bad" { params = { value = 0 } }
  }
}
batch_test "det" {
  workflow = workflow.w
  runner   = runner.pool
  repeat   = 2
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
  case "c3" { input = { q = 3 } }
  evaluator "is_one" {
    type   = "equals"
    path   = "$.value"
    expect = 1
  }
  threshold {
    overall_score = 0.5
    applies_to    = %q
  }
}
`, appliesTo)
}

func TestDeterministicBatchScoresAndExitCodes(t *testing.T) {
	e := newEnv(t)
	e.write("score.sh", scoreScript)
	e.write("best.hcl", deterministicBench("best"))
	e.write("all.hcl", deterministicBench("all"))

	r := e.mustRun("run", "best.hcl", "--junit", "junit.xml")
	id := batchID(t, r.stderr)
	st := e.store()
	rs := e.results(st, id)
	assertExactlyOnce(t, rs, 2*3*2)
	for _, res := range rs {
		want := 0.0
		if res.Combination == "score=good" {
			want = 1
		}
		if !res.Success || res.OverallScore != want {
			t.Errorf("%s: success=%v score=%v, want score %v", res.ExecutionKey, res.Success, res.OverallScore, want)
		}
	}
	if !strings.Contains(r.stdout, "1     score=good") || !strings.Contains(r.stdout, "thresholds met") {
		t.Errorf("leaderboard:\n%s", r.stdout)
	}
	junit, err := os.ReadFile(e.dir + "/junit.xml")
	if err != nil || !strings.Contains(string(junit), `<testsuite name="score=bad" tests="6" failures="6"`) {
		t.Errorf("junit report:\n%s (%v)", junit, err)
	}

	// The same batch with thresholds for every combination: exit 1.
	r = e.run("run", "all.hcl")
	if r.code != 1 {
		t.Fatalf("thresholds missed must exit 1, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// results / compare / show / audit read what is stored.
	out := e.mustRun("results", id, "--format", "json").stdout
	var doc struct {
		Summary struct {
			Stored int `json:"stored"`
			Combos []struct {
				Combination string  `json:"combination"`
				Mean        float64 `json:"mean_score"`
			} `json:"leaderboard"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Summary.Stored != 12 || doc.Summary.Combos[0].Mean != 1 {
		t.Errorf("results json: %v\n%s", err, out)
	}
	second := batchID(t, r.stderr)
	cmp := e.run("compare", id, second, "--cases")
	if cmp.code != 0 || !strings.Contains(cmp.stdout, "0 regressions") {
		t.Errorf("identical batches must compare clean (exit %d):\n%s%s", cmp.code, cmp.stdout, cmp.stderr)
	}
	show := e.mustRun("show", "--batch", id, "score=good/c1/0").stdout
	for _, want := range []string{"1. prep", "+ $.stage = \"prep\"", "2. score=good", "+ $.value = 1"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	aud := e.mustRun("audit", id).stdout
	for _, want := range []string{"batch.started", "batch.finished", "plugin.started"} {
		if !strings.Contains(aud, want) {
			t.Errorf("audit lacks %s:\n%s", want, aud)
		}
	}
}

func TestFailingNodesAreStoredAndTheBatchGoesOn(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", `
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "step" {
    command = ["sh", "-c", "echo '{}'"]
    timeout = "60s" # a loaded machine takes its time to write 32 MiB
    variant "ok" {}
    variant "exit" { command = ["sh", "-c", "echo 'model quota exceeded' >&2; exit 3"] }
    variant "hang" {
      command = ["sh", "-c", "sleep 100"]
      timeout = "500ms"
    }
    variant "badjson" { command = ["sh", "-c", "echo not json"] }
    variant "huge" { command = ["head", "-c", "33554432", "/dev/zero"] }
  }
}
batch_test "faults" {
  workflow    = workflow.w
  runner      = runner.pool
  max_retries = 0
  case "a" { input = {} }
  case "b" { input = {} }
}
`)
	r := e.mustRun("run", "bench.hcl")
	id := batchID(t, r.stderr)
	rs := e.results(e.store(), id)
	assertExactlyOnce(t, rs, 10)
	want := map[string]string{
		"step=ok":      "",
		"step=exit":    "exited with status 3; stderr: model quota exceeded",
		"step=hang":    "timed out after 500ms",
		"step=badjson": "stdout is not a JSON object",
		"step=huge":    "wrote more than 16 MiB to stdout",
	}
	for _, res := range rs {
		w := want[res.Combination]
		if w == "" {
			if !res.Success {
				t.Errorf("%s failed: %s", res.ExecutionKey, res.Error)
			}
			continue
		}
		if res.Success || !strings.Contains(res.Error, w) || res.FailedNode != "step" {
			t.Errorf("%s: success=%v node=%q error=%q; want %q", res.ExecutionKey, res.Success, res.FailedNode, res.Error, w)
		}
	}
}

// slowBench has 120 executions of a 50 ms node on 4 workers (~1.5 s).
const slowBench = `
runner "pool" {
  plugin      = "pool"
  max_workers = 4
}
workflow "w" {
  node "work" {
    command = ["sh", "-c", "sleep 0.05; echo '{\"done\": true}'"]
    variant "a" {}
    variant "b" { params = { b = true } }
    variant "c" { params = { c = true } }
  }
}
batch_test "slow" {
  workflow    = workflow.w
  runner      = runner.pool
  repeat      = 4
  max_retries = 3
  retry_backoff = "50ms"
  case "c1" { input = {} }
  case "c2" { input = {} }
  case "c3" { input = {} }
  case "c4" { input = {} }
  case "c5" { input = {} }
  case "c6" { input = {} }
  case "c7" { input = {} }
  case "c8" { input = {} }
  case "c9" { input = {} }
  case "c10" { input = {} }
}
`

// startBatch starts `wtb run` in the background and waits until at least n
// results are stored; it returns the process and the batch id.
func startBatch(t *testing.T, e *env, file string, n int) (*os.Process, string, func() string) {
	t.Helper()
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
		bs, err := st.Batches().List(context.Background(), 1)
		if err != nil || len(bs) == 0 {
			return false
		}
		id = bs[0].ID
		c, _ := st.Results().Count(context.Background(), id)
		return c >= n
	})
	wait := func() string { <-waited; return stderr.String() }
	return cmd.Process, id, wait
}

func TestHostKilledMidBatchThenResumeStoresEachExecutionOnce(t *testing.T) {
	e := newEnv(t)
	e.write("slow.hcl", slowBench)
	proc, id, wait := startBatch(t, e, "slow.hcl", 12)
	plugins := childPids(proc.Pid, "wtb-runner-pool")
	if len(plugins) == 0 {
		t.Fatal("no runner plugin process under the host")
	}
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait()
	for _, pid := range plugins {
		waitFor(t, 5*time.Second, func() string { return fmt.Sprintf("plugin %d to exit after its host was killed", pid) }, func() bool { return !alive(pid) })
	}
	st := e.store()
	before, _ := st.Results().Count(context.Background(), id)
	if before >= 120 {
		t.Fatalf("the batch finished before it was killed (%d results); make it slower", before)
	}
	r := e.mustRun("resume", id)
	if !strings.Contains(r.stderr, fmt.Sprintf("%d to run", 120-before)) {
		t.Errorf("resume should run only what is not stored (%d):\n%s", 120-before, r.stderr)
	}
	assertExactlyOnce(t, e.results(st, id), 120)
	b, _ := st.Batches().Get(context.Background(), id)
	if b.Status != store.StatusCompleted {
		t.Errorf("batch status after resume: %s", b.Status)
	}
}

// A host keeps its plugins' sockets and scratch files in a directory of its
// own; one killed outright leaves it, with the socket directory of each
// plugin it ran, and the next host removes it on its way in. A host that
// ends leaves nothing. Before, every killed host left a plugin-dir* in /tmp
// for each plugin.
func TestAKilledHostsScratchIsRemovedByTheNext(t *testing.T) {
	tmp, err := os.MkdirTemp("", "w") // short: sockets go beneath it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	e := newEnv(t)
	e.environ = []string{"TMPDIR=" + tmp}
	e.write("slow.hcl", slowBench)
	proc, id, wait := startBatch(t, e, "slow.hcl", 6)
	scratch := func() []string { m, _ := filepath.Glob(filepath.Join(tmp, "wtb-host-*")); return m }
	own := scratch()
	if len(own) != 1 || !strings.HasPrefix(filepath.Base(own[0]), fmt.Sprintf("wtb-host-%d-", proc.Pid)) {
		t.Fatalf("want the running host's scratch directory in TMPDIR, found %v", own)
	}
	if sockets, _ := filepath.Glob(filepath.Join(own[0], "plugin-dir*", "plugin*")); len(sockets) != 1 {
		t.Errorf("want the runner plugin's socket in the host's scratch directory, found %v", sockets)
	}
	plugins := childPids(proc.Pid, "wtb-runner-pool")
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait()
	for _, pid := range plugins {
		waitFor(t, 5*time.Second, func() string { return fmt.Sprintf("plugin %d to exit after its host was killed", pid) }, func() bool { return !alive(pid) })
	}
	if left := scratch(); len(left) != 1 || left[0] != own[0] {
		t.Fatalf("the killed host's scratch directory: want %v left, found %v", own, left)
	}
	e.mustRun("resume", id)
	entries, _ := os.ReadDir(tmp)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if len(names) != 0 {
		t.Errorf("after the next host ended, TMPDIR still holds %v", names)
	}
}

func TestPluginKilledMidBatchIsRestartedAndNothingIsLost(t *testing.T) {
	e := newEnv(t)
	e.write("slow.hcl", slowBench)
	proc, id, wait := startBatch(t, e, "slow.hcl", 10)
	plugins := childPids(proc.Pid, "wtb-runner-pool")
	if len(plugins) != 1 {
		t.Fatalf("want one runner plugin under the host, found %v", plugins)
	}
	if err := syscall.Kill(plugins[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stderr := wait()
	st := e.store()
	rs := e.results(st, id)
	assertExactlyOnce(t, rs, 120)
	retried := 0
	for _, r := range rs {
		if !r.Success {
			t.Errorf("%s failed: %s", r.ExecutionKey, r.Error)
		}
		if r.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no execution was retried after the plugin was killed\n%s", stderr)
	}
	aud := e.mustRun("audit", id, "--level", "DEBUG").stdout
	for _, want := range []string{"plugin.crashed", "plugin.restarted", "execution.retried"} {
		if !strings.Contains(aud, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}

func TestInterruptStoresWhatFinishedAndResumeCompletes(t *testing.T) {
	e := newEnv(t)
	e.write("slow.hcl", slowBench)
	proc, id, wait := startBatch(t, e, "slow.hcl", 8)
	if err := proc.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	stderr := wait()
	if !strings.Contains(stderr, "interrupted") || !strings.Contains(stderr, "wtb resume "+id) {
		t.Errorf("an interrupted run should say how to resume:\n%s", stderr)
	}
	st := e.store()
	b, _ := st.Batches().Get(context.Background(), id)
	if b.Status != store.StatusCancelled {
		t.Errorf("status after SIGINT: %s", b.Status)
	}
	n, _ := st.Results().Count(context.Background(), id)
	if n == 0 || n >= 120 {
		t.Errorf("after SIGINT %d results stored; want some but not all", n)
	}
	for _, r := range e.results(st, id) {
		if !r.Success {
			t.Errorf("an interrupted execution was stored as failed: %s %s", r.ExecutionKey, r.Error)
		}
	}
	e.mustRun("resume", id)
	assertExactlyOnce(t, e.results(st, id), 120)
}

func TestBrokenBenchFilesExitWithCode2(t *testing.T) {
	e := newEnv(t)
	// The config package's invalid bench files, through the real binary.
	ar, err := txtar.ParseFile("../config/testdata/invalid.txtar")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ar.Files {
		e.write(f.Name, string(f.Data))
	}
	n := 0
	for _, f := range ar.Files {
		if !strings.HasSuffix(f.Name, ".hcl") {
			continue
		}
		n++
		r := e.run("validate", "--no-plugins", f.Name)
		if r.code != 2 || !regexp.MustCompile(`\.(hcl|jsonl):\d+:\d+: error: `).MatchString(r.stderr) ||
			!strings.Contains(r.stderr, " | ") {
			t.Errorf("%s: exit %d, stderr:\n%s", f.Name, r.code, r.stderr)
		}
	}
	if n < 20 {
		t.Fatalf("only %d broken files", n)
	}
	// A plugin block with an unknown attribute and a value the plugin rejects:
	// both are diagnostics pointing into the file.
	e.write("plugin.hcl", `
runner "pool" {
  plugin      = "pool"
  max_workers = 0
  max_wrokers = 3
}
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.pool
  case "c" { input = {} }
}
`)
	r := e.run("validate", "plugin.hcl")
	if r.code != 2 || !strings.Contains(r.stderr, "plugin.hcl:5:3: error: Unsupported argument") || !strings.Contains(r.stderr, "max_workers") {
		t.Errorf("plugin block errors: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run("run", "nope.hcl")
	if r.code != 2 {
		t.Errorf("missing file: exit %d", r.code)
	}
}

func TestInterruptTwiceExitsAndStopsPlugins(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", sleepBench(`
runner "pool" {
  plugin = "pool"
}
`, "pool", "30", 4))
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	out := &syncBuffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var plugins []int
	waitFor(t, 20*time.Second, func() string { return "the batch to start: " + out.String() }, func() bool {
		plugins = childPids(cmd.Process.Pid, "wtb-runner-pool")
		return len(plugins) > 0 && strings.Contains(out.String(), "node runs")
	})
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	// Two Ctrl-Cs in a row: the second usually lands while the first is still
	// stopping the batch gracefully, and ends the host at once.
	_ = cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(15 * time.Millisecond) // identical pending signals coalesce
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 || time.Since(start) > 10*time.Second {
		t.Errorf("exit %d after %s:\n%s", code, time.Since(start), out.String())
	}
	if !strings.Contains(out.String(), "exiting now") {
		t.Logf("the graceful stop finished before the second Ctrl-C was handled:\n%s", out.String())
	}
	for _, pid := range plugins {
		waitFor(t, 5*time.Second, func() string { return fmt.Sprintf("plugin %d to exit", pid) }, func() bool { return !alive(pid) })
	}
}
