package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/testbin"
)

// pyNode is a node program on the Python helper: it behaves by the case's
// input — fine, slow, crash once (SIGKILL itself on the first try, marked by a
// file), or nothing special — and reports its process id, so tests can tell
// requests served by the same process.
const pyNode = `
import os, signal, sys, time
from wtb_node import serve, Retryable

step = sys.argv[1]
if os.environ.get("BROKEN_AT_IMPORT") == "1":
    raise ImportError("no module named heavy_framework")

def run(req):
    q = req["state"].get("q", "")
    print("step", step, "serving", q)
    if q == "slow" and step == "b":
        time.sleep(30)
    if q == "crash" and step == "b":
        marker = os.path.join(os.environ["MARKERS"], "crashed-" + req["execution"]["key"].replace("/", "_"))
        if not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    out = {step: req["state"].get(step, 0) + len(q) + (1 if req["params"].get("plus") else 0)}
    out["pid_" + step] = os.getpid()
    return out

serve(run)
`

// workerBench is three Python nodes, the last with two variants; worker
// decides whether they run as persistent workers.
func workerBench(py, workerLine string, cases []string, extra string) string {
	var cs strings.Builder
	for i, q := range cases {
		fmt.Fprintf(&cs, "  case \"c%02d\" { input = { q = %q } }\n", i, q)
	}
	// Only the "slow" case wants b to time out (at 2 s, so the test is
	// quick); anywhere else a short timeout turns a loaded machine's slow
	// Python start into a failure that is not the test's.
	timeout := "60s"
	if slices.Contains(cases, "slow") {
		timeout = "2s"
	}
	node := func(name, deps, body string) string {
		return fmt.Sprintf("  node %q {\n    command = [\"python3\", %q, %q]\n    %s\n    %s\n%s  }\n", name, py, name, deps, workerLine, body)
	}
	return `
runner "pool" {
  plugin      = "pool"
  max_workers = 4
}
workflow "w" {
` + node("a", "", "") + node("b", `depends_on = ["a"]`, "    timeout = \""+timeout+"\"\n") +
		node("c", `depends_on = ["b"]`, "    variant \"x\" {}\n    variant \"y\" { params = { plus = true } }\n") + `}
batch_test "wk" {
  workflow      = workflow.w
  runner        = runner.pool
  max_retries   = 1
  retry_backoff = "10ms"
` + extra + cs.String() + `
  evaluator "c" {
    type      = "numeric"
    path      = "$.c"
    expect    = 3
    tolerance = 10
  }
}
`
}

func workerEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	return e, workerNode(t, e)
}

