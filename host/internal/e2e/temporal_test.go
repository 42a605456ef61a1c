package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	osexec "os/exec"

	"github.com/wtbench/wtb/host/internal/testbin"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// temporalEnv is a workspace with a task queue of its own on the test
// Temporal server (scripts/services.sh starts it).
type temporalEnv struct {
	*env
	address, queue string
}

func newTemporalEnv(t *testing.T) *temporalEnv {
	t.Helper()
	addr := os.Getenv("WTB_TEST_TEMPORAL_ADDRESS")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("WTB_TEST_TEMPORAL_ADDRESS is not set: CI must run the Temporal tests (scripts/services.sh starts the dev server)")
		}
		t.Skip("WTB_TEST_TEMPORAL_ADDRESS is not set; run `make test` to include the Temporal tests")
	}
	testbin.Build(t, testbin.Temporal)
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &temporalEnv{env: newEnv(t), address: addr, queue: "wtb-test-" + hex.EncodeToString(b[:])}
}

// worker starts a worker process on the env's task queue; kill stops it hard.
func (e *temporalEnv) worker(id string) (pid int, kill func()) {
	e.t.Helper()
	cmd := osexec.Command(testbin.Build(e.t, testbin.Temporal), "worker", "--address", e.address, "--task-queue", e.queue,
		"--worker-id", id, "--max-concurrent", "8")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "polling task queue") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		e.t.Fatalf("worker %s did not start", id)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	kill = func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	e.t.Cleanup(func() {
		// With coverage on, a worker still running when its test ends stops
		// as an operator stops one (SIGTERM), so it writes its coverage: a
		// SIGKILL would lose everything the test ran on it.
		if testbin.CoverDir() != "" {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
				return
			case <-time.After(15 * time.Second):
			}
		}
		kill()
	})
	return cmd.Process.Pid, kill
}

func (e *temporalEnv) runnerBlock(extra string) string {
	return fmt.Sprintf(`
runner "cluster" {
  plugin            = "temporal"
  address           = %q
  task_queue        = %q
  heartbeat_timeout = "2s"
  retry_initial_interval = "200ms"
  %s
}
runner "local" {
  plugin = "pool"
}
`, e.address, e.queue, extra)
}

func sleepBench(runners, runner string, seconds string, cases int) string {
	var cs strings.Builder
	for i := 0; i < cases; i++ {
		fmt.Fprintf(&cs, "  case \"c%d\" { input = { q = %d } }\n", i, i)
	}
	return runners + fmt.Sprintf(`
workflow "w" {
  node "work" {
    command = ["sh", "-c", "cat >/dev/null; sleep %s; echo '{\"done\": true}'"]
    variant "a" {}
    variant "b" { params = { b = 1 } }
  }
}
batch_test "t" {
  workflow    = workflow.w
  runner      = runner.%s
  max_pending = 16
  max_retries = 2
  retry_backoff = "100ms"
%s}
`, seconds, runner, cs.String())
}

func TestTemporalBatchOnTwoWorkers(t *testing.T) {
	e := newTemporalEnv(t)
	e.worker("worker-1")
	e.worker("worker-2")
	e.write("bench.hcl", sleepBench(e.runnerBlock(""), "cluster", "0.1", 20))
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	rs := e.results(e.store(), batchID(t, r.stderr))
	assertExactlyOnce(t, rs, 40)
	workers := map[string]int{}
	for _, res := range rs {
		if !res.Success {
			t.Errorf("%s: %s", res.ExecutionKey, res.Error)
		}
		workers[res.WorkerID]++
	}
	if len(workers) != 2 || workers["worker-1"] == 0 || workers["worker-2"] == 0 {
		t.Errorf("executions should spread over both workers: %v", workers)
	}
}

func TestTemporalWorkerKilledMidBatch(t *testing.T) {
	e := newTemporalEnv(t)
	_, kill1 := e.worker("doomed")
	e.worker("survivor")
	e.write("bench.hcl", sleepBench(e.runnerBlock(""), "cluster", "0.4", 20))
	_, id, wait := startBatch(t, e.env, "bench.hcl", 4)
	kill1()
	stderr := wait()
	rs := e.results(e.store(), id)
	assertExactlyOnce(t, rs, 40)
	for _, res := range rs {
		if !res.Success {
			t.Errorf("%s: %s\n%s", res.ExecutionKey, res.Error, stderr)
		}
	}
}

func TestTemporalUnreachable(t *testing.T) {
	e := newEnv(t)
	testbin.Build(t, testbin.Temporal)
	e.write("bench.hcl", sleepBench(`
runner "cluster" {
  plugin  = "temporal"
  address = "127.0.0.1:1"
}
`, "cluster", "0", 1))
	start := time.Now()
	r := e.run("run", "bench.hcl", "--no-progress")
	if r.code != 3 || !strings.Contains(r.stderr, "cannot reach Temporal at 127.0.0.1:1") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if time.Since(start) > 40*time.Second {
		t.Errorf("took %s to give up", time.Since(start))
	}
}

