package e2e

// Plugin and node processes: a plugin start is bounded and leaves nothing
// behind, nodes die with their plugin, and a node's large output keeps the
// host's memory bounded. Each runs the built binaries.

import (
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procsMatching lists live processes whose command line starts with s.
func procsMatching(s string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		var pid int
		if _, err := fmt.Sscanf(en.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.HasPrefix(strings.ReplaceAll(string(cmdline), "\x00", " "), s) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func waitAllDead(t *testing.T, what string, pids []int, within time.Duration) {
	t.Helper()
	waitFor(t, within, func() string {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		return fmt.Sprintf("%s to die; still alive: %v", what, left)
	}, func() bool {
		for _, p := range pids {
			if alive(p) {
				return false
			}
		}
		return true
	})
}

// A plugin that never completes its handshake — hanging, printing garbage,
// exiting at once, each leaving a child holding its output — ends the run
// within start_timeout with exit 3 and one clear line, and nothing it started
// survives.
func TestPluginStartIsBoundedAndLeavesNothing(t *testing.T) {
	e := newEnv(t)
	plugins := filepath.Join(e.dir, "plugins")
	for name, script := range map[string]string{
		"hang":    "#!/bin/sh\nsleep 3601.5\n",
		"garbage": "#!/bin/sh\necho not a handshake\nsleep 3602.5\n",
		"quick":   "#!/bin/sh\necho 'cannot load model weights' >&2\nexit 7\n",
		"orphan":  "#!/bin/sh\nsleep 3603.5 &\nexit 0\n",
	} {
		path := filepath.Join(plugins, "wtb-runner-"+name)
		e.write(filepath.Join("plugins", "wtb-runner-"+name), script)
		_ = os.Chmod(path, 0o755)
	}
	want := map[string]string{
		"hang":    "did not complete its handshake within 1s and was killed",
		"garbage": `printed to stdout before its handshake (first line: "not a handshake")`,
		"quick":   `exited before its handshake (exit status 7); is it a WTB plugin?; its last output: "cannot load model weights"`,
		"orphan":  "exited before its handshake (exit status 0)",
	}
	for name, msg := range want {
		t.Run(name, func(t *testing.T) {
			e.write(name+".hcl", fmt.Sprintf(`
runner "r" {
  plugin        = %q
  start_timeout = "1s"
}
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
}
`, name))
			start := time.Now()
			r := e.run("--plugin-dir", plugins, "run", name+".hcl")
			noCrash(t, "run", r)
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("the run took %s", took)
			}
			if r.code != 3 || !strings.Contains(r.stderr, msg) {
				t.Errorf("exit %d, want 3 with %q:\n%s", r.code, msg, r.stderr)
			}
			if lines := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; lines != 1 || strings.Contains(r.stderr, "[WARN]") {
				t.Errorf("want one clear line, got %d:\n%s", lines, r.stderr)
			}
		})
	}
	for _, marker := range []string{"3601.5", "3602.5", "3603.5"} {
		if left := procsMatching("sleep " + marker); len(left) > 0 {
			t.Errorf("processes the plugins started survive: sleep %s %v", marker, left)
			for _, p := range left {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	}
}

const sleepyBench = `
runner "pool" {
  plugin      = "pool"
  max_workers = 8
}
workflow "w" {
  node "nap" {
    command = ["sh", "-c", "sleep %s; echo '{}'"]
  }
}
batch_test "t" {
  workflow    = workflow.w
  runner      = runner.pool
  repeat      = 16
  max_retries = 1
  case "c" { input = {} }
}
`

// No node process outlives the plugin that started it: not when the plugin
// is SIGKILLed (its nodes must not keep running beside their retries), and
// not when the host is SIGKILLed, every time.
func TestNodesDieWithTheirPlugin(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", fmt.Sprintf(sleepyBench, "30.25"))
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited })
	waitFor(t, 20*time.Second, func() string { return "8 nodes running" }, func() bool { return len(procsMatching("sleep 30.25")) >= 8 })
	first := procsMatching("sleep 30.25")
	plugin := childPids(cmd.Process.Pid, "wtb-runner-pool")
	if len(plugin) != 1 {
		t.Fatalf("runner plugins under the host: %v", plugin)
	}
	if err := syscall.Kill(plugin[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitAllDead(t, "the killed plugin's nodes", first, 3*time.Second)
	// The retries run on the restarted plugin: at most max_workers at a time.
	time.Sleep(time.Second)
	if n := len(procsMatching("sleep 30.25")); n > 8 {
		t.Errorf("%d nodes running with max_workers = 8", n)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	<-waited
	waitAllDead(t, "every node after the run", procsMatching("sleep 30.25"), 3*time.Second)

	for i := 0; i < 8; i++ {
		marker := fmt.Sprintf("31.%d5", i)
		e.write("bench.hcl", fmt.Sprintf(sleepyBench, marker))
		host := e.cmd("run", "bench.hcl", "--no-progress")
		if err := host.Start(); err != nil {
			t.Fatal(err)
		}
		hostDone := make(chan struct{})
		go func() { _ = host.Wait(); close(hostDone) }()
		waitFor(t, 20*time.Second, func() string { return "nodes running" }, func() bool { return len(procsMatching("sleep "+marker)) >= 8 })
		nodes := procsMatching("sleep " + marker)
		plugins := childPids(host.Process.Pid, "wtb-runner-pool")
		_ = host.Process.Signal(syscall.SIGKILL)
		<-hostDone
		waitAllDead(t, fmt.Sprintf("kill %d: the plugin and its nodes after the host was SIGKILLed", i+1), append(nodes, plugins...), 3*time.Second)
	}
}

// A node output near the output limit costs the host a small multiple of its
// size, not twenty times it.
func TestLargeOutputMemoryIsBounded(t *testing.T) {
	e := newEnv(t)
	const size = 15 << 20
	e.write("big.py", fmt.Sprintf("import json, sys\njson.load(sys.stdin)\nprint(json.dumps({\"blob\": \"x\" * %d}))\n", size))
	e.write("bench.hcl", `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "big" { command = ["python3", "big.py"] }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.pool
  case "c" { input = {} }
  evaluator "e" {
    type   = "equals"
    path   = "$.blob"
    expect = "y"
  }
}
`)
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	peak := 0
	for running := true; running; {
		select {
		case err := <-done:
			if ee, ok := err.(*osexec.ExitError); err != nil && (!ok || ee.ExitCode() > 1) {
				t.Fatalf("run: %v", err)
			}
			running = false
		case <-time.After(10 * time.Millisecond):
			if kb := vmHWM(cmd.Process.Pid); kb > peak {
				peak = kb
			}
		}
	}
	t.Logf("host peak RSS %d MiB for a %d MiB node output", peak>>10, size>>20)
	if limit := 20 * size >> 10; peak > limit {
		t.Errorf("host peak RSS %d MiB for a %d MiB output; want under %d MiB", peak>>10, size>>20, limit>>10)
	}
	rs := e.results(e.store(), batchID(t, stderr.String()))
	if len(rs) != 1 || !rs[0].Success {
		t.Fatalf("the execution: %+v", rs)
	}
}

// vmHWM is a process's peak resident set in KiB (0 when it cannot be read).
func vmHWM(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")), "%d", &kb)
			return kb
		}
	}
	return 0
}