// workerNode writes the Python test node into e and returns its path.
func workerNode(t *testing.T, e *env) string {
	t.Helper()
	py := e.write("node.py", pyNode)
	markers := filepath.Join(e.dir, "markers")
	if err := os.MkdirAll(markers, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", filepath.Join(testbin.Root(), "sdk", "python"))
	t.Setenv("MARKERS", markers)
	return py
}

// stateOf is an execution's final state without the process ids.
func statesOf(t *testing.T, e *env, id string) map[string]map[string]any {
	t.Helper()
	st := e.store()
	out := map[string]map[string]any{}
	for _, r := range e.results(st, id) {
		if !r.Success {
			out[r.ExecutionKey] = map[string]any{"failed": r.Error}
			continue
		}
		cp, err := st.Checkpoints().Get(context.Background(), r.FinalCheckpointID)
		if err != nil {
			t.Fatal(err)
		}
		s := map[string]any{}
		for k, v := range decode(cp.State) {
			if !strings.HasPrefix(k, "pid_") {
				s[k] = v
			}
		}
		s["score"] = r.OverallScore
		out[r.ExecutionKey] = s
	}
	return out
}

// Worker mode gives the same states and scores as one-shot, on a three-node
// workflow and on the quickstart, with a handful of processes.
func TestWorkersMatchOneShot(t *testing.T) {
	e, py := workerEnv(t)
	cases := []string{"paris", "london", "x", "berlin", "rome"}
	e.write("oneshot.hcl", workerBench(py, "", cases, "  repeat = 2\n"))
	e.write("worker.hcl", workerBench(py, "worker = true", cases, "  repeat = 2\n"))
	one := batchID(t, e.mustRun("run", "oneshot.hcl", "--no-progress").stderr)
	wk := batchID(t, e.mustRun("run", "worker.hcl", "--no-progress").stderr)
	a, b := statesOf(t, e, one), statesOf(t, e, wk)
	if len(a) != 20 || !reflect.DeepEqual(a, b) {
		t.Errorf("worker mode differs from one-shot:\n%v\n%v", a, b)
	}
	// 40 node runs (with sharing) on four node configurations (a, b, c=x,
	// c=y) reused a few processes: at most 4 (max_workers) per configuration.
	pids := map[float64]bool{}
	for _, r := range e.results(e.store(), wk) {
		cp, _ := e.store().Checkpoints().Get(context.Background(), r.FinalCheckpointID)
		for k, v := range decode(cp.State) {
			if strings.HasPrefix(k, "pid_") {
				pids[v.(float64)] = true
			}
		}
	}
	if len(pids) == 0 || len(pids) > 4*4 {
		t.Errorf("%d worker processes served the batch; want at most 4 per node configuration", len(pids))
	}

	// The quickstart, its qa program on sdk/node, as workers.
	qs := quickstart(e)
	e.write("qs-worker.hcl", strings.NewReplacer(`command    = [local.qa, "retrieve"]`, "command    = [local.qa, \"retrieve\"]\n    worker     = true",
		`command    = [local.qa, "answer"]`, "command    = [local.qa, \"answer\"]\n    worker     = true").Replace(qs))
	q1 := batchID(t, e.mustRun("run", "quickstart.hcl", "--no-progress").stderr)
	q2 := batchID(t, e.mustRun("run", "qs-worker.hcl", "--no-progress").stderr)
	if a, b := statesOf(t, e, q1), statesOf(t, e, q2); len(a) != 64 || !reflect.DeepEqual(a, b) {
		t.Errorf("the quickstart as workers differs from one-shot")
	}
}

// A worker killed during a request fails that request only, which is retried
// once on a new worker; a request that times out kills its worker and the
// next requests are served at once; the request's stderr is its log.
func TestWorkerCrashAndTimeout(t *testing.T) {
	e, py := workerEnv(t)
	cases := []string{"fine", "crash", "fine2", "slow", "fine3", "fine4"}
	e.write("wk.hcl", workerBench(py, "worker = true", cases, ""))
	start := time.Now()
	r := e.run("run", "wk.hcl", "--no-progress")
	elapsed := time.Since(start)
	id := batchID(t, r.stderr)
	for _, res := range e.results(e.store(), id) {
		switch {
		case strings.Contains(res.ExecutionKey, "/c01/"): // crash: its segment was retried (see below)
			if !res.Success {
				t.Errorf("%s failed: %s", res.ExecutionKey, res.Error)
			}
		case strings.Contains(res.ExecutionKey, "/c03/"): // slow
			if res.Success || res.FailureKind != "timeout" || !strings.Contains(res.Error, "worker process was killed") {
				t.Errorf("%s: %v %s %s", res.ExecutionKey, res.Success, res.FailureKind, res.Error)
			}
		default:
			if !res.Success || res.Attempts != 1 {
				t.Errorf("%s: %v after %d attempts: %s", res.ExecutionKey, res.Success, res.Attempts, res.Error)
			}
		}
	}
	// The crash failed one request, retried once on a new worker; nothing else.
	retried := e.mustRunOK("audit", id, "--type", "execution.retried")
	if strings.Count(retried, "execution.retried") != 1 || !strings.Contains(retried, "worker process died during the request") ||
		!strings.Contains(retried, "c01/0") {
		t.Errorf("retries:\n%s", retried)
	}
	// The slow request times out at 2 s, twice (one retry): nothing waited 30 s.
	if elapsed > 20*time.Second {
		t.Errorf("the batch took %s: a stuck worker held requests up", elapsed)
	}
	show := e.mustRunOK("show", "c=x/c00/0", "--batch", id, "--logs")
	if !strings.Contains(show, "stderr | step b serving fine") || strings.Contains(show, "serving fine2") {
		t.Errorf("a request's log is not its own:\n%s", show)
	}
}

// A worker that cannot start fails its requests within a second or two with
// its stderr, not after a long wait.
func TestWorkerThatCannotStart(t *testing.T) {
	e, py := workerEnv(t)
	t.Setenv("BROKEN_AT_IMPORT", "1")
	e.write("wk.hcl", workerBench(py, "worker = true", []string{"a", "b", "c", "d"}, ""))
	start := time.Now()
	r := e.run("run", "wk.hcl", "--no-progress")
	elapsed := time.Since(start)
	id := batchID(t, r.stderr)
	for _, res := range e.results(e.store(), id) {
		if res.Success || res.FailureKind != "start" || !strings.Contains(res.Error, "exited before answering its first request") ||
			!strings.Contains(res.Error, "no module named heavy_framework") {
			t.Errorf("%s: %s %s", res.ExecutionKey, res.FailureKind, res.Error)
		}
	}
	if elapsed > 10*time.Second {
		t.Errorf("failing 8 executions on a broken worker took %s", elapsed)
	}
}

// 1,000 requests through at most 4 workers per node, recycled every 50, leak
// no processes and no file descriptors; none outlives the run.
func TestWorkersLeakNothing(t *testing.T) {
	e, py := workerEnv(t)
	cases := make([]string, 25)
	for i := range cases {
		cases[i] = fmt.Sprintf("q%d", i)
	}
	src := workerBench(py, "worker {\n      max          = 4\n      max_requests = 50\n    }", cases, "  repeat = 20\n")
	e.write("wk.hcl", src)
	proc, id, wait := startBatch(t, e, "wk.hcl", 50)
	plugin := 0
	var fds []int
	waitFor(t, 60*time.Second, func() string { return "the batch did not finish" }, func() bool {
		if plugin == 0 {
			if ps := childPids(proc.Pid, "wtb-runner-pool"); len(ps) > 0 {
				plugin = ps[0]
			}
		}
		if plugin != 0 {
			// Each live worker holds three pipes; what is left over must not
			// grow as workers come and go (max_requests = 50 recycles them).
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", plugin)); err == nil {
				fds = append(fds, len(ents)-3*len(pythons(py)))
			}
			for _, node := range []string{" a", " b", " c"} {
				if n := len(pythons(py + node)); n > 4*2 { // c has two variants
					t.Errorf("%d worker processes for node%s, want at most 4 per configuration", n, node)
				}
			}
		}
		return !alive(proc.Pid)
	})
	wait()
	assertExactlyOnce(t, e.results(e.store(), id), 1000)
	if len(fds) > 5 {
		// A sample can catch a worker retiring or starting (its pipes open
		// while it is not, or no longer, listed); a leak raises the floor.
		n := len(fds)
		first, last := slices.Min(fds[n/5:2*n/5+1]), slices.Min(fds[3*n/5:])
		if last > first+8 {
			t.Errorf("the runner's file descriptors beyond its workers' pipes grew from %d to %d over the batch", first, last)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if left := matching(py); len(left) > 0 {
		t.Errorf("worker processes outlived the run: %v", left)
	}
}

// Killing the host with SIGKILL leaves no worker behind.
func TestNoWorkerSurvivesTheHost(t *testing.T) {
	e, py := workerEnv(t)
	cases := make([]string, 20)
	for i := range cases {
		cases[i] = "slow"
	}
	e.write("wk.hcl", workerBench(py, "worker = true", cases, ""))
	proc, _, wait := startBatch(t, e, "wk.hcl", 0)
	waitFor(t, 30*time.Second, func() string { return "no worker started" }, func() bool { return len(matching(py+" b")) > 0 })
	_ = proc.Signal(syscall.SIGKILL)
	wait()
	waitFor(t, 5*time.Second, func() string { return fmt.Sprintf("workers outlived the host: %v", matching(py)) }, func() bool {
		return len(matching(py)) == 0
	})
}

// pythons lists the Python processes whose command line contains s (not the
// shell shims some machines put in front of python3 while they start it).
func pythons(s string) []int {
	var out []int
	for _, pid := range matching(s) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && strings.Contains(filepath.Base(exe), "python") {
			out = append(out, pid)
		}
	}
	return out
}

// matching lists the processes whose command line contains s.
func matching(s string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		var pid int
		if _, err := fmt.Sscanf(ent.Name(), "%d", &pid); err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(raw), "\x00", " "), s) {
			out = append(out, pid)
		}
	}
	return out
}

