package arch_test

import (
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// layers is the host's layer order, top to bottom. A package imports
// packages of its own layer or of the layers below it, never above; the
// command line is held tighter still (cliMayImport). Paths are relative to
// the module; a path ending in "/..." stands for the packages under it.
var layers = []struct {
	name string
	pkgs []string
}{
	// Parses flags, renders, maps errors to exit codes.
	{"command line", []string{"host/cmd/wtb", "host/internal/cli"}},
	// The application layer (bench) and what renders its results for other
	// readers than a terminal: the --format json documents (doc), the web
	// viewer, the CI summary and the Prometheus metrics.
	{"application", []string{"host/internal/application", "host/internal/jsondoc", "host/internal/viewer", "host/internal/summary",
		"host/internal/metrics"}},
	// What a batch is and how it runs and is stored: the configuration
	// loader, planner, scheduler, evaluators and the store with its drivers.
	{"domain", []string{"host/internal/config", "host/internal/spec", "host/internal/plan", "host/internal/sched",
		"host/internal/eval", "host/internal/judge", "host/internal/adapt", "host/internal/audit", "host/internal/bridge",
		"host/internal/modelcalls", "host/internal/leaderboard", "host/internal/traceout", "host/internal/trajectory",
		"host/internal/dataset", "host/internal/events", "host/internal/statediff", "host/internal/stats",
		"host/internal/store/...", "host/internal/dbfiles", "migrations"}},
	// Launches plugins and speaks the wire to them.
	{"plugin host", []string{"host/internal/pluginhost"}},
	// The public SDK and the wire contract.
	{"sdk", []string{"sdk/...", "proto/..."}},
}

// leaves are helpers any layer may import; they import no package of this
// module.
var leaves = []string{"host/internal/numfmt", "host/internal/diagnostic", "host/internal/suggest", "host/internal/testbin",
	"host/internal/scratch"}

// tools are the test programs that drive the whole host (built binaries,
// the README check, these rules, plugins for tests): they may import
// anything, and nothing imports them.
var tools = []string{"host/internal/e2e", "host/internal/readme", "host/internal/arch", "host/internal/testplugins/..."}

// cliMayImport is what the command line may import besides leaves: the
// application layer, and the types the application layer hands it to render
// (a batch's spec and stored records, the leaderboard summary, datasets,
// event types, state diffs, statistics, the SDK's value types). Not the
// scheduler, the planner, the configuration loader, the plugin host or a
// store driver: those it reaches through bench.
var cliMayImport = []string{"host/internal/application", "host/internal/jsondoc", "host/internal/viewer", "host/internal/summary",
	"host/internal/metrics", "host/internal/spec", "host/internal/store", "host/internal/leaderboard", "host/internal/dataset",
	"host/internal/events", "host/internal/statediff", "host/internal/stats", "sdk"}

func matches(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func matchesAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matches(p, pkg) })
}

// layerOf is the index of pkg's layer in layers; -1 for none.
func layerOf(pkg string) int {
	for i, l := range layers {
		if matchesAny(l.pkgs, pkg) {
			return i
		}
	}
	return -1
}

// pkgImports is a host package's imports of this module's packages, its
// test files' apart.
type pkgImports struct {
	code, tests []string
}

// moduleImports lists, per host package, the module's packages it imports
// (module prefix trimmed), test files included.
func moduleImports(t *testing.T) map[string]pkgImports {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}",
		module+"host/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	own := func(list string, self string) []string {
		var out []string
		for _, d := range strings.Fields(list) {
			if rel, ok := strings.CutPrefix(d, module); ok && rel != self && !slices.Contains(out, rel) {
				out = append(out, rel)
			}
		}
		sort.Strings(out)
		return out
	}
	deps := map[string]pkgImports{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		pkg := strings.TrimPrefix(f[0], module)
		deps[pkg] = pkgImports{code: own(f[1], pkg), tests: own(f[2], pkg)}
	}
	return deps
}

