package application_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// place puts the binary bin into dir under name.
func place(t *testing.T, bin, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// wtb plugins and wtb plugins describe go through the application layer:
// the real pool runner on a two-directory search path, one copy shadowed, and
// the same binary posing as an environment provider named alike (which
// cannot be described: it serves no environment).
func TestPluginsAreFoundAndDescribedThroughBench(t *testing.T) {
	pool := testbin.Build(t, testbin.RunnerPool)
	first, second := t.TempDir(), t.TempDir()
	runner := place(t, pool, first, "wtb-runner-pool")
	place(t, pool, first, "wtb-env-pool")
	place(t, pool, second, "wtb-runner-pool")
	a := &application.App{PluginDirs: func(string) []string { return []string{first, second} }}
	ctx := context.Background()

	dirs, found := a.Plugins(ctx)
	if len(dirs) != 2 || dirs[0] != first {
		t.Errorf("searched %v, want %s first", dirs, first)
	}
	var runners, shadowed, envs int
	for _, p := range found {
		switch {
		case p.Kind == application.PluginRunner && !p.Shadowed:
			runners++
			if p.Err != nil || p.Path != runner || p.Info.Version == "" || len(p.NodeKinds) == 0 || p.Negotiated == 0 {
				t.Errorf("the pool runner, described: %+v", p)
			}
		case p.Kind == application.PluginRunner:
			shadowed++
		case p.Kind == application.PluginEnvironment:
			envs++
			if p.Err == nil {
				t.Errorf("a runner binary posing as an environment provider was described: %+v", p)
			}
		}
	}
	if runners != 1 || shadowed != 1 || envs != 1 || len(found) != 3 {
		t.Errorf("found %d runner, %d shadowed, %d environment of %d plugins: %+v", runners, shadowed, envs, len(found), found)
	}

	p, err := a.DescribePlugin(ctx, "pool", application.PluginRunner)
	if err != nil || p.Path != runner || p.Info.Version == "" {
		t.Errorf("describe pool --kind runner: %+v, %v", p, err)
	}
	for _, c := range []struct {
		name, kind string
		want       application.Kind
		msg        string
	}{
		{"pool", "", application.KindConfig, "names a runner and an environment provider: add --kind runner or --kind environment"},
		{"pol", "", application.KindConfig, `no plugin named "pol" (wtb plugins lists them). Did you mean "pool"?`},
		{"pool", "nonsense", application.KindConfig, `no plugin named "pool"`},
		{"pool", application.PluginEnvironment, application.KindRuntime, ""},
	} {
		_, err := a.DescribePlugin(ctx, c.name, c.kind)
		if err == nil || application.KindOf(err) != c.want || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("describe %q --kind %q: %v (kind %v), want kind %v with %q", c.name, c.kind, err, application.KindOf(err), c.want, c.msg)
		}
	}
}
