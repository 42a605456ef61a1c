// Package plugintest is what the plugins' own tests share: building a plugin
// (or the reference gRPC service) the way `make build` does, and starting the
// services a plugin talks to — the reference wtb.remote.v1 server and a
// Temporal worker. It is the plugins' counterpart of host/internal/testbin,
// which plugins cannot import.
//
// With WTB_COVER=DIR in the environment (`make cover` sets it), binaries are
// built with coverage and GOCOVERDIR=DIR is set in the test process, so they
// — and every process that inherits the test's environment — write their
// coverage there, exactly as host/internal/testbin does.
package plugintest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// coverPackages must stay the list host/internal/testbin and `make cover`
// instrument (testbin.CoverPackages), so the profiles merge.
const coverPackages = "github.com/wtbench/wtb/host/...,github.com/wtbench/wtb/sdk/...,github.com/wtbench/wtb/plugins/..."

// Root is the module root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Build builds the main package pkg (relative to the module root, such as
// "./plugins/env-grpc") into a temporary directory as name and returns its
// path.
func Build(t testing.TB, name, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	args := []string{"build", "-o", out}
	if d := os.Getenv("WTB_COVER"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("plugintest: WTB_COVER: %v", err)
		}
		// go test gave this process a GOCOVERDIR of its own, which the test
		// binary does not use once it runs: overriding it reaches only the
		// processes the test starts.
		if err := os.Setenv("GOCOVERDIR", d); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-cover", "-covermode=atomic", "-coverpkg="+coverPackages)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = Root()
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s (%s): %v\n%s", name, pkg, err, msg)
	}
	return out
}

// Service is a process a test started, stopped gracefully (SIGTERM, then
// SIGKILL after 10 s) when the test ends, so a covered binary writes its
// coverage.
type Service struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts cmd and waits until a line of its stderr contains ready.
func Start(t testing.TB, cmd *exec.Cmd, ready string) *Service {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	s := &Service{cmd: cmd, done: make(chan struct{})}
	up := make(chan struct{})
	var lines []string
	go func() {
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() { // read to the end, so the process never blocks on stderr
			if !seen {
				lines = append(lines, sc.Text())
				if strings.Contains(sc.Text(), ready) {
					seen = true
					close(up)
				}
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.Stop)
	select {
	case <-up:
	case <-s.done:
		t.Fatalf("%s exited before it was ready:\n%s", cmd.Path, strings.Join(lines, "\n"))
	case <-time.After(30 * time.Second):
		s.Stop()
		t.Fatalf("%s did not say %q within 30 s", cmd.Path, ready)
	}
	return s
}

// Stop ends the process: SIGTERM, then SIGKILL after 10 s.
func (s *Service) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Require returns the value of a service's environment variable (set by
// scripts/services.sh); without it the test skips, or fails when CI=true.
func Require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run this test (scripts/services.sh starts the service)", name)
		}
		t.Skipf("%s is not set; run `make test` (or scripts/services.sh) to include this test", name)
	}
	return v
}

// RemoteToken is the bearer token RemoteServer requires.
const RemoteToken = "plugintest-token-7c1e"

// RemoteServer builds and starts the reference wtb.remote.v1 service
// (examples/grpc-environment) on a free loopback port with a scratch root,
// requiring RemoteToken, and returns its address.
func RemoteServer(t testing.TB) string {
	t.Helper()
	bin := Build(t, "grpc-environment", "./examples/grpc-environment")
	addr := FreeAddr(t)
	cmd := exec.Command(bin, "--listen", addr, "--root", t.TempDir())
	cmd.Env = append(os.Environ(), "WTB_REMOTE_TOKEN="+RemoteToken)
	Start(t, cmd, "serving wtb.remote.v1")
	return addr
}

// FreeAddr is a loopback address with a port nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