func TestTemporalCancelLeavesNothingRunning(t *testing.T) {
	e := newTemporalEnv(t)
	e.worker("w")
	e.write("bench.hcl", sleepBench(e.runnerBlock(""), "cluster", "30", 4))
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	out := &syncBuffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: e.address})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	running := func() int {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Running'", e.queue)})
		if err != nil {
			return -1
		}
		return len(resp.GetExecutions())
	}
	waitFor(t, 30*time.Second, func() string { return "workflows to run: " + out.String() }, func() bool { return running() > 0 })
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("interrupted run exited %d:\n%s", code, out.String())
	}
	waitFor(t, 20*time.Second, func() string { return fmt.Sprintf("%d workflows still running", running()) }, func() bool { return running() == 0 })
}

func TestTemporalParityWithThePool(t *testing.T) {
	e := newTemporalEnv(t)
	e.worker("w1")
	e.worker("w2")
	// The quickstart, pointed at both runners.
	bench := quickstart(e.env)
	bench = strings.Replace(bench, `runner "local" {`, e.runnerBlock("")+"\nrunner \"unused\" {", 1)
	bench = strings.Replace(bench, `max_ms = 2000`, `max_ms = 600000`, 1)
	e.write("quickstart.hcl", bench)
	r := e.run("parity", "quickstart.hcl", "--runners", "local,cluster", "--no-progress")
	if r.code != 0 || !strings.Contains(r.stdout, "no differences") {
		t.Errorf("quickstart parity: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	hashnode := testbin.Build(t, "hashnode", "./host/internal/testplugins/hashnode")
	three := workflowCase{"three", []wfNode{{"a", nil, 2}, {"b", []string{"a"}, 0}, {"c", []string{"b"}, 3}}}.hcl(hashnode, 3, 2)
	three = strings.Replace(three, `runner "pool" {`, e.runnerBlock("")+"\nrunner \"pool\" {", 1)
	e.write("three.hcl", three)
	r = e.run("parity", "three.hcl", "--runners", "pool,cluster", "--no-progress")
	if r.code != 0 || !strings.Contains(r.stdout, "no differences") {
		t.Errorf("3-node parity: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestTemporalLargeStates(t *testing.T) {
	e := newTemporalEnv(t)
	e.worker("w")
	e.write("big.sh", "#!/bin/sh\ncat >/dev/null\nprintf '{\"blob\": \"'\nhead -c $1 /dev/zero | tr '\\000' x\nprintf '\"}'\n")
	e.write("random.sh", "#!/bin/sh\ncat >/dev/null\nprintf '{\"blob\": \"'\nhead -c $1 /dev/urandom | base64 -w0\nprintf '\"}'\n")
	e.write("bench.hcl", e.runnerBlock("")+`
workflow "w" {
  node "big" {
    command = ["sh", "big.sh", "6000000"]
    variant "compressible" {}
    variant "random" { command = ["sh", "random.sh", "3000000"] }
  }
  node "after" {
    depends_on = ["big"]
    kind       = "merge"
    params     = { after = true }
  }
}
batch_test "big" {
  workflow    = workflow.w
  runner      = runner.cluster
  max_retries = 0
  case "c" { input = {} }
}
`)
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	for _, res := range e.results(e.store(), batchID(t, r.stderr)) {
		switch res.Combination {
		case "big=compressible":
			if !res.Success {
				t.Errorf("a 6 MB compressible state should pass through Temporal: %s", res.Error)
			}
		case "big=random":
			if res.Success || res.FailedNode != "big" || !strings.Contains(res.Error, `node "big" produced a state of`) ||
				!strings.Contains(res.Error, "payload limit") {
				t.Errorf("an incompressible 4 MB state: success=%v node=%q error=%q", res.Success, res.FailedNode, res.Error)
			}
		}
	}
}

// When the host dies, the Temporal runner leaves its workflows running, and
// `wtb resume` joins them: no node that had started runs twice.
func TestTemporalResumeJoinsOrphanedWorkflows(t *testing.T) {
	e := newTemporalEnv(t)
	e.worker("w")
	bench := strings.Replace(sleepBench(e.runnerBlock(""), "cluster", "1.5", 8),
		`"cat >/dev/null; sleep 1.5;`, `"cat >/dev/null; echo run >> runs.log; sleep 1.5;`, 1)
	e.write("bench.hcl", bench)
	proc, id, wait := startBatch(t, e.env, "bench.hcl", 1)
	_ = proc.Signal(syscall.SIGKILL)
	wait()
	c, err := client.Dial(client.Options{HostPort: e.address})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	count := func(status string) int {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = '%s'", e.queue, status)})
		if err != nil {
			return -1
		}
		return len(resp.GetExecutions())
	}
	if n := count("Running"); n == 0 {
		t.Fatalf("no workflow runs on after the host was killed (cancelled: %d)", count("Canceled"))
	}
	e.mustRun("resume", id, "--no-progress")
	assertExactlyOnce(t, e.results(e.store(), id), 16)
	runs, _ := os.ReadFile(filepath.Join(e.dir, "runs.log"))
	if n := strings.Count(string(runs), "run\n"); n != 16 {
		t.Errorf("%d node runs for 16 executions: a node ran twice after the resume", n)
	}
	if n := count("Canceled"); n != 0 {
		t.Errorf("%d workflows were cancelled", n)
	}
}