// layerErrors checks one package's imports against the layer order.
func layerErrors(pkg string, imps pkgImports) []string {
	if matchesAny(tools, pkg) {
		return nil
	}
	var errs []string
	check := func(d, where string) {
		switch {
		case matchesAny(tools, d):
			errs = append(errs, fmt.Sprintf("%s imports %s%s: nothing imports a test tool", pkg, d, where))
		case matchesAny(leaves, pkg):
			errs = append(errs, fmt.Sprintf("%s imports %s%s: a leaf helper imports no package of this module", pkg, d, where))
		case matchesAny(leaves, d):
		case layerOf(d) < 0:
			errs = append(errs, fmt.Sprintf("%s imports %s%s, which is in no layer: add it to a layer in host/internal/arch/layers_test.go", pkg, d, where))
		case layerOf(d) < layerOf(pkg):
			errs = append(errs, fmt.Sprintf("%s (%s layer) imports %s (%s layer)%s: a layer imports only its own and the layers below it",
				pkg, layers[layerOf(pkg)].name, d, layers[layerOf(d)].name, where))
		case pkg == "host/internal/cli" && !matchesAny(cliMayImport, d):
			errs = append(errs, fmt.Sprintf("%s imports %s%s: the command line reaches the %s layer through the application layer (host/internal/application)",
				pkg, d, where, layers[layerOf(d)].name))
		}
	}
	if !matchesAny(leaves, pkg) && layerOf(pkg) < 0 {
		return []string{fmt.Sprintf("%s is in no layer: add it to a layer (or the leaves or tools) in host/internal/arch/layers_test.go", pkg)}
	}
	for _, d := range imps.code {
		check(d, "")
	}
	for _, d := range imps.tests {
		check(d, " in its tests")
	}
	return errs
}

// The whole layer order holds, test files included: command line →
// application → domain → plugin host → SDK.
func TestLayerOrder(t *testing.T) {
	deps := moduleImports(t)
	if _, ok := deps["host/internal/cli"]; !ok {
		t.Fatalf("go list found no host/internal/cli: %v", deps)
	}
	var pkgs []string
	for pkg := range deps {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		for _, e := range layerErrors(pkg, deps[pkg]) {
			t.Error(e)
		}
	}
}

// The rules themselves catch what they are there for: a test of the checker
// on imports that break them.
func TestLayerOrderCatchesWhatItForbids(t *testing.T) {
	for _, c := range []struct {
		pkg  string
		imps pkgImports
		want string // "" when allowed
	}{
		{"host/internal/cli", pkgImports{code: []string{"host/internal/application", "host/internal/jsondoc", "host/internal/numfmt", "sdk"}}, ""},
		{"host/internal/cli", pkgImports{code: []string{"host/internal/sched"}}, "through the application layer"},
		{"host/internal/cli", pkgImports{code: []string{"host/internal/plan"}}, "through the application layer"},
		{"host/internal/cli", pkgImports{code: []string{"host/internal/config"}}, "through the application layer"},
		{"host/internal/cli", pkgImports{code: []string{"host/internal/store/sqlite"}}, "through the application layer"},
		{"host/internal/cli", pkgImports{code: []string{"host/internal/store/open"}}, "through the application layer"},
		{"host/internal/cli", pkgImports{tests: []string{"host/internal/pluginhost"}}, "in its tests"},
		{"host/internal/application", pkgImports{code: []string{"host/internal/sched", "host/internal/pluginhost", "host/internal/store/open"}}, ""},
		{"host/internal/application", pkgImports{code: []string{"host/internal/cli"}}, "a layer imports only its own and the layers below"},
		{"host/internal/sched", pkgImports{tests: []string{"host/internal/application"}}, "in its tests"},
		{"host/internal/pluginhost", pkgImports{code: []string{"host/internal/store"}}, "a layer imports only"},
		{"host/internal/store/sqlite", pkgImports{tests: []string{"host/internal/e2e"}}, "nothing imports a test tool"},
		{"host/internal/numfmt", pkgImports{code: []string{"host/internal/spec"}}, "a leaf helper"},
		{"host/internal/newthing", pkgImports{}, "is in no layer"},
		{"host/internal/e2e", pkgImports{tests: []string{"host/internal/sched", "host/internal/store/open"}}, ""},
	} {
		errs := layerErrors(c.pkg, c.imps)
		switch {
		case c.want == "" && len(errs) > 0:
			t.Errorf("%s importing %v: unexpected %q", c.pkg, c.imps, errs)
		case c.want != "" && (len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), c.want)):
			t.Errorf("%s importing %v: got %q, want an error with %q", c.pkg, c.imps, errs, c.want)
		}
	}
}
