package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/testbin"
)

func forkBench(hashnode, retrieveParams, answerVariants string) string {
	return fmt.Sprintf(`
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "retrieve" {
    command = [%q]
    params  = %s
    variant "bm25" {}
    variant "dense" { params = { dense = true } }
  }
  node "answer" {
    depends_on = ["retrieve"]
    command    = [%q]
%s
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.pool
  repeat   = 2
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
  evaluator "low" {
    type    = "regex"
    path    = "$.n_answer"
    pattern = "^[0-7]"
  }
}
`, hashnode, retrieveParams, hashnode, answerVariants)
}

func TestForkRunsOnlyTheNodesAfterTheForkPoint(t *testing.T) {
	hashnode := testbin.Build(t, "hashnode", "./host/internal/testplugins/hashnode")
	e := newEnv(t)
	e.write("v1.hcl", forkBench(hashnode, `{ k = 2 }`, `    variant "t0" {}`))
	parent := batchID(t, e.mustRun("run", "v1.hcl", "--no-progress").stderr)

	// A new prompt variant for the last node: only "answer" runs.
	e.write("v2.hcl", forkBench(hashnode, `{ k = 2 }`, "    variant \"t0\" {}\n    variant \"t1\" { params = { temperature = 1 } }"))
	r := e.mustRun("fork", parent, "--from", "retrieve", "v2.hcl", "--no-progress")
	child := batchID(t, r.stderr[strings.Index(r.stderr, "batch "+parent)+30:])
	if child == parent {
		t.Fatalf("no new batch id in:\n%s", r.stderr)
	}
	st := e.store()
	b, err := st.Batches().Get(context.Background(), child)
	if err != nil || b.ParentID != parent || b.ForkNode != "retrieve" {
		t.Fatalf("lineage: %+v %v", b, err)
	}
	assertExactlyOnce(t, e.results(st, child), 2*2*2*2)
	ran := ranCount(t, st, child)
	if ran["retrieve"] != 0 || ran["answer"] != 16 {
		t.Errorf("node runs in the fork: %v; want retrieve 0 and answer 16", ran)
	}
	// The combinations the parent also ran give the same results.
	a, c := outcomes(t, st, parent), outcomes(t, st, child)
	for k, oa := range a {
		if oc := c[k]; oc.state != oa.state {
			t.Errorf("%s differs between parent and fork:\n %s\n %s", k, oa.state, oc.state)
		}
	}
	cmp := e.run("compare", parent, child)
	if cmp.code != 0 || !strings.Contains(cmp.stdout, "forked from A at node retrieve") || !strings.Contains(cmp.stdout, "new in B") {
		t.Errorf("compare across the fork (exit %d):\n%s%s", cmp.code, cmp.stdout, cmp.stderr)
	}
	show := e.mustRun("show", "--batch", child, "retrieve=dense,answer=t1/c1/0").stdout
	if !strings.Contains(show, "retrieve=dense  [forked") {
		t.Errorf("show should mark the reused node as forked:\n%s", show)
	}

	// The node before the fork point changed: the parent's checkpoints are
	// not the state this workflow would produce, so the fork is refused.
	e.write("v3.hcl", forkBench(hashnode, `{ k = 3 }`, `    variant "t0" {}`))
	r = e.run("fork", parent, "--from", "retrieve", "v3.hcl", "--no-progress")
	if r.code != 2 || !strings.Contains(r.stderr, `node "retrieve"`) || !strings.Contains(r.stderr, "changed since the parent ran") {
		t.Errorf("fork over a changed node: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run("fork", parent, "--from", "nope", "v2.hcl")
	if r.code != 2 || !strings.Contains(r.stderr, `no node "nope"`) {
		t.Errorf("fork from an unknown node: exit %d\n%s", r.code, r.stderr)
	}
}

func TestCompareShowsWhereOutputsFirstDiverge(t *testing.T) {
	hashnode := testbin.Build(t, "hashnode", "./host/internal/testplugins/hashnode")
	e := newEnv(t)
	e.write("a.hcl", forkBench(hashnode, `{ k = 2 }`, `    variant "t0" {}`))
	e.write("b.hcl", forkBench(hashnode, `{ k = 2 }`, `    variant "t0" { params = { changed = true } }`))
	a := batchID(t, e.mustRun("run", "a.hcl", "--no-progress").stderr)
	b := batchID(t, e.mustRun("run", "b.hcl", "--no-progress").stderr)
	out := e.run("compare", a, b, "--cases").stdout
	if !strings.Contains(out, "first differs at answer: ~ $.n_answer") {
		t.Errorf("compare --cases should point at the answer node:\n%s", out)
	}
	if strings.Contains(out, "first differs at retrieve") {
		t.Errorf("retrieve did not change:\n%s", out)
	}
}

func TestNodeCacheAcrossBatches(t *testing.T) {
	e := newEnv(t)
	e.write("step.sh", "#!/bin/sh\ncat >/dev/null\necho '{\"v\": 1}'\n")
	e.write("bench.hcl", `
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "expensive" {
    command = ["sh", "step.sh"]
    cache   = true
  }
  node "cheap" {
    depends_on = ["expensive"]
    kind       = "merge"
    params     = { done = true }
    variant "a" {}
    variant "b" { params = { b = 1 } }
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.pool
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
  case "c3" { input = { q = 3 } }
}
`)
	st := e.store()
	runs := func() map[string]int {
		r := e.mustRun("run", "bench.hcl", "--no-progress")
		return ranCount(t, st, batchID(t, r.stderr))
	}
	if got := runs(); got["expensive"] != 3 {
		t.Fatalf("first run: %v", got)
	}
	plan := e.mustRun("plan", "bench.hcl").stdout
	if !strings.Contains(plan, "expensive  0         6                     3                  3") {
		t.Errorf("plan should show 3 cache hits for expensive:\n%s", plan)
	}
	if got := runs(); got["expensive"] != 0 || got["cheap"] != 6 {
		t.Errorf("second run should take expensive from the cache: %v", got)
	}
	if out := e.mustRun("cache", "stats").stdout; !strings.Contains(out, "3 entries") {
		t.Errorf("cache stats: %s", out)
	}
	// Editing the script the node names invalidates its cache entries.
	e.write("step.sh", "#!/bin/sh\ncat >/dev/null\necho '{\"v\": 2}'\n")
	if got := runs(); got["expensive"] != 3 {
		t.Errorf("after editing step.sh the node must run again: %v", got)
	}
	e.mustRun("cache", "clear")
	if got := runs(); got["expensive"] != 3 {
		t.Errorf("after cache clear the node must run again: %v", got)
	}
}
