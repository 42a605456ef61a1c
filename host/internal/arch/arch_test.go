// Package arch_test holds the host's layering rules as a test: a package that
// imports what it must not fails the build of the test suite.
package arch_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wtbench/wtb/"

// imports lists, per host package, the packages it imports directly.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"host/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	return deps
}

// The wire contract stays inside the plugin host: every other host package
// sees the SDK's Go types. (pluginhost itself speaks it through sdk/client.)
func TestOnlyThePluginHostSpeaksTheWire(t *testing.T) {
	allowed := func(pkg string) bool {
		return strings.HasPrefix(pkg, module+"host/internal/pluginhost") || strings.HasPrefix(pkg, module+"host/internal/testplugins")
	}
	for pkg, deps := range imports(t) {
		for _, d := range deps {
			wire := strings.HasPrefix(d, module+"proto/") || d == module+"sdk/client" || strings.HasPrefix(d, module+"sdk/internal/")
			if wire && !allowed(pkg) {
				t.Errorf("%s imports %s; only host/internal/pluginhost may speak the plugin wire", pkg, d)
			}
		}
	}
}

// Loading a bench file never starts a plugin: config knows nothing of the
// launcher or the plugin host.
func TestConfigDoesNotLaunchPlugins(t *testing.T) {
	for _, d := range imports(t)[module+"host/internal/config"] {
		if d == module+"sdk/client" || strings.HasPrefix(d, module+"host/internal/pluginhost") {
			t.Errorf("config imports %s", d)
		}
	}
}
