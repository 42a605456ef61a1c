package pluginhost_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/host/internal/pluginhost"
	"github.com/wtbench/wtb/host/internal/testbin"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/client"
)

// recorder collects plugin lifecycle events.
type recorder struct {
	mu     sync.Mutex
	events []pluginhost.Event
}

func (r *recorder) on(e pluginhost.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) has(t pluginhost.EventType) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Type == t {
			return true
		}
	}
	return false
}

func launchPool(t *testing.T, rec *recorder) *pluginhost.Runner {
	t.Helper()
	spec := pluginhost.Spec{Name: "runner-pool", Path: testbin.Build(t, testbin.RunnerPool),
		Config: []byte(`{"max_workers": 4}`), StartTimeout: 20 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Warn})}
	if rec != nil {
		spec.OnEvent = rec.on
	}
	r, err := pluginhost.LaunchRunner(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	diags, err := r.Configure(context.Background(), []byte(`{"max_workers": 4}`))
	if err != nil || diags.HasErrors() {
		t.Fatalf("configure: %v %v", err, diags)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// events records an execution's events as "start:n", "finish:n", "fail:n".
type events struct {
	mu   sync.Mutex
	seen []string
	on   func(string)
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.seen = append(e.seen, s)
	on := e.on
	e.mu.Unlock()
	if on != nil {
		on(s)
	}
}
func (e *events) NodeStarted(node, _ string)        { e.add("start:" + node) }
func (e *events) NodeFinished(r sdk.NodeResult)     { e.add("finish:" + r.Node) }
func (e *events) NodeFailed(f sdk.NodeFailure)      { e.add("fail:" + f.Node) }
func (e *events) Log(string, sdk.LogStream, string) {}

// run executes one request through a supervised runner and returns its outcome.
func run(t *testing.T, r *pluginhost.Runner, req *sdk.ExecuteRequest) sdk.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := r.Execute(ctx, req, &events{})
	if ctx.Err() != nil {
		t.Fatal("execution did not finish within 60s")
	}
	return out
}

func commandReq(id string, timeout time.Duration, argv ...string) *sdk.ExecuteRequest {
	return &sdk.ExecuteRequest{ExecutionID: id, ExecutionKey: id, Attempt: 1,
		Nodes: []sdk.Node{{Name: "n", Command: argv, Timeout: timeout}}, StartState: []byte(`{}`)}
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	// A zombie is dead for our purpose; in containers nobody may reap it.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func waitDead(t *testing.T, pid int, within time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still alive after %s", what, pid, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPluginKilledMidExecutionIsRestartedAndExecutionIsRetryable(t *testing.T) {
	rec := &recorder{}
	r := launchPool(t, rec)
	firstPid := r.Pid()

	started := make(chan struct{}, 1)
	done := make(chan sdk.Outcome, 1)
	ev := &events{on: func(s string) {
		if strings.HasPrefix(s, "start:") {
			started <- struct{}{}
		}
	}}
	go func() { done <- r.Execute(context.Background(), commandReq("crash-1", 0, "sleep", "30"), ev) }()
	<-started
	if firstPid <= 0 {
		t.Fatalf("no plugin pid (%d)", firstPid) // kill(0) would kill the test's own group
	}
	if err := syscall.Kill(firstPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var fin sdk.Outcome
	select {
	case fin = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("no outcome after the plugin was killed")
	}
	if !fin.Retryable || fin.Status != sdk.StatusFailed {
		t.Fatalf("execution in flight must come back as a retryable failure, got %v retryable=%v", fin.Status, fin.Retryable)
	}
	if !strings.Contains(fin.Error, "exited unexpectedly") || !strings.Contains(fin.Error, strconv.Itoa(firstPid)) {
		t.Errorf("error should say the plugin (pid %d) exited: %q", firstPid, fin.Error)
	}

	// The next execution runs on a restarted plugin.
	fin2 := run(t, r, &sdk.ExecuteRequest{ExecutionID: "after-crash", Nodes: []sdk.Node{
		{Name: "m", Kind: "merge", Params: []byte(`{"ok":true}`)}}})
	if fin2.Status != sdk.StatusSucceeded {
		t.Fatalf("execution after restart: %v %s", fin2.Status, fin2.Error)
	}
	if r.Pid() == firstPid || r.Pid() == 0 {
		t.Errorf("plugin pid %d after restart; want a new process", r.Pid())
	}
	if !rec.has(pluginhost.PluginCrashed) || !rec.has(pluginhost.PluginRestarted) {
		t.Errorf("want crashed and restarted events, got %+v", rec.events)
	}
}

func TestIncompatibleProtocolVersion(t *testing.T) {
	bin := testbin.Build(t, "wtb-runner-v99", "./host/internal/testplugins/badversion")
	_, err := pluginhost.LaunchRunner(context.Background(), pluginhost.Spec{Name: "runner-v99", Path: bin, StartTimeout: 10 * time.Second})
	if err == nil {
		t.Fatal("a plugin speaking only protocol 99 was accepted")
	}
	for _, want := range []string{"incompatible protocol", "version 99", "this wtb speaks [1]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestNotAPluginFailsFast(t *testing.T) {
	bin := testbin.Build(t, "wtb-runner-garbage", "./host/internal/testplugins/garbage")
	start := time.Now()
	_, err := pluginhost.LaunchRunner(context.Background(), pluginhost.Spec{Name: "runner-garbage", Path: bin, StartTimeout: 30 * time.Second})
	if err == nil {
		t.Fatal("garbage on stdout was accepted as a handshake")
	}
	if !strings.Contains(err.Error(), "is not a WTB plugin") || !strings.Contains(err.Error(), "hello from a program") {
		t.Errorf("unclear error: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s to notice garbage; it must not wait for the start timeout", took)
	}
}

func TestHandshakeTimeoutIsBounded(t *testing.T) {
	bin := testbin.Build(t, "wtb-runner-silent", "./host/internal/testplugins/silent")
	start := time.Now()
	_, err := pluginhost.LaunchRunner(context.Background(), pluginhost.Spec{Name: "runner-silent", Path: bin, StartTimeout: time.Second})
	if err == nil {
		t.Fatal("a silent binary was accepted")
	}
	if !strings.Contains(err.Error(), "did not complete its handshake within 1s") {
		t.Errorf("unclear error: %v", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("start timeout of 1s took %s", took)
	}
}

func TestChecksumPinning(t *testing.T) {
	bin := testbin.Build(t, testbin.RunnerPool)
	wrong := strings.Repeat("ab", 32)
	_, err := pluginhost.LaunchRunner(context.Background(), pluginhost.Spec{Name: "runner-pool", Path: bin, SHA256: wrong})
	if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), wrong) {
		t.Fatalf("checksum mismatch: got %v", err)
	}
	sum, err := client.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pluginhost.LaunchRunner(context.Background(), pluginhost.Spec{Name: "runner-pool", Path: bin, SHA256: sum})
	if err != nil {
		t.Fatalf("correct checksum refused: %v", err)
	}
	_ = r.Close(context.Background())
}

func TestHungNodeIsKilledWithItsChildren(t *testing.T) {
	r := launchPool(t, nil)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	script := fmt.Sprintf("sleep 1000 & echo $! > %s; sleep 1000", pidFile)
	start := time.Now()
	fin := run(t, r, commandReq("hang-1", 300*time.Millisecond, "sh", "-c", script))
	if fin.FailureKind != sdk.FailureTimeout {
		t.Fatalf("want a timeout failure, got %v: %s", fin.FailureKind, fin.Error)
	}
	if !strings.Contains(fin.Error, "timed out after 300ms") {
		t.Errorf("unclear timeout error: %q", fin.Error)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("timeout of 300ms took %s", took)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	waitDead(t, child, 5*time.Second, "background child of the hung node")
}

func TestBadNodeOutput(t *testing.T) {
	r := launchPool(t, nil)
	cases := []struct {
		name string
		argv []string
		kind sdk.FailureKind
		want string
	}{
		{"invalid json", []string{"sh", "-c", "echo this is not json"}, sdk.FailureInvalidOutput, "stdout is not a JSON object"},
		{"json array", []string{"sh", "-c", "echo '[1,2]'"}, sdk.FailureInvalidOutput, "want an object"},
		{"100 MiB", []string{"head", "-c", "104857600", "/dev/zero"}, sdk.FailureOutputTooLarge, "wrote more than 16 MiB"},
		{"exit 3", []string{"sh", "-c", "echo boom >&2; exit 3"}, sdk.FailureExit, "exited with status 3; stderr: boom"},
		{"missing program", []string{"/nonexistent/prog"}, sdk.FailureStart, "cannot start"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fin := run(t, r, commandReq(fmt.Sprintf("bad-%d", i), 30*time.Second, c.argv...))
			if fin.Status != sdk.StatusFailed || fin.FailureKind != c.kind {
				t.Fatalf("got %v/%v: %s", fin.Status, fin.FailureKind, fin.Error)
			}
			if !strings.Contains(fin.Error, c.want) {
				t.Errorf("error %q does not contain %q", fin.Error, c.want)
			}
		})
	}
}

func TestRetryableExitCode(t *testing.T) {
	r := launchPool(t, nil)
	fin := run(t, r, commandReq("tempfail", 0, "sh", "-c", "exit 75"))
	if !fin.Retryable {
		t.Errorf("exit status 75 (EX_TEMPFAIL) must be retryable: %+v", fin)
	}
}

func TestNoPluginProcessAfterClose(t *testing.T) {
	r := launchPool(t, nil)
	pid := r.Pid()
	if !alive(pid) {
		t.Fatalf("plugin pid %d not running", pid)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitDead(t, pid, 5*time.Second, "plugin after Close")
}

func TestNoOrphansWhenHostIsKilled(t *testing.T) {
	pool := testbin.Build(t, testbin.RunnerPool)
	host := testbin.Build(t, "orphanhost", "./host/internal/testplugins/orphanhost")
	pidFile := filepath.Join(t.TempDir(), "node.pid")
	cmd := exec.Command(host, pool, fmt.Sprintf("echo $$ > %s; sleep 1000", pidFile))
	cmd.Stderr = os.Stderr
	// The killed mini host cannot remove its plugin's socket directory:
	// made in the test's, not /tmp.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("mini host printed no plugin pid: %v", err)
	}
	pluginPid, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "PLUGIN_PID="))
	var nodePid int
	for i := 0; nodePid == 0 && i < 100; i++ {
		raw, _ := os.ReadFile(pidFile) // the shell creates the file before it writes the pid
		nodePid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		if nodePid == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !alive(pluginPid) || !alive(nodePid) {
		t.Fatalf("plugin %d or node %d not running before the kill", pluginPid, nodePid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitDead(t, pluginPid, 5*time.Second, "plugin after its host was SIGKILLed")
	waitDead(t, nodePid, 5*time.Second, "node process after its host was SIGKILLed")
}

func TestRunningAPluginByHandExplainsItself(t *testing.T) {
	cmd := exec.Command(testbin.Build(t, testbin.RunnerPool))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, testbin.CoverEnv()...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("running a plugin by hand exited 0")
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "is a WTB plugin") {
		t.Errorf("want a one-line explanation, got %q", out)
	}
}

func TestDiscovery(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	for _, f := range []string{
		filepath.Join(first, "wtb-runner-pool"), filepath.Join(second, "wtb-runner-pool"),
		filepath.Join(second, "wtb-env-local"), filepath.Join(second, "wtb-runner-notexec"), filepath.Join(second, "README"),
	} {
		mode := os.FileMode(0o755)
		if strings.HasSuffix(f, "notexec") {
			mode = 0o644
		}
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("WTB_PLUGIN_PATH", second)
	dirs := pluginhost.SearchPath(first)
	if dirs[0] != first || dirs[1] != second {
		t.Fatalf("search path %v: want plugin_dir first, then WTB_PLUGIN_PATH", dirs)
	}
	path, err := pluginhost.Find(dirs, client.KindRunner, "pool")
	if err != nil || path != filepath.Join(first, "wtb-runner-pool") {
		t.Errorf("Find pool = %q, %v; want the plugin_dir copy", path, err)
	}
	if _, err := pluginhost.Find(dirs, client.KindRunner, "notexec"); err == nil {
		t.Error("a non-executable file was taken as a plugin")
	}
	_, err = pluginhost.Find(dirs, client.KindRunner, "temporal")
	if err == nil || !strings.Contains(err.Error(), "wtb-runner-temporal") || !strings.Contains(err.Error(), "available: pool") {
		t.Errorf("missing plugin error is unclear: %v", err)
	}
	shadowed := 0
	for _, c := range pluginhost.Discover(dirs) {
		if c.Shadowed {
			shadowed++
		}
	}
	if shadowed != 1 {
		t.Errorf("want the second wtb-runner-pool marked shadowed, got %d shadowed", shadowed)
	}
	_ = sdk.ProtocolVersion
}
