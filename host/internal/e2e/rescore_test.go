package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/jsondoc"
)

// rescoreBench: two nodes, the first writes a document list, the second an
// answer; scoring looks at the answer only.
const rescoreBench = `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "retrieve" {
    command = ["sh", "-c", "cat >/dev/null; echo '{\"docs\": [\"Lyon\", \"Paris\"]}'"]
  }
  node "answer" {
    depends_on = ["retrieve"]
    command    = ["sh", "-c", "in=$(cat); case \"$in\" in *terse*) echo '{\"answer\": \"Paris\"}';; *) echo '{\"answer\": \"It is Paris\"}';; esac"]
    variant "terse" { params = { style = "terse" } }
    variant "long" { params = { style = "long" } }
  }
}
batch_test "r" {
  workflow = workflow.w
  runner   = runner.pool
  repeat   = 2
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
  evaluator "exact" {
    type   = "equals"
    path   = "$.answer"
    expect = "Paris"
  }
}
`

// Rescoring runs no node: with the batch's own evaluators it reproduces the
// scores exactly; with a changed file it stores new scores, linked to the
// original, and the thresholds of the file decide the exit code.
func TestRescoreRunsNoNode(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", rescoreBench)
	id := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
	checkpoints := func(batch string) int {
		cps, err := e.store().Checkpoints().ListByBatch(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		return len(cps)
	}
	before := checkpoints(id)

	same := e.mustRun("rescore", id, "--format", "json")
	if !strings.Contains(same.stderr, "rescored 8 executions of batch "+id+"; 0 node runs") {
		t.Errorf("rescore says:\n%s", same.stderr)
	}
	sameID := batchID(t, same.stderr)
	st := e.store()
	orig := map[string]float64{}
	for _, r := range e.results(st, id) {
		orig[r.ExecutionKey] = r.OverallScore
	}
	for _, r := range e.results(st, sameID) {
		if s, ok := orig[r.ExecutionKey]; !ok || s != r.OverallScore {
			t.Errorf("%s: rescored %v, originally %v", r.ExecutionKey, r.OverallScore, s)
		}
	}
	if len(e.results(st, sameID)) != 8 {
		t.Errorf("the rescored batch holds %d results, want 8", len(e.results(st, sameID)))
	}

	// Score the retrieve node instead, with a threshold the long answers miss.
	changed := strings.Replace(rescoreBench, `  evaluator "exact" {
    type   = "equals"
    path   = "$.answer"
    expect = "Paris"
  }`, `  evaluator "top_doc" {
    type   = "equals"
    node   = "retrieve"
    path   = "$.docs[1]"
    expect = "Paris"
  }
  evaluator "exact" {
    type   = "equals"
    path   = "$.answer"
    expect = "Paris"
  }
  threshold {
    overall_score = 0.9
    applies_to    = "all"
  }`, 1)
	e.write("changed.hcl", changed)
	r := e.run("rescore", id, "changed.hcl", "--format", "json")
	if r.code != 1 {
		t.Fatalf("rescore with a missed threshold: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkDoc(t, "rescore", r.stdout)
	var board jsondoc.Leaderboard
	_ = json.Unmarshal([]byte(r.stdout), &board)
	means := map[string]float64{}
	for _, c := range board.Summary.Combos {
		means[c.Combination] = c.Mean
	}
	if means["answer=terse"] != 1 || means["answer=long"] != 0.5 {
		t.Errorf("rescored means %v: terse 1 (both evaluators), long 0.5 (top_doc only)", means)
	}
	if board.Batch.Lineage != "rescore" || board.Batch.ParentID != id {
		t.Errorf("lineage: %+v", board.Batch)
	}
	newID := board.BatchID
	if after, own := checkpoints(id), checkpoints(newID)+checkpoints(sameID); after != before || own != 0 {
		t.Errorf("rescoring stored checkpoints: the original has %d (had %d), the rescores %d", after, before, own)
	}
	aud := e.mustRunOK("audit", newID, "--level", "DEBUG")
	if strings.Contains(aud, "plugin.started") || !strings.Contains(aud, "no node ran") {
		t.Errorf("a rescore's audit trail:\n%s", aud)
	}
	// Its executions show node by node from the original's checkpoints.
	if show := e.mustRunOK("show", "answer=long/c1/0", "--batch", newID); !strings.Contains(show, "2. answer=long") {
		t.Errorf("show of a rescored execution:\n%s", show)
	}
	if cmp := e.run("compare", id, newID, "--cases"); !strings.Contains(cmp.stdout, "same node outputs; the evaluators scored them differently") {
		t.Errorf("compare original → rescored:\n%s", cmp.stdout)
	}
	if r := e.run("resume", newID); r.code != 2 || !strings.Contains(r.stderr, "rescore "+id+" again") {
		t.Errorf("resume of a rescore: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.run("fork", newID, "--from", "retrieve"); r.code != 2 || !strings.Contains(r.stderr, "fork "+id+" instead") {
		t.Errorf("fork of a rescore: exit %d\n%s", r.code, r.stderr)
	}
	list := e.mustRunOK("results", "--list")
	if !strings.Contains(list, "rescore of "+id) {
		t.Errorf("results --list:\n%s", list)
	}
}
