package e2e

import (
	"context"
	"fmt"
	"regexp"
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
	child := newBatchID(t, r.stderr)
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

// logForkBench: retrieve writes a line to stderr; answer has the given
// variants.
func logForkBench(answerVariants string) string {
	return `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "retrieve" {
    command = ["sh", "-c", "cat >/dev/null; echo 'retrieving the documents' >&2; echo '{\"docs\": 2}'"]
    variant "bm25" {}
    variant "dense" { params = { dense = true } }
  }
  node "answer" {
    depends_on = ["retrieve"]
    command    = ["sh", "-c", "cat >/dev/null; echo '{\"answer\": \"Paris\"}'"]
` + answerVariants + `
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.pool
  repeat   = 2
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
  case "c3" { input = { q = 3 } }
}
`
}

// A fork keeps the stderr of the node runs it reuses, counts node runs the
// same way when it starts and when it ends, and — when the file adds a
// variant — says how many combinations are new and offers the command that
// runs only those, which then runs nothing the parent already ran.
func TestForkKeepsLogsCountsOnceAndRunsOnlyWhatIsNew(t *testing.T) {
	e := newEnv(t)
	e.write("v1.hcl", logForkBench(`    variant "t0" {}`))
	parent := batchID(t, e.mustRun("run", "v1.hcl", "--no-progress").stderr)
	e.write("v2.hcl", logForkBench("    variant \"t0\" {}\n    variant \"t1\" { params = { temperature = 1 } }"))

	r := e.mustRun("fork", parent, "--from", "retrieve", "v2.hcl", "--no-progress")
	child := newBatchID(t, r.stderr)
	start := regexp.MustCompile(`node runs: (\d+) to run, (\d+) reused from stored checkpoints`).FindStringSubmatch(r.stderr)
	end := regexp.MustCompile(`(\d+) node runs, (\d+) reused from stored checkpoints`).FindStringSubmatch(r.stderr)
	if start == nil || end == nil || start[1] != end[1] || start[2] != end[2] || start[1] != "24" || start[2] != "12" {
		t.Errorf("the fork should count 24 node runs to run and 12 reused, at the start as at the end (%v, %v):\n%s", start, end, r.stderr)
	}
	// The reused retrieve runs keep the stderr the parent stored.
	show := e.mustRun("show", "retrieve=dense,answer=t1/c2/1", "--batch", child, "--logs").stdout
	if !regexp.MustCompile(`1\. retrieve=dense  \[forked.*\n(.*\n)*?\s+stderr \| retrieving the documents`).MatchString(show) {
		t.Errorf("show of a forked execution lost the reused node's stderr:\n%s", show)
	}

	hint := regexp.MustCompile("2 of 4 combinations are new since batch " + parent +
		` \(retrieve=bm25,answer=t1, retrieve=dense,answer=t1\); the other 2 would run again as the parent ran them: ` +
		"`(wtb fork [^`]*--only-new[^`]*)` runs only the new").FindStringSubmatch(r.stderr)
	if hint == nil {
		t.Fatalf("no hint to run only the new combinations:\n%s", r.stderr)
	}
	p := pasted(t, e, hint[1])
	if p.code != 0 {
		t.Fatalf("the printed %q: exit %d\n%s%s", hint[1], p.code, p.stdout, p.stderr)
	}
	only := newBatchID(t, p.stderr)
	st := e.store()
	rs := e.results(st, only)
	assertExactlyOnce(t, rs, 2*3*2)
	for _, res := range rs {
		if !strings.HasSuffix(res.Combination, "answer=t1") {
			t.Errorf("--only-new ran %s, which the parent ran", res.ExecutionKey)
		}
	}
	if ran := ranCount(t, st, only); ran["retrieve"] != 0 || ran["answer"] != 12 {
		t.Errorf("node runs of --only-new: %v; want retrieve 0, answer 12", ran)
	}
	if cmp := e.run("compare", parent, only); cmp.code != 0 || !strings.Contains(cmp.stdout, "B was forked from A at node retrieve") ||
		strings.Count(cmp.stdout, "new in B") != 2 || strings.Count(cmp.stdout, "only in A") != 2 {
		t.Errorf("compare parent → only-new fork: exit %d\n%s", cmp.code, cmp.stdout)
	}
	if r := e.run("fork", parent, "--from", "retrieve", "v1.hcl", "--only-new"); r.code != 2 || !strings.Contains(r.stderr, "nothing is new") {
		t.Errorf("--only-new with nothing new: exit %d\n%s", r.code, r.stderr)
	}
}

// newBatchID is the id of the batch a run, fork or resume starts, from the
// line that says what it runs.
func newBatchID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^batch (\S+): \d+ combinations? ×`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no new batch in:\n%s", out)
	}
	return m[1]
}

// A node run served from the node cache keeps the stderr it wrote when it
// ran, as a forked one does: show --logs of the second batch has it.
func TestCachedNodeRunsKeepTheirStderr(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", strings.Replace(logForkBench(`    variant "t0" {}`), `variant "bm25" {}`, "cache = true\n    variant \"bm25\" {}", 1))
	e.mustRun("run", "bench.hcl", "--no-progress")
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	if !strings.Contains(r.stderr, "12 from cache") {
		t.Fatalf("the second run should take retrieve from the cache:\n%s", r.stderr)
	}
	show := e.mustRun("show", "retrieve=bm25,answer=t0/c1/0", "--logs").stdout
	if !regexp.MustCompile(`1\. retrieve=bm25  \[cached.*\n(.*\n)*?\s+stderr \| retrieving the documents`).MatchString(show) {
		t.Errorf("show of an execution with a cached node run lost its stderr:\n%s", show)
	}
}