func decode(raw []byte) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(raw, &m)
	return m
}

// Workers run the same through the gRPC runner and its reference server
// (the executor is shared): the same states as one-shot on the pool.
func TestWorkersThroughTheGRPCRunner(t *testing.T) {
	e, py := workerEnv(t)
	testbin.Build(t, testbin.RunnerGRPC)
	t.Setenv("WTB_TEST_REMOTE_TOKEN", remoteToken)
	r := startRemote(t)
	runner := fmt.Sprintf("runner \"pool\" {\n  plugin    = \"grpc\"\n  address   = %q\n  token_env = \"WTB_TEST_REMOTE_TOKEN\"\n}", r.addr)
	workersMatchElsewhere(t, e, py, runner)
}

func TestWorkersThroughTemporal(t *testing.T) {
	te := newTemporalEnv(t)
	py := workerNode(t, te.env)
	te.worker("worker-1") // after workerNode: the worker inherits PYTHONPATH
	runner := fmt.Sprintf("runner \"pool\" {\n  plugin     = \"temporal\"\n  address    = %q\n  task_queue = %q\n}", te.address, te.queue)
	workersMatchElsewhere(t, te.env, py, runner)
}

// workersMatchElsewhere runs the three-node bench one-shot on the pool runner
// and as workers on the given runner block, and checks that the states match
// and that each node configuration's process served more than one request.
func workersMatchElsewhere(t *testing.T, e *env, py, runner string) {
	t.Helper()
	cases := []string{"paris", "rome", "x"}
	e.write("oneshot.hcl", workerBench(py, "", cases, ""))
	// One process per configuration, so that reuse is certain rather than a matter of timing.
	remote := strings.Replace(workerBench(py, "worker {\n      max = 1\n    }", cases, ""), `runner "pool" {
  plugin      = "pool"
  max_workers = 4
}`, runner, 1)
	e.write("remote.hcl", remote)
	one := batchID(t, e.mustRun("run", "oneshot.hcl", "--no-progress").stderr)
	wk := batchID(t, e.mustRun("run", "remote.hcl", "--no-progress").stderr)
	if a, b := statesOf(t, e, one), statesOf(t, e, wk); len(a) != 6 || !reflect.DeepEqual(a, b) {
		t.Errorf("workers elsewhere differ from one-shot:\n%v\n%v", a, b)
	}
	// Three requests per node configuration on one process each: ids repeat.
	pids := map[float64]int{}
	for _, res := range e.results(e.store(), wk) {
		cp, _ := e.store().Checkpoints().Get(context.Background(), res.FinalCheckpointID)
		pids[decode(cp.State)["pid_c"].(float64)]++
	}
	reused := false
	for _, n := range pids {
		reused = reused || n > 1
	}
	if !reused {
		t.Errorf("no worker process of node c served two requests: %v", pids)
	}
}

