package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/testbin"
)

// rayEnv is a workspace whose bench files can use the test Ray head node
// (scripts/services.sh starts it on loopback).
type rayEnv struct {
	*env
	address, python string
}

func newRayEnv(t *testing.T) *rayEnv {
	t.Helper()
	addr, python := os.Getenv("WTB_TEST_RAY_ADDRESS"), os.Getenv("WTB_TEST_RAY_PYTHON")
	if addr == "" || python == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("WTB_TEST_RAY_ADDRESS/WTB_TEST_RAY_PYTHON are not set: CI must run the Ray tests (scripts/services.sh starts a head node)")
		}
		t.Skip("WTB_TEST_RAY_ADDRESS is not set; run `make test` to include the Ray tests")
	}
	testbin.Build(t, testbin.RunnerRay)
	testbin.Build(t, testbin.EnvRay)
	return &rayEnv{env: newEnv(t), address: addr, python: python}
}

// runnerBlock is a Ray runner block named "ray" on the test cluster, with the
// testing preset (two actors of half a CPU, one restart each).
func (e *rayEnv) runnerBlock(extra string) string {
	return fmt.Sprintf(`
runner "ray" {
  plugin      = "ray"
  preset      = "testing"
  ray_address = %q
  python      = %q
  %s
}
runner "pool" {
  plugin = "pool"
}
`, e.address, e.python, extra)
}

