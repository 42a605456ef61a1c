package dataset

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
)

func cases() []spec.Case {
	return []spec.Case{
		{ID: "france", Input: json.RawMessage(`{"q": "capital of France?", "n": 1}`), Expected: json.RawMessage(`{"capital": "Paris"}`)},
		{ID: "japan", Input: json.RawMessage(`{"q": "capital of Japan?"}`), Expected: json.RawMessage(`{"capital": "Tokyo"}`)},
	}
}

// The cases hash changes with any one case's input, expected values or id,
// and with a case more or less; not with the order of the cases, the order
// of keys or white space (compare pairs such cases too).
func TestCasesHashChangesWithOneChangedCase(t *testing.T) {
	base := HashOf(cases())
	if !strings.HasPrefix(base, HashPrefix) || len(base) != len(HashPrefix)+64 {
		t.Fatalf("hash %q", base)
	}
	for name, mutate := range map[string]func([]spec.Case) []spec.Case{
		"input":    func(c []spec.Case) []spec.Case { c[1].Input = json.RawMessage(`{"q": "capital of Japan??"}`); return c },
		"expected": func(c []spec.Case) []spec.Case { c[0].Expected = json.RawMessage(`{"capital": "Lyon"}`); return c },
		"number": func(c []spec.Case) []spec.Case {
			c[0].Input = json.RawMessage(`{"q": "capital of France?", "n": 2}`)
			return c
		},
		"id": func(c []spec.Case) []spec.Case { c[1].ID = "nippon"; return c },
		"one more": func(c []spec.Case) []spec.Case {
			return append(c, spec.Case{ID: "kenya", Input: json.RawMessage(`{}`)})
		},
		"one less": func(c []spec.Case) []spec.Case { return c[:1] },
		"no expected": func(c []spec.Case) []spec.Case {
			c[1].Expected = nil
			return c
		},
	} {
		if got := HashOf(mutate(cases())); got == base {
			t.Errorf("%s: the hash did not change", name)
		}
	}
	for name, mutate := range map[string]func([]spec.Case) []spec.Case{
		"order": func(c []spec.Case) []spec.Case { return []spec.Case{c[1], c[0]} },
		"key order": func(c []spec.Case) []spec.Case {
			c[0].Input = json.RawMessage(`{"n":1,"q":"capital of France?"}`)
			return c
		},
		"white space": func(c []spec.Case) []spec.Case {
			c[1].Expected = json.RawMessage("{\n  \"capital\":\"Tokyo\"\n}")
			return c
		},
	} {
		if got := HashOf(mutate(cases())); got != base {
			t.Errorf("%s: the hash changed", name)
		}
	}
	if Short(base) != base[len(HashPrefix):len(HashPrefix)+12] || Short("") != "" {
		t.Errorf("short %q", Short(base))
	}
	// An absent expected value and null are the same (no value).
	a, b := cases(), cases()
	a[1].Expected, b[1].Expected = nil, json.RawMessage("null")
	if HashOf(a) != HashOf(b) {
		t.Error("absent and null expected values hash differently")
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// ReadGit reads what `git` says, and nothing when there is nothing to say.
func TestReadGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for _, k := range []string{"GITHUB_ACTIONS", "GITLAB_CI"} {
		t.Setenv(k, "")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if g := ReadGit(ctx, dir); g != (Git{}) {
		t.Errorf("not a repository: %+v", g)
	}
	git(t, dir, "init", "-q", "-b", "main")
	if g := ReadGit(ctx, dir); g != (Git{}) {
		t.Errorf("a repository without commits: %+v", g)
	}
	bench := filepath.Join(dir, "bench", "bench.hcl")
	if err := os.MkdirAll(filepath.Dir(bench), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bench, []byte("# v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "one")
	head := git(t, dir, "rev-parse", "HEAD")
	sub := filepath.Dir(bench)
	if g := ReadGit(ctx, sub); g != (Git{Commit: head, Branch: "main"}) {
		t.Errorf("a clean checkout of main: %+v, want %s on main", g, head)
	}
	// An untracked file (a database, build output) is no change.
	if err := os.WriteFile(filepath.Join(sub, "wtb.db"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if g := ReadGit(ctx, sub); g.Dirty {
		t.Errorf("an untracked file made the tree dirty: %+v", g)
	}
	if err := os.WriteFile(bench, []byte("# v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if g := ReadGit(ctx, sub); !g.Dirty || g.Commit != head {
		t.Errorf("a modified tracked file: %+v, want dirty", g)
	}
	git(t, dir, "checkout", "-q", "--", ".")
	// A detached HEAD, as CI checks commits out: no branch, unless the CI
	// says which one, for this very commit.
	git(t, dir, "checkout", "-q", "--detach")
	if g := ReadGit(ctx, sub); g != (Git{Commit: head}) {
		t.Errorf("detached: %+v", g)
	}
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_SHA", head)
	t.Setenv("GITHUB_HEAD_REF", "feature/x")
	if g := ReadGit(ctx, sub); g.Branch != "feature/x" {
		t.Errorf("a GitHub pull request: %+v", g)
	}
	t.Setenv("GITHUB_SHA", "0000000000000000000000000000000000000000")
	if g := ReadGit(ctx, sub); g.Branch != "" {
		t.Errorf("a GitHub variable naming another commit was believed: %+v", g)
	}
	t.Setenv("GITHUB_ACTIONS", "")
	t.Setenv("GITLAB_CI", "true")
	t.Setenv("CI_COMMIT_SHA", head)
	t.Setenv("CI_COMMIT_BRANCH", "main")
	if g := ReadGit(ctx, sub); g.Branch != "main" {
		t.Errorf("a GitLab branch pipeline: %+v", g)
	}
	// No git at all: nothing, no error.
	t.Setenv("PATH", t.TempDir())
	if g := ReadGit(ctx, sub); g != (Git{}) {
		t.Errorf("without git: %+v", g)
	}
}
