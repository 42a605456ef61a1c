package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/testbin"
)

// workflowCase is a workflow shape for the sharing tests: nodes in
// declaration order with their dependencies and variant counts.
type workflowCase struct {
	name  string
	nodes []wfNode
}

type wfNode struct {
	name     string
	deps     []string
	variants int
}

func (w workflowCase) hcl(hashnode string, cases, repeat int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "variable \"share\" {\n  type    = bool\n  default = true\n}\n")
	fmt.Fprintf(&b, "runner \"pool\" {\n  plugin      = \"pool\"\n  max_workers = 8\n}\n")
	fmt.Fprintf(&b, "workflow \"w\" {\n")
	for _, n := range w.nodes {
		fmt.Fprintf(&b, "  node %q {\n    command = [%q]\n", n.name, hashnode)
		if len(n.deps) > 0 {
			fmt.Fprintf(&b, "    depends_on = %s\n", quoteList(n.deps))
		}
		for v := 0; v < n.variants; v++ {
			fmt.Fprintf(&b, "    variant \"v%d\" { params = { v = %d } }\n", v, v)
		}
		fmt.Fprintf(&b, "  }\n")
	}
	fmt.Fprintf(&b, "}\n")
	last := w.nodes[len(w.nodes)-1].name
	fmt.Fprintf(&b, "batch_test \"share\" {\n  workflow = workflow.w\n  runner = runner.pool\n  repeat = %d\n  share_prefixes = var.share\n", repeat)
	for c := 0; c < cases; c++ {
		fmt.Fprintf(&b, "  case \"c%d\" { input = { q = %d } }\n", c, c)
	}
	fmt.Fprintf(&b, "  evaluator \"low\" {\n    type = \"regex\"\n    path = \"$.n_%s\"\n    pattern = \"^[0-7]\"\n  }\n}\n", last)
	return b.String()
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// distinctPrefixes counts node runs with sharing: per case and repeat, node i
// runs once per distinct choice of variants of the nodes up to i (in order).
func (w workflowCase) distinctPrefixes(cases, repeat int) (shared, unshared int) {
	prod, total := 1, 1
	for _, n := range w.nodes {
		total *= max(1, n.variants)
	}
	for _, n := range w.nodes {
		prod *= max(1, n.variants)
		shared += cases * repeat * prod
	}
	return shared, len(w.nodes) * cases * repeat * total
}

type outcome struct {
	state  string
	scores map[string]float64
	ok     bool
}

func outcomes(t *testing.T, st store.Store, id string) map[string]outcome {
	t.Helper()
	ctx := context.Background()
	out := map[string]outcome{}
	rs, err := st.Results().List(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		cp, err := st.Checkpoints().Get(ctx, r.FinalCheckpointID)
		if err != nil {
			t.Fatalf("%s: final checkpoint: %v", r.ExecutionKey, err)
		}
		var m map[string]any
		_ = json.Unmarshal(cp.State, &m)
		canon, _ := json.Marshal(m)
		out[r.ExecutionKey] = outcome{string(canon), r.Scores, r.Success}
	}
	return out
}

func ranCount(t *testing.T, st store.Store, id string) map[string]int {
	t.Helper()
	cps, err := st.Checkpoints().ListByBatch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{"total": 0}
	for _, c := range cps {
		if c.Source == store.SourceRan {
			per[c.Node]++
			per["total"]++
		}
	}
	return per
}

func TestPrefixSharingNeverChangesResults(t *testing.T) {
	hashnode := testbin.Build(t, "hashnode", "./host/internal/testplugins/hashnode")
	shapes := []workflowCase{
		{"one-node", []wfNode{{"a", nil, 3}}},
		{"variants-last", []wfNode{{"a", nil, 0}, {"b", []string{"a"}, 3}}},
		{"variants-first-and-last", []wfNode{{"a", nil, 2}, {"b", []string{"a"}, 0}, {"c", []string{"b"}, 3}}},
		{"diamond", []wfNode{{"a", nil, 2}, {"b", []string{"a"}, 2}, {"c", []string{"a"}, 0}, {"d", []string{"b", "c"}, 2}}},
	}
	const cases, repeat = 3, 2
	for _, db := range []string{sqliteStore, postgresStore} {
		for _, w := range shapes {
			t.Run(db+"/"+w.name, func(t *testing.T) {
				e := newEnvOn(t, db)
				e.write("bench.hcl", w.hcl(hashnode, cases, repeat))
				shared := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
				alone := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress", "--var", "share=false").stderr)
				st := e.store()
				a, b := outcomes(t, st, shared), outcomes(t, st, alone)
				if len(a) != len(b) || len(a) == 0 {
					t.Fatalf("%d vs %d executions", len(a), len(b))
				}
				for k, oa := range a {
					if ob, ok := b[k]; !ok || !reflect.DeepEqual(oa, ob) {
						t.Errorf("%s differs:\n  shared %+v\n  alone  %+v", k, oa, ob)
					}
				}
				wantShared, wantUnshared := w.distinctPrefixes(cases, repeat)
				if got := ranCount(t, st, shared)["total"]; got != wantShared {
					t.Errorf("node runs with sharing: %d, want the %d distinct prefixes", got, wantShared)
				}
				if got := ranCount(t, st, alone)["total"]; got != wantUnshared {
					t.Errorf("node runs without sharing: %d, want %d", got, wantUnshared)
				}
				plan := e.mustRun("plan", "bench.hcl").stdout
				if !regexp.MustCompile(fmt.Sprintf(`total\s+%d\s+%d\s+0`, wantUnshared, wantShared)).MatchString(plan) {
					t.Errorf("wtb plan does not show %d/%d node runs:\n%s", wantUnshared, wantShared, plan)
				}
			})
		}
	}
}