// The python-worker example runs as shipped, as workers and one-shot, with the
// same states and scores.
func TestPythonWorkerExample(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(testbin.Root(), "examples", "python-worker")
	for _, f := range []string{"triage.py", "cases.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		e.write(f, string(b))
	}
	src, err := os.ReadFile(filepath.Join(dir, "bench.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	e.write("bench.hcl", strings.NewReplacer(
		`plugin_dir = "../../bin/plugins"`, fmt.Sprintf("plugin_dir = %q", testbin.PluginDir(t)),
		`"${path.root}/../../sdk/python"`, fmt.Sprintf("%q", filepath.Join(testbin.Root(), "sdk", "python")),
		`IMPORT_SECONDS = "0.5"`, `IMPORT_SECONDS = "0.05"`).Replace(string(src)))
	wr := e.mustRun("run", "bench.hcl", "--no-progress")
	one := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress", "--var", "worker=false").stderr)
	if a, b := statesOf(t, e, batchID(t, wr.stderr)), statesOf(t, e, one); len(a) != 52 || !reflect.DeepEqual(a, b) {
		t.Errorf("the example as workers differs from one-shot")
	}
	if !regexp.MustCompile(`(?m)^1\s+classify=weighted\s+0\.923`).MatchString(wr.stdout) {
		t.Errorf("leaderboard:\n%s", wr.stdout)
	}
}