func TestRayParityWithThePool(t *testing.T) {
	e := newRayEnv(t)
	bench := quickstart(e.env)
	bench = strings.Replace(bench, `runner "local" {`, e.runnerBlock("")+"\nrunner \"local\" {", 1)
	bench = strings.Replace(bench, `max_ms = 2000`, `max_ms = 600000`, 1)
	e.write("quickstart.hcl", bench)
	r := e.run("parity", "quickstart.hcl", "--runners", "local,ray", "--no-progress")
	if r.code != 0 || !strings.Contains(r.stdout, "no differences") {
		t.Errorf("quickstart parity: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ids := regexp.MustCompile(`batches (\d{8}-\d{6}-[0-9a-f]{8}) and (\d{8}-\d{6}-[0-9a-f]{8})`).FindStringSubmatch(r.stdout)
	if ids == nil {
		t.Fatalf("parity names two batches:\n%s", r.stdout)
	}
	rs := e.results(e.store(), ids[2])
	assertExactlyOnce(t, rs, 64)
	for _, res := range rs {
		if !strings.HasPrefix(res.WorkerID, "ray:127.0.0.1/") {
			t.Errorf("%s ran on worker %q, not a Ray actor", res.ExecutionKey, res.WorkerID)
			break
		}
	}

	hashnode := testbin.Build(t, "hashnode", "./host/internal/testplugins/hashnode")
	three := workflowCase{"three", []wfNode{{"a", nil, 2}, {"b", []string{"a"}, 0}, {"c", []string{"b"}, 3}}}.hcl(hashnode, 3, 2)
	three = strings.Replace(three, `runner "pool" {`, e.runnerBlock("")+"\nrunner \"unused\" {", 1)
	e.write("three.hcl", three)
	r = e.run("parity", "three.hcl", "--runners", "pool,ray", "--no-progress")
	if r.code != 0 || !strings.Contains(r.stdout, "no differences") {
		t.Errorf("3-node parity: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// rayPids finds the pid in a Ray worker id ("ray:IP/PID").
func rayPid(t *testing.T, workerID string) int {
	t.Helper()
	i := strings.LastIndexByte(workerID, '/')
	pid, err := strconv.Atoi(workerID[i+1:])
	if !strings.HasPrefix(workerID, "ray:") || err != nil {
		t.Fatalf("worker id %q is not a Ray actor's", workerID)
	}
	return pid
}

// A Ray worker process (an execution actor) killed mid-batch: Ray restarts
// the actor, the execution it was running comes back retryable and is run
// again; every execution is stored exactly once and the retry is audited.
func TestRayActorKilledMidBatch(t *testing.T) {
	e := newRayEnv(t)
	e.write("bench.hcl", sleepBench(e.runnerBlock(""), "ray", "0.4", 20))
	_, id, wait := startBatch(t, e.env, "bench.hcl", 4)
	var victim int
	for _, res := range e.results(e.store(), id) {
		victim = rayPid(t, res.WorkerID)
		break
	}
	if !alive(victim) {
		t.Fatalf("actor process %d is not running", victim)
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stderr := wait()
	rs := e.results(e.store(), id)
	assertExactlyOnce(t, rs, 40)
	retried, workers := 0, map[string]bool{}
	for _, res := range rs {
		if !res.Success {
			t.Errorf("%s: %s\n%s", res.ExecutionKey, res.Error, stderr)
		}
		if res.Attempts > 1 {
			retried++
		}
		workers[res.WorkerID] = true
	}
	if retried == 0 {
		t.Errorf("no execution was retried after actor process %d was killed\n%s", victim, stderr)
	}
	if workers[fmt.Sprintf("ray:127.0.0.1/%d", victim)] && len(workers) < 3 {
		t.Errorf("the restarted actor should have a new process: workers %v", workers)
	}
	if aud := e.mustRun("audit", id, "--level", "DEBUG").stdout; !strings.Contains(aud, "execution.retried") {
		t.Errorf("audit lacks execution.retried:\n%s", aud)
	}
}

// The Python driver killed mid-batch: the plugin starts a new one, which
// connects again; what was in flight is retried, nothing is lost or doubled.
func TestRayDriverKilledMidBatch(t *testing.T) {
	e := newRayEnv(t)
	e.write("bench.hcl", sleepBench(e.runnerBlock(""), "ray", "0.3", 16))
	proc, id, wait := startBatch(t, e.env, "bench.hcl", 4)
	plugins := childPids(proc.Pid, testbin.RunnerRay)
	if len(plugins) != 1 {
		t.Fatalf("want one Ray runner plugin under the host, got %v", plugins)
	}
	drivers := childPids(plugins[0], "wtb_ray.driver")
	if len(drivers) != 1 {
		t.Fatalf("want one driver under the plugin, got %v", drivers)
	}
	if err := syscall.Kill(drivers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stderr := wait()
	rs := e.results(e.store(), id)
	assertExactlyOnce(t, rs, 32)
	retried := 0
	for _, res := range rs {
		if !res.Success {
			t.Errorf("%s: %s\n%s", res.ExecutionKey, res.Error, stderr)
		}
		if res.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("nothing was in flight when the driver was killed?\n%s", stderr)
	}
	if after := childPids(plugins[0], "wtb_ray.driver"); alive(plugins[0]) && len(after) > 0 {
		t.Errorf("a driver outlived the batch: %v", after)
	}
}

func TestRayUnreachableCluster(t *testing.T) {
	e := newRayEnv(t)
	e.address = "127.0.0.1:1"
	e.write("bench.hcl", sleepBench(e.runnerBlock(""), "ray", "0", 1))
	start := time.Now()
	r := e.run("run", "bench.hcl", "--no-progress")
	if r.code != 3 || !strings.Contains(r.stderr, "cannot reach the Ray cluster at 127.0.0.1:1: Connection refused") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if lines := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; lines > 2 {
		t.Errorf("want one clear line, got %d:\n%s", lines, r.stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s to give up", took)
	}
	// Reachable, but the actors cannot start or could never be placed: the
	// same, at connect, instead of executions waiting forever.
	e.address = os.Getenv("WTB_TEST_RAY_ADDRESS")
	for _, c := range []struct{ extra, want string }{
		{`executor = "/nonexistent/wtb-runner-ray"`, "wtb's node executor is not at /nonexistent/wtb-runner-ray on this Ray node"},
		{`num_cpus_per_task = 64`, "num_cpus_per_task = 64, but no node of the Ray cluster has more than"},
	} {
		e.write("bench.hcl", sleepBench(e.runnerBlock(c.extra), "ray", "0", 1))
		if r := e.run("run", "bench.hcl", "--no-progress"); r.code != 3 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr:\n%s", c.extra, r.code, r.stderr)
		}
	}
	// Python without ray: the same, naming the fix.
	e.python = "/usr/bin/false"
	if _, err := os.Stat(e.python); err == nil {
		e.write("bench.hcl", sleepBench(e.runnerBlock(`executor = "ship"`), "ray", "0", 1))
		if r := e.run("run", "bench.hcl", "--no-progress"); r.code != 3 || !strings.Contains(r.stderr, "Ray driver") {
			t.Errorf("a python that cannot run the driver: exit %d, stderr:\n%s", r.code, r.stderr)
		}
	}
}

// A variant's runtime_env (environment "ray") reaches the node: env_vars in
// its environment, working_dir as the directory it runs in, uploaded by Ray.
func TestRayEnvironmentReachesTheNode(t *testing.T) {
	e := newRayEnv(t)
	e.write("task/data.txt", "from the working_dir")
	e.write("node.sh", `#!/bin/sh
cat >/dev/null
printf '{"greeting":"%s","base":"%s","data":"%s","pkg":"%s"}' "$GREETING" "$BASE_ONLY" "$(cat data.txt 2>/dev/null)" "$(basename "$PWD" | cut -c1-9)"
`)
	e.write("bench.hcl", e.runnerBlock("")+fmt.Sprintf(`
environment "ray" {
  plugin   = "ray"
  env_vars = { GREETING = "base", BASE_ONLY = "yes" }
}
workflow "w" {
  node "n" {
    command = [%q]
    variant "plain" {}
    variant "dir" {
      environment = { working_dir = "task", env_vars = { GREETING = "variant" } }
    }
    variant "shorthand" {
      environment = { GREETING = "shorthand" }
    }
  }
}
batch_test "b" {
  workflow    = workflow.w
  runner      = runner.ray
  environment = environment.ray
  max_retries = 0
  case "c" { input = {} }
}
`, e.dir+"/node.sh"))
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	want := map[string][]string{
		"n=plain":     {`"base": "yes"`, `"data": ""`, `"greeting": "base"`},
		"n=dir":       {`"base": "yes"`, `"data": "from the working_dir"`, `"greeting": "variant"`, `"pkg": "_ray_pkg_"`},
		"n=shorthand": {`"base": "yes"`, `"data": ""`, `"greeting": "shorthand"`},
	}
	rs := e.results(e.store(), id)
	assertExactlyOnce(t, rs, 3)
	for _, res := range rs {
		if !res.Success {
			t.Errorf("%s: %s", res.ExecutionKey, res.Error)
			continue
		}
		state := e.mustRun("show", "--batch", id, res.ExecutionKey, "--state").stdout
		for _, w := range want[res.Combination] {
			if !strings.Contains(state, w) {
				t.Errorf("%s: final state lacks %s:\n%s", res.Combination, w, state)
			}
		}
	}
	// A runtime_env Ray would refuse is refused before anything runs.
	e.write("bad.hcl", strings.Replace(string(must(os.ReadFile(e.dir+"/bench.hcl"))), `env_vars = { GREETING = "base", BASE_ONLY = "yes" }`, `pips = ["x"]`, 1))
	if r := e.run("validate", "bad.hcl"); r.code != 2 || !strings.Contains(r.stderr, "pips") {
		t.Errorf("validate with an unknown runtime_env field: exit %d\n%s", r.code, r.stderr)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// SIGINT of the host: the batch stops, and no driver, actor or node process
// is left behind.
func TestRayInterruptLeavesNothingBehind(t *testing.T) {
	e := newRayEnv(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	marker := "wtb-ray-sigint-" + hex.EncodeToString(b[:])
	e.write("bench.hcl", e.runnerBlock("")+fmt.Sprintf(`
workflow "w" {
  node "n" {
    command = ["sh", "-c", "cat >/dev/null; sleep 60", %q]
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.ray
  case "c1" { input = {} }
  case "c2" { input = {} }
  case "c3" { input = {} }
}
`, marker))
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	out := &syncBuffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The node processes (sleep, with the marker), their node servers and
	// the actor processes above those.
	var nodes []int
	waitFor(t, 60*time.Second, func() string { return "nodes to start: " + out.String() }, func() bool {
		nodes = pidsWith(marker)
		return len(nodes) >= 2
	})
	watched := append([]int{}, nodes...)
	for _, n := range nodes {
		server := parentOf(n)
		watched = append(watched, server, parentOf(server))
	}
	plugin := childPids(cmd.Process.Pid, testbin.RunnerRay)
	if len(plugin) == 1 {
		watched = append(watched, childPids(plugin[0], "wtb_ray.driver")...)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("interrupted run exited %d:\n%s", code, out.String())
	}
	waitFor(t, 30*time.Second, func() string {
		var left []string
		for _, p := range watched {
			if alive(p) {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
				left = append(left, fmt.Sprintf("%d %s", p, strings.ReplaceAll(string(cmdline), "\x00", " ")))
			}
		}
		return "processes left behind: " + strings.Join(left, "; ")
	}, func() bool {
		for _, p := range watched {
			if p > 1 && alive(p) {
				return false
			}
		}
		return true
	})
}

// The other ways to name a cluster: Ray Client (ray://, the driver runs on
// the head; only URIs in a variant's runtime_env) and "local" (a private Ray
// started for the batch and stopped after it).
func TestRayClientAndLocalAddresses(t *testing.T) {
	e := newRayEnv(t)
	client := os.Getenv("WTB_TEST_RAY_CLIENT_ADDRESS")
	gcsBefore := pidsWith("gcs_server")
	e.write("task/data.txt", "x")
	for _, addr := range []string{client, "local"} {
		if addr == "" {
			t.Error("WTB_TEST_RAY_CLIENT_ADDRESS is not set (scripts/services.sh)")
			continue
		}
		e.address = addr
		// Starting a private Ray (or a Ray Client driver on the head) takes
		// well over the default 30 s on a loaded 2-core machine.
		e.write("bench.hcl", e.runnerBlock(`start_timeout = "150s"`)+`
environment "ray" {
  plugin = "ray"
}
workflow "w" {
  node "n" {
    command = ["sh", "-c", "cat >/dev/null; echo '{\"ok\": true}'"]
    variant "plain" {}
    variant "dir" { environment = { working_dir = "task" } }
  }
}
batch_test "b" {
  workflow    = workflow.w
  runner      = runner.ray
  environment = environment.ray
  max_retries = 0
  case "c" { input = {} }
}
`)
		r := e.run("run", "bench.hcl", "--no-progress")
		for _, res := range e.results(e.store(), batchID(t, r.stderr)) {
			switch {
			case res.Combination == "n=plain" && (!res.Success || !strings.HasPrefix(res.WorkerID, "ray:")):
				t.Errorf("%s: plain variant: success=%v worker=%q error=%s", addr, res.Success, res.WorkerID, res.Error)
			case res.Combination == "n=dir" && addr == "local" && !res.Success:
				t.Errorf("local: working_dir variant: %s", res.Error)
			case res.Combination == "n=dir" && addr != "local" && (res.Success || !strings.Contains(res.Error, "through Ray Client (ray://) a runtime_env can only name URIs")):
				t.Errorf("%s: a local working_dir through Ray Client: success=%v error=%q", addr, res.Success, res.Error)
			}
		}
	}
	// No GCS server but those running before (the test head's, a developer's).
	waitFor(t, 15*time.Second, func() string {
		return fmt.Sprintf("the private Ray of the \"local\" run to stop: GCS servers %v, before %v", pidsWith("gcs_server"), gcsBefore)
	}, func() bool {
		for _, p := range pidsWith("gcs_server") {
			if !slices.Contains(gcsBefore, p) {
				return false
			}
		}
		return true
	})
}

// The host killed with SIGKILL mid-batch: the plugin, its driver, the actors
// and their nodes all go; `wtb resume` runs what was not stored, once.
func TestRayHostKilledThenResume(t *testing.T) {
	e := newRayEnv(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	marker := "wtb-ray-hostkill-" + hex.EncodeToString(b[:])
	bench := sleepBench(e.runnerBlock(""), "ray", "0.3", 16)
	bench = strings.Replace(bench, `"cat >/dev/null; sleep 0.3; echo '{\"done\": true}'"]`,
		fmt.Sprintf(`"cat >/dev/null; sleep 0.3; echo '{\"done\": true}'", %q]`, marker), 1)
	if !strings.Contains(bench, marker) {
		t.Fatal("marker not in the bench file")
	}
	e.write("bench.hcl", bench)
	proc, id, wait := startBatch(t, e.env, "bench.hcl", 4)
	plugins := childPids(proc.Pid, testbin.RunnerRay)
	if len(plugins) != 1 {
		t.Fatalf("want one Ray runner plugin under the host, got %v", plugins)
	}
	drivers := childPids(plugins[0], "wtb_ray.driver")
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait()
	for _, pid := range append(plugins, drivers...) {
		waitFor(t, 10*time.Second, func() string { return fmt.Sprintf("process %d to exit after its host was killed", pid) },
			func() bool { return !alive(pid) })
	}
	waitFor(t, 20*time.Second, func() string { return fmt.Sprintf("nodes still running: %v", pidsWith(marker)) },
		func() bool { return len(pidsWith(marker)) == 0 })
	st := e.store()
	before, _ := st.Results().Count(context.Background(), id)
	if before >= 32 {
		t.Fatalf("the batch finished before it was killed (%d results)", before)
	}
	r := e.mustRun("resume", id, "--no-progress")
	if !strings.Contains(r.stderr, fmt.Sprintf("%d to run", 32-before)) {
		t.Errorf("resume should run only what is not stored (%d):\n%s", 32-before, r.stderr)
	}
	rs := e.results(st, id)
	assertExactlyOnce(t, rs, 32)
	for _, res := range rs {
		if !res.Success {
			t.Errorf("%s: %s", res.ExecutionKey, res.Error)
		}
	}
}

// examples/ray runs as written (its paths pointed at the built binaries) and
// meets its threshold.
func TestRayExample(t *testing.T) {
	e := newRayEnv(t)
	quickstart(e.env) // cases.jsonl and the qa program
	src, err := os.ReadFile(filepath.Join(testbin.Root(), "examples/ray/bench.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	bench := strings.Replace(string(src), `qa = "../../bin/examples/qa"`, fmt.Sprintf("qa = %q", testbin.Build(t, testbin.QA)), 1)
	bench = strings.Replace(bench, `plugin_dir = "../../bin/plugins"`, fmt.Sprintf("plugin_dir = %q", testbin.PluginDir(t)), 1)
	bench = strings.Replace(bench, `"../quickstart/cases.jsonl"`, `"cases.jsonl"`, 1)
	e.write("ray.hcl", bench)
	r := e.mustRun("run", "ray.hcl", "--no-progress", "--var", "ray_address="+e.address, "--var", "python="+e.python)
	if !strings.Contains(r.stdout, "thresholds met") {
		t.Errorf("the example should meet its threshold:\n%s", r.stdout)
	}
	rs := e.results(e.store(), batchID(t, r.stderr))
	assertExactlyOnce(t, rs, 64)
}