func TestFailureInASharedPrefix(t *testing.T) {
	hashnode := testbin.Build(t, "hashnode", "./host/internal/testplugins/hashnode")
	e := newEnv(t)
	bench := func(env string) string {
		return fmt.Sprintf(`
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "first" {
    command = [%q]
    env     = %s
  }
  node "second" {
    depends_on = ["first"]
    command    = [%q]
    variant "x" {}
    variant "y" { params = { y = 1 } }
    variant "z" { params = { z = 1 } }
  }
}
batch_test "b" {
  workflow      = workflow.w
  runner        = runner.pool
  max_retries   = 2
  retry_backoff = "10ms"
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
}
`, hashnode, env, hashnode)
	}
	e.write("fail.hcl", bench(`{ HASHNODE_FAIL = "first" }`))
	id := batchID(t, e.mustRun("run", "fail.hcl", "--no-progress").stderr)
	st := e.store()
	rs := e.results(st, id)
	assertExactlyOnce(t, rs, 6)
	errs := map[string]string{}
	for _, r := range rs {
		if r.Success || r.FailedNode != "first" || !strings.Contains(r.Error, "first fails on purpose") {
			t.Errorf("%s: success=%v node=%q error=%q", r.ExecutionKey, r.Success, r.FailedNode, r.Error)
		}
		if prev, ok := errs[r.CaseID]; ok && prev != r.Error {
			t.Errorf("executions sharing the failed node report different errors: %q vs %q", prev, r.Error)
		}
		errs[r.CaseID] = r.Error
	}
	if ran := ranCount(t, st, id); ran["total"] != 0 {
		t.Errorf("node runs stored for a batch whose shared first node failed: %v", ran)
	}

	// A transient failure of the shared node is retried once, not once per
	// execution that depends on it.
	marker := e.dir + "/failed-once"
	e.write("retry.hcl", bench(fmt.Sprintf(`{ HASHNODE_FAIL_ONCE = %q, HASHNODE_FAIL_ONCE_NODE = "first" }`, marker)))
	id = batchID(t, e.mustRun("run", "retry.hcl", "--no-progress").stderr)
	for _, r := range e.results(st, id) {
		if !r.Success {
			t.Errorf("%s: %s", r.ExecutionKey, r.Error)
		}
	}
	if ran := ranCount(t, st, id); ran["first"] != 2 || ran["second"] != 6 {
		t.Errorf("node runs %v; want first once per case (2) and second 6", ran)
	}
	aud := e.mustRun("audit", id, "--type", "execution.retried").stdout
	if n := strings.Count(aud, "execution.retried"); n != 1 {
		t.Errorf("want exactly one retry of the shared node, audit shows %d:\n%s", n, aud)
	}
}

func TestKilledMidSharedPrefixThenResume(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", `
runner "pool" {
  plugin      = "pool"
  max_workers = 2
}
workflow "w" {
  node "slow" {
    command = ["sh", "-c", "sleep 0.2; echo '{\"slow\": 1}'"]
  }
  node "fan" {
    depends_on = ["slow"]
    command    = ["sh", "-c", "sleep 0.05; echo '{\"fan\": 1}'"]
    variant "a" {}
    variant "b" { params = { b = 1 } }
    variant "c" { params = { c = 1 } }
    variant "d" { params = { d = 1 } }
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.pool
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
  case "c3" { input = { q = 3 } }
  case "c4" { input = { q = 4 } }
  case "c5" { input = { q = 5 } }
  case "c6" { input = { q = 6 } }
}
`)
	proc, id, wait := startBatch(t, e, "bench.hcl", 3)
	_ = proc.Signal(syscall.SIGKILL)
	wait()
	st := e.store()
	before := ranCount(t, st, id)
	r := e.mustRun("resume", id)
	assertExactlyOnce(t, e.results(st, id), 24)
	after := ranCount(t, st, id)
	if after["slow"] != 6 || after["fan"] != 24 {
		t.Errorf("node runs after resume %v (before %v); want slow 6, fan 24", after, before)
	}
	if before["slow"] > 0 && !strings.Contains(r.stderr, "reused from stored checkpoints") {
		t.Errorf("resume should reuse the stored shared checkpoints:\n%s", r.stderr)
	}
}
