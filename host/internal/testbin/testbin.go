// Package testbin builds the real wtb and plugin binaries for tests, once per
// test process, so tests talk to them exactly as users do.
//
// With WTB_COVER=DIR in the environment (`make cover` sets it) the binaries
// are built with coverage (go build -cover) and GOCOVERDIR=DIR is set in the
// test process, so every binary a test starts — and every plugin the host
// starts, which inherits the host's environment — writes its coverage there
// when it exits. `make cover` merges it with the unit tests' profile.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Binaries built by Build, by name.
const (
	Wtb          = "wtb"
	RunnerPool   = "wtb-runner-pool"
	EnvLocal     = "wtb-env-local"
	CustomRunner = "wtb-runner-custom"
	Temporal     = "wtb-runner-temporal"
	QA           = "qa"
	RunnerGRPC   = "wtb-runner-grpc"
	EnvGRPC      = "wtb-env-grpc"
	RemoteServer = "grpc-environment"
	RunnerRay    = "wtb-runner-ray"
	EnvRay       = "wtb-env-ray"
	// The example Python plugins: launchers written by PythonPlugins.
	RunnerPython = "wtb-runner-python-example"
	EnvPython    = "wtb-env-python-example"
)

// packages maps binary names to their main packages, relative to the module root.
var packages = map[string]string{
	Wtb:          "./host/cmd/wtb",
	RunnerPool:   "./plugins/runner-pool",
	EnvLocal:     "./plugins/env-local",
	CustomRunner: "./examples/custom-runner",
	Temporal:     "./plugins/runner-temporal",
	QA:           "./examples/quickstart/qa",
	RunnerGRPC:   "./plugins/runner-grpc",
	EnvGRPC:      "./plugins/env-grpc",
	RemoteServer: "./examples/grpc-environment",
	RunnerRay:    "./plugins/runner-ray",
	EnvRay:       "./plugins/env-ray",
}

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
	// pythonVenv is the Python plugin runtime PythonPlugins found ("" before).
	pythonVenv string
)

// CoverEnvVar names the directory covered binaries write their coverage to;
// unset, binaries are built as `make build` builds them.
const CoverEnvVar = "WTB_COVER"

// CoverDir is the directory of WTB_COVER, "" when coverage is off.
func CoverDir() string { return os.Getenv(CoverEnvVar) }

// CoverEnv is what a test adds to the environment of a binary it starts with
// an environment of its own making (not os.Environ()): GOCOVERDIR when
// coverage is on, so the binary neither loses its coverage nor warns on
// stderr that GOCOVERDIR is not set.
func CoverEnv() []string {
	if d := CoverDir(); d != "" {
		return []string{"GOCOVERDIR=" + d}
	}
	return nil
}

// buildArgs are the arguments of `go build` for a binary at out; with
// coverage on they instrument the module's packages the way `make cover`
// instruments the unit tests (same mode, so the profiles merge), and point
// GOCOVERDIR at WTB_COVER for the binaries this process starts. `go test`
// sets GOCOVERDIR for the test binary to a directory of its own, which the
// test binary itself does not use once it runs, so overriding it here only
// reaches the children.
func buildArgs(t testing.TB, out, src string) []string {
	t.Helper()
	args := []string{"build", "-o", out}
	if d := CoverDir(); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testbin: %s: %v", CoverEnvVar, err)
		}
		if os.Getenv("GOCOVERDIR") != d {
			if err := os.Setenv("GOCOVERDIR", d); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, "-cover", "-covermode=atomic", "-coverpkg="+CoverPackages)
	}
	return append(args, src)
}

// CoverPackages are the packages coverage is measured on: `make cover`
// passes the same list to go test -coverpkg.
const CoverPackages = "github.com/wtbench/wtb/host/...,github.com/wtbench/wtb/sdk/...,github.com/wtbench/wtb/plugins/..."

// Root is the module root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Dir is the directory the binaries are built into: bin/ with the wtb binary,
// and bin/plugins with the plugins, as `make build` lays them out.
func Dir(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "wtb-testbin-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(d, "plugins"), 0o755); err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	return dir
}

// PluginDir is where plugins are built.
func PluginDir(t testing.TB) string { return filepath.Join(Dir(t), "plugins") }

// Build builds a binary (one of the names above, or a name with a package
// given as pkg) and returns its path.
func Build(t testing.TB, name string, pkg ...string) string {
	t.Helper()
	d := Dir(t)
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	src := packages[name]
	if len(pkg) > 0 {
		src = pkg[0]
	}
	if src == "" {
		t.Fatalf("testbin: unknown binary %q", name)
	}
	out := filepath.Join(d, "plugins", name)
	if name == Wtb {
		out = filepath.Join(d, name)
	}
	cmd := exec.Command("go", buildArgs(t, out, src)...)
	cmd.Dir = Root()
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s (%s): %v\n%s", name, src, err, msg)
	}
	built[name] = out
	return out
}

// BuildAll builds the wtb binary and the standard plugins.
func BuildAll(t testing.TB) string {
	for _, n := range []string{Wtb, RunnerPool, EnvLocal} {
		Build(t, n)
	}
	return Dir(t)
}

// PythonPlugins writes the launchers of the example Python plugins
// (RunnerPython, EnvPython) into PluginDir, as `make build` does, and returns
// the Python runtime's venv. The runtime is scripts/python-env.sh's venv
// (scripts/install-deps.sh installs it); without it the test skips, and fails
// under CI=true.
func PythonPlugins(t testing.TB) string {
	t.Helper()
	pd := PluginDir(t)
	mu.Lock()
	defer mu.Unlock()
	if pythonVenv != "" {
		return pythonVenv
	}
	out, err := exec.Command(filepath.Join(Root(), "scripts", "python-env.sh"), "--path").Output()
	if err != nil {
		t.Fatalf("scripts/python-env.sh --path: %v", err)
	}
	venv := strings.TrimSpace(string(out))
	check := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import grpc, grpc_health.v1, cryptography, opentelemetry.sdk.trace")
	if msg, err := check.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Python plugin runtime %s is not installed (scripts/install-deps.sh installs it): %v\n%s", venv, err, msg)
		}
		t.Skipf("the Python plugin runtime %s is not installed; run scripts/python-env.sh (or make test)", venv)
	}
	cmd := exec.Command(filepath.Join(Root(), "scripts", "python-plugins.sh"), pd, venv)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing the Python plugin launchers: %v\n%s", err, msg)
	}
	built[RunnerPython] = filepath.Join(pd, RunnerPython)
	built[EnvPython] = filepath.Join(pd, EnvPython)
	pythonVenv = venv
	return venv
}

// Cleanup removes the built binaries; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "testbin:", err)
		}
		dir = ""
		built = map[string]string{}
		pythonVenv = ""
	}
}
