package sched

import (
	"context"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

// sharedPrefix: a → b → c with three variants of c, two cases.
func sharedPrefix(settings string) string {
	return `
workflow "w" {
  node "a" { kind = "go" }
  node "b" {
    kind       = "go"
    depends_on = ["a"]
  }
  node "c" {
    kind       = "go"
    depends_on = ["b"]
    variant "1" { params = { n = 1 } }
    variant "2" { params = { n = 2 } }
    variant "3" { params = { n = 3 } }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.test
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
` + settings + "\n}\n"
}

// With prefix sharing, the three combinations of a case run a and b once:
// one request for the prefix, then one per variant of c from its checkpoint.
func TestPrefixSharing(t *testing.T) {
	h := newHarness(t, sharedPrefix(""))
	obs := newObserver()
	rep := h.run("b1", func(c *Config) { c.Observer = obs })
	if rep.Succeeded != 6 || rep.NodeRuns != 2+2+6 || rep.RoundTrips != 2+6 {
		t.Fatalf("report %+v; want 6 executions from 10 node runs in 8 requests", rep)
	}
	if a, b, c := h.runner.runs("a"), h.runner.runs("b"), h.runner.runs("c"); a != 2 || b != 2 || c != 6 {
		t.Errorf("node runs a %d, b %d, c %d; want 2, 2, 6", a, b, c)
	}
	cps := map[string]store.Checkpoint{}
	for _, cp := range h.checkpoints("b1") {
		cps[cp.ID] = cp
	}
	prefixes, suffixes := 0, 0
	for _, req := range h.runner.reqs() {
		switch nodesOf(req) {
		case "a,b":
			prefixes++
		case "c":
			suffixes++
			from := cps[req.StartCheckpointID]
			if from.Node != "b" || string(req.StartState) != string(from.State) {
				t.Errorf("%s starts from %s %s", req.ExecutionKey, from.Node, req.StartState)
			}
		default:
			t.Errorf("request for %s", nodesOf(req))
		}
	}
	if prefixes != 2 || suffixes != 6 {
		t.Errorf("%d prefix and %d suffix requests", prefixes, suffixes)
	}
	for key, r := range h.results("b1") {
		st := stateOf(t, cps[r.FinalCheckpointID].State)
		if st["a"] != "ran" || st["b"] != "ran" || st["c"] != r.Variants["c"] {
			t.Errorf("%s: final state %v", key, st)
		}
	}
	if obs.nodeRuns["a"] != 2 || obs.nodeRuns["c"] != 6 || obs.started != 6 {
		t.Errorf("observer %+v", obs)
	}
}

// Without sharing every execution runs its whole chain.
func TestNoPrefixSharing(t *testing.T) {
	h := newHarness(t, sharedPrefix("share_prefixes = false"))
	rep := h.run("b1")
	if rep.Succeeded != 6 || rep.NodeRuns != 18 || h.runner.runs("a") != 6 {
		t.Fatalf("report %+v, a ran %d times", rep, h.runner.runs("a"))
	}
	for _, req := range h.runner.reqs() {
		if nodesOf(req) != "a,b,c" {
			t.Errorf("request for %s", nodesOf(req))
		}
	}
}

// A failure in a shared prefix fails every execution under it, with one
// request and one error.
func TestFailureInASharedPrefix(t *testing.T) {
	h := newHarness(t, sharedPrefix("max_retries = 0"))
	h.runner.on("b", onCase(fail("b broke"), "c1"))
	rep := h.run("b1")
	if rep.Failed != 3 || rep.Succeeded != 3 || rep.RoundTrips != 2+3 {
		t.Fatalf("report %+v", rep)
	}
	for key, r := range h.results("b1") {
		if strings.Contains(key, "/c1/") && (r.Error != "b broke" || r.FailedNode != "b") {
			t.Errorf("%s: %+v", key, r)
		}
	}
}

// A prefix made only of built-in merge nodes runs in the host: the runner
// never sees it, and its checkpoints name the host as their worker.
func TestBuiltinPrefixRunsInTheHost(t *testing.T) {
	h := newHarness(t, `
workflow "w" {
  node "a" {
    kind   = "merge"
    params = { m = 1 }
  }
  node "b" {
    kind       = "go"
    depends_on = ["a"]
    variant "x" {}
    variant "y" {}
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.test
  case "c1" { input = { q = 1 } }
}
`)
	rep := h.run("b1")
	if rep.Succeeded != 2 || rep.NodeRuns != 3 {
		t.Fatalf("report %+v", rep)
	}
	for _, req := range h.runner.reqs() {
		if nodesOf(req) != "b" || stateOf(t, req.StartState)["m"] != float64(1) {
			t.Errorf("runner asked for %s from %s", nodesOf(req), req.StartState)
		}
	}
	for _, cp := range h.checkpoints("b1") {
		if cp.Node == "a" && cp.WorkerID != "host" {
			t.Errorf("merge node ran on %q", cp.WorkerID)
		}
	}
}

// cached: a and b, cached unless a node says otherwise.
func cached(bNode string) string {
	return `
workflow "w" {
  node "a" { kind = "go" }
  node "b" {
    kind       = "go"
    depends_on = ["a"]
    ` + bNode + `
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.test
  cache    = true
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
}
`
}

// A second batch over the same store finds every node run in the node
// cache: nothing runs, the reused runs are stored as cached checkpoints
// (with the logs of the run they came from), and the results are the same.
func TestNodeCacheHits(t *testing.T) {
	h := newHarness(t, cached(""))
	h.runner.on("a", func(_ context.Context, node sdk.Node, in *executor.NodeInput, ev sdk.Events) (map[string]any, error) {
		ev.Log("a", sdk.LogStderr, "a was here")
		return defaultPatch(node, in), nil
	})
	first := h.run("b1")
	if first.NodeRuns != 4 || first.CachedRuns != 0 {
		t.Fatalf("first run %+v", first)
	}
	obs := newObserver()
	second := h.run("b2", func(c *Config) { c.Observer = obs })
	if second.Succeeded != 2 || second.NodeRuns != 0 || second.CachedRuns != 4 || second.RoundTrips != 0 {
		t.Fatalf("second run %+v; want 2 executions from 4 cached node runs", second)
	}
	if n := len(h.runner.reqs()); n != 2 {
		t.Errorf("%d requests in all; want the first run's 2", n)
	}
	for _, cp := range h.checkpoints("b2") {
		if cp.Node == "" {
			continue
		}
		if cp.Source != store.SourceCached || cp.CacheKey == "" {
			t.Errorf("checkpoint of %s: source %s, cache key %q", cp.Node, cp.Source, cp.CacheKey)
		}
		if cp.Node == "a" && (len(cp.Logs) != 1 || cp.Logs[0].Line != "a was here") {
			t.Errorf("a reused without its logs: %+v", cp.Logs)
		}
	}
	for key, r := range h.results("b2") {
		if !r.Success || h.results("b1")[key].FinalCheckpointID == r.FinalCheckpointID {
			t.Errorf("%s: %+v", key, r)
		}
	}
	reused := 0
	for _, e := range h.events(events.NodeFinished) {
		if e.BatchID == "b2" && strings.Contains(e.Message, "reused from the node cache") && e.Data["cached_from"] != "" {
			reused++
		}
	}
	if reused != 4 || obs.cached["a"] != 2 || obs.started != 2 {
		t.Errorf("%d reuse events, observer %+v", reused, obs)
	}
}

// A node left out of the cache runs again, from the cached state before it.
func TestPartialCacheHit(t *testing.T) {
	h := newHarness(t, cached("cache = false"))
	h.run("b1")
	rep := h.run("b2")
	if rep.CachedRuns != 2 || rep.NodeRuns != 2 || h.runner.runs("a") != 2 || h.runner.runs("b") != 4 {
		t.Fatalf("report %+v", rep)
	}
	cps := map[string]store.Checkpoint{}
	for _, cp := range h.checkpoints("b2") {
		cps[cp.ID] = cp
	}
	for _, req := range h.runner.reqs()[2:] {
		if nodesOf(req) != "b" || cps[req.StartCheckpointID].Source != store.SourceCached {
			t.Errorf("second run asked for %s from %+v", nodesOf(req), cps[req.StartCheckpointID])
		}
	}
}
