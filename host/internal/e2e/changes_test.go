package e2e

// Resume and fork refuse to continue a batch whose scripts or environment
// files changed under it, since the stored prefix would no longer be what
// the rest would build on. Each runs the built binaries.

import (
	"strings"
	"syscall"
	"testing"
)

const forkScriptBench = `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "prep" {
    command = ["sh", "prep.sh"]
  }
  node "answer" {
    depends_on = ["prep"]
    command    = ["sh", "-c", "cat >/dev/null; echo '{\"answered\": true}'"]
    variant "a" {}
    variant "b" { params = { x = 1 } }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.pool
  case "c1" { input = {} }
  evaluator "v2" {
    type   = "equals"
    path   = "$.prep"
    expect = "v2"
  }
}
`

// A fork reuses the parent's checkpoints only for nodes that would compute the
// same thing now; it compares against what the parent ran (the script hashes
// stored with it), not against the files as they are now.
func TestForkRefusesWhenAnUpstreamScriptChanged(t *testing.T) {
	e := newEnv(t)
	e.write("prep.sh", "cat >/dev/null; echo '{\"prep\": \"v1\"}'\n")
	e.write("bench.hcl", forkScriptBench)
	parent := batchID(t, e.run("run", "bench.hcl", "--no-progress").stderr)

	e.write("prep.sh", "cat >/dev/null; echo '{\"prep\": \"v2\"}'\n")
	for _, args := range [][]string{{"fork", parent, "--from", "prep", "bench.hcl"}, {"fork", parent, "--from", "prep"}} {
		r := e.run(append(args, "--no-progress")...)
		noCrash(t, "fork", r)
		if r.code != 2 || !strings.Contains(r.stderr, `node "prep"`) || !strings.Contains(r.stderr, "prep.sh changed since the parent ran") {
			t.Errorf("wtb %v: exit %d, want 2 naming node prep and prep.sh:\n%s", args, r.code, r.stderr)
		}
	}
	// Forking further down does not help: the changed node is still upstream.
	r := e.run("fork", parent, "--from", "answer", "bench.hcl", "--no-progress")
	if r.code != 2 || !strings.Contains(r.stderr, "prep.sh") {
		t.Errorf("fork --from answer: exit %d:\n%s", r.code, r.stderr)
	}
	// Restoring the script makes the fork valid again.
	e.write("prep.sh", "cat >/dev/null; echo '{\"prep\": \"v1\"}'\n")
	e.mustRun("fork", parent, "--from", "prep", "bench.hcl", "--no-progress")
}

// Resuming a batch whose scripts changed since it started would mix two
// versions of a node in one batch: refused, naming the file and its node.
func TestResumeRefusesChangedScripts(t *testing.T) {
	e := newEnv(t)
	e.write("work.sh", "cat >/dev/null; sleep 0.05; echo '{\"v\": 1}'\n")
	e.write("slow.hcl", strings.Replace(slowBench, `command = ["sh", "-c", "sleep 0.05; echo '{\"done\": true}'"]`, `command = ["sh", "work.sh"]`, 1))
	proc, id, wait := startBatch(t, e, "slow.hcl", 5)
	_ = proc.Signal(syscall.SIGKILL)
	wait()
	e.write("work.sh", "cat >/dev/null; echo '{\"v\": 2}'\n")
	r := e.run("resume", id)
	noCrash(t, "resume", r)
	if r.code != 2 || !strings.Contains(r.stderr, "work.sh") || !strings.Contains(r.stderr, `node "work"`) {
		t.Fatalf("resume with a changed script: exit %d, want 2 naming work.sh and node work:\n%s", r.code, r.stderr)
	}
	e.write("work.sh", "cat >/dev/null; sleep 0.05; echo '{\"v\": 1}'\n")
	e.mustRun("resume", id)
	assertExactlyOnce(t, e.results(e.store(), id), 120)
}

// Files the environment names (here a setup script; a Ray working_dir the
// same) are part of what a batch ran with: resume and fork refuse when they
// changed, as for a node's own script.
func TestResumeAndForkRefuseChangedEnvironmentFiles(t *testing.T) {
	e := newEnv(t)
	e.write("prep.sh", "echo v1 > \"$WTB_SETUP_DIR/version\"\n")
	bench := strings.Replace(slowBench, `runner "pool" {`, `environment "local" {
  plugin = "local"
  setup  = ["sh", "${path.root}/prep.sh"]
}
runner "pool" {`, 1)
	bench = strings.Replace(bench, `  runner      = runner.pool`, `  runner      = runner.pool
  environment = environment.local`, 1)
	e.write("slow.hcl", bench)
	proc, id, wait := startBatch(t, e, "slow.hcl", 5)
	_ = proc.Signal(syscall.SIGKILL)
	wait()
	e.write("prep.sh", "echo v2 > \"$WTB_SETUP_DIR/version\"\n")
	r := e.run("resume", id)
	noCrash(t, "resume", r)
	if r.code != 2 || !strings.Contains(r.stderr, "prep.sh") || !strings.Contains(r.stderr, "named by the environment") {
		t.Fatalf("resume with a changed environment file: exit %d, want 2 naming prep.sh:\n%s", r.code, r.stderr)
	}
	e.write("prep.sh", "echo v1 > \"$WTB_SETUP_DIR/version\"\n")
	e.mustRun("resume", id, "--no-progress")
	assertExactlyOnce(t, e.results(e.store(), id), 120)

	// A fork reusing nodes that ran with the old contents is refused.
	e.write("two.hcl", `
environment "local" {
  plugin = "local"
  setup  = ["sh", "${path.root}/prep.sh"]
}
runner "pool" { plugin = "pool" }
workflow "w" {
  node "a" { command = ["sh", "-c", "cat >/dev/null; echo '{\"a\": 1}'"] }
  node "b" {
    depends_on = ["a"]
    command    = ["sh", "-c", "cat >/dev/null; echo '{\"b\": 1}'"]
  }
}
batch_test "t" {
  workflow    = workflow.w
  runner      = runner.pool
  environment = environment.local
  case "c" { input = {} }
}
`)
	parent := batchID(t, e.mustRun("run", "two.hcl", "--no-progress").stderr)
	e.write("prep.sh", "echo v3 > \"$WTB_SETUP_DIR/version\"\n")
	r = e.run("fork", parent, "--from", "b", "--no-progress")
	noCrash(t, "fork", r)
	if r.code != 2 || !strings.Contains(r.stderr, "prep.sh, which its environment names, changed since it ran") {
		t.Fatalf("fork with a changed environment file: exit %d:\n%s", r.code, r.stderr)
	}
	e.write("prep.sh", "echo v1 > \"$WTB_SETUP_DIR/version\"\n")
	e.mustRun("fork", parent, "--from", "b", "--no-progress")
}
