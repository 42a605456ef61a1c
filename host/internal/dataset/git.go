package dataset

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Git is where in a git repository a bench file was when its batch started:
// the commit checked out, the branch ("" on a detached HEAD that no CI
// variable names) and whether tracked files had uncommitted changes. The zero
// value means the file is not in a repository (or git is not installed).
type Git struct {
	Commit string `json:"commit"`
	Branch string `json:"branch"`
	Dirty  bool   `json:"dirty"`
}

// GitTimeout bounds each git command: a repository on a hung network file
// system must not hold a batch up.
const GitTimeout = 5 * time.Second

// ReadGit reads the git state of the repository dir is in. It never fails:
// no git, no repository, a repository without commits or a command that
// times out all give the zero Git.
//
// Dirty counts modified tracked files only, as `git describe --dirty` does:
// an untracked wtb.db or build output beside the bench file is no change to
// what ran. On a detached HEAD — how CI systems check a commit out — the
// branch comes from the CI's own variables when they name one (GitHub's
// GITHUB_HEAD_REF for a pull request, GITHUB_REF_NAME for a push; GitLab's
// CI_MERGE_REQUEST_SOURCE_BRANCH_NAME, CI_COMMIT_BRANCH), and only when the
// commit they name is the one checked out.
func ReadGit(ctx context.Context, dir string) Git {
	run := func(args ...string) (string, bool) { return gitOutput(ctx, dir, args...) }
	commit, ok := run("rev-parse", "--verify", "--quiet", "HEAD")
	if !ok || commit == "" {
		return Git{}
	}
	g := Git{Commit: commit}
	if branch, ok := run("symbolic-ref", "--quiet", "--short", "HEAD"); ok {
		g.Branch = branch
	} else {
		g.Branch = ciBranch(commit)
	}
	if status, ok := run("status", "--porcelain", "--untracked-files=no"); ok {
		g.Dirty = status != ""
	}
	return g
}

// ciBranch is the branch a CI job says it checked out at commit, or "".
func ciBranch(commit string) string {
	env := os.Getenv
	switch {
	case env("GITHUB_ACTIONS") == "true":
		// A pull request checks out a merge commit (GITHUB_SHA): its branch
		// is the pull request's head. A push checks out the branch's commit.
		if env("GITHUB_SHA") != commit {
			return ""
		}
		if b := env("GITHUB_HEAD_REF"); b != "" {
			return b
		}
		if env("GITHUB_REF_TYPE") == "branch" {
			return env("GITHUB_REF_NAME")
		}
	case env("GITLAB_CI") == "true":
		if env("CI_COMMIT_SHA") != commit {
			return ""
		}
		if b := env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"); b != "" {
			return b
		}
		return env("CI_COMMIT_BRANCH") // "" for a tag
	}
	return ""
}

// RepositoryRoot is the top directory of the git repository dir is in, or ""
// outside one.
func RepositoryRoot(ctx context.Context, dir string) string {
	root, _ := gitOutput(ctx, dir, "rev-parse", "--show-toplevel")
	return root
}

// gitOutput runs git in dir, bounded by GitTimeout, and returns what it
// printed, trimmed; false when it failed, timed out or is not installed.
func gitOutput(ctx context.Context, dir string, args ...string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, GitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	// A read must not take the index lock another git (an editor's, a
	// user's commit) may want, nor ask for credentials.
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "GIT_TERMINAL_PROMPT=0")
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}
