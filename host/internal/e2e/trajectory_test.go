package e2e

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/store"
)

// trajNode exports OTLP/JSON by hand (Python's standard library, no
// OpenTelemetry SDK) to the endpoint in its environment: a chat span per
// model turn and an execute_tool span per tool the case names, with the case
// id as the argument q. The plan node makes one turn and calls fetch.
const trajNode = `import json, os, sys, time, urllib.request
inp = json.load(sys.stdin)
node = sys.argv[1]
case = inp["case"]["id"]
if node == "plan":
    turns, tools = 1, ["fetch"]
else:
    turns, tools = inp["case"]["input"]["turns"], inp["case"]["input"]["tools"]
tp = os.environ["TRACEPARENT"].split("-")
spans, t = [], time.time_ns()
def span(name, attrs):
    global t
    t += 1000000
    spans.append({"traceId": tp[1], "spanId": "%016x" % (len(spans) + 1), "parentSpanId": tp[2], "name": name,
        "startTimeUnixNano": str(t), "endTimeUnixNano": str(t + 500000), "kind": 3,
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]})
for i in range(turns):
    span("chat m", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"})
for name in tools:
    span("execute_tool " + name, {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
        "gen_ai.tool.call.arguments": json.dumps({"q": case})})
body = json.dumps({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "agent"}, "spans": spans}]}]}).encode()
req = urllib.request.Request(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], body, {"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
print(json.dumps({node: "done"}))
`

const trajBench = `
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "plan" {
    command = ["python3", "agent.py", "plan"]
  }
  node "answer" {
    command = ["python3", "agent.py", "answer"]
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  case "c1" {
    input = { tools = ["search", "lookup"], turns = 1 }
  }
  case "c2" {
    input = { tools = ["lookup", "search", "search"], turns = 3 }
  }
  case "c3" {
    input = { tools = [], turns = 0 }
  }
  evaluator "strict" {
    type   = "trajectory"
    expect = ["search", "lookup"]
    match  = "strict"
    node   = "answer"
  }
  evaluator "unordered" {
    type   = "trajectory"
    expect = ["search", "lookup"]
    match  = "unordered"
    node   = "answer"
  }
  evaluator "subset" {
    type   = "trajectory"
    expect = ["search", "lookup", "calc"]
    match  = "subset"
    node   = "answer"
  }
  evaluator "superset" {
    type   = "trajectory"
    expect = ["search"]
    match  = "superset"
    node   = "answer"
  }
  evaluator "whole" {
    type   = "trajectory"
    expect = ["fetch", "search", "lookup"]
  }
  evaluator "args" {
    type      = "trajectory"
    expect    = [{ name = "search", arguments = { q = "c1" } }]
    match     = "superset"
    arguments = true
    node      = "answer"
  }
  evaluator "used" {
    type = "tool_used"
    tool = "lookup"
  }
  evaluator "steps" {
    type = "step_count"
    max  = 2
  }
}
`

// The trajectory evaluators score the tool calls and model turns the node
// runs' spans show: each match mode, arguments, one node run or the whole
// execution, with their reasons; wtb rescore scores them again from the
// stored spans, running no node.
func TestTrajectoryEvaluators(t *testing.T) {
	e := newEnv(t)
	e.write("agent.py", trajNode)
	e.write("bench.hcl", trajBench)
	run := e.mustRun("run", "bench.hcl", "--no-progress")
	id := batchID(t, run.stdout+run.stderr)
	st := e.store()
	key := allSucceeded(t, e, st, id, 3)

	type want struct {
		score float64
		note  string
	}
	wants := map[string]map[string]want{
		"c1": {
			"strict":    {1, "called [search, lookup] in node answer; expected [search, lookup]: the same calls in the same order"},
			"unordered": {1, "called [search, lookup] in node answer; expected [search, lookup]: the same calls"},
			"subset":    {1, "called [search, lookup] in node answer; expected [search, lookup, calc]: a subset of them"},
			"superset":  {1, "called [search, lookup] in node answer; expected [search]: a superset of them"},
			"whole":     {1, "called [fetch, search, lookup] in the execution; expected [fetch, search, lookup]: the same calls in the same order"},
			"args":      {1, `called [search{"q":"c1"}, lookup{"q":"c1"}] in node answer; expected [search{"q":"c1"}]: a superset of them`},
			"used":      {1, "lookup called once in the execution"},
			"steps":     {1, "2 model turns in the execution, at most max = 2"},
		},
		"c2": {
			"strict":    {0, "called [lookup, search, search] in node answer; expected [search, lookup] in that order: call 1 is lookup, expected search"},
			"unordered": {0, "called [lookup, search, search] in node answer; expected [search, lookup] in any order: not expected: search"},
			"subset":    {4.0 / 6, "called [lookup, search, search] in node answer; expected [search, lookup, calc]: not a subset of them, not called: calc; not expected: search; F1 0.67"},
			"superset":  {1, "called [lookup, search, search] in node answer; expected [search]: a superset of them"},
			"whole":     {0, "called [fetch, lookup, search, search] in the execution; expected [fetch, search, lookup] in that order: call 2 is lookup, expected search"},
			"args":      {0, `called [lookup{"q":"c2"}, search{"q":"c2"}, search{"q":"c2"}] in node answer; expected [search{"q":"c1"}]: not a superset of them, not called: search{"q":"c1"}; not expected: lookup{"q":"c2"}, search{"q":"c2"}, search{"q":"c2"}; F1 0.00`},
			"used":      {1, "lookup called once in the execution"},
			"steps":     {0, "4 model turns in the execution, more than max = 2"},
		},
		"c3": {
			"strict":    {0, "called [] in node answer; expected [search, lookup] in that order: search, lookup missing"},
			"unordered": {0, "called [] in node answer; expected [search, lookup] in any order: not called: search, lookup"},
			"subset":    {1, "called [] in node answer; expected [search, lookup, calc]: a subset of them"},
			"superset":  {0, "called [] in node answer; expected [search]: not a superset of them, not called: search; F1 0.00"},
			"whole":     {0, "called [fetch] in the execution; expected [fetch, search, lookup] in that order: search, lookup missing"},
			"used":      {0, "lookup never called in the execution; called fetch"},
			"steps":     {1, "1 model turn in the execution, at most max = 2"},
		},
	}
	check := func(batch string) {
		t.Helper()
		for _, r := range e.results(st, batch) {
			for name, w := range wants[r.CaseID] {
				if math.Abs(r.Scores[name]-w.score) > 1e-9 || r.Notes[name] != w.note {
					t.Errorf("batch %s case %s evaluator %s: %.4f %q\nwant %.4f %q", batch, r.CaseID, name, r.Scores[name], r.Notes[name], w.score, w.note)
				}
			}
		}
	}
	check(id)

	// wtb show gives the reasons.
	show := e.mustRun("show", key["c2"], "--batch", id).stdout
	for _, s := range []string{"4 model turns in the execution, more than max = 2", "not a subset of them, not called: calc"} {
		if !strings.Contains(show, s) {
			t.Errorf("show lacks %q:\n%s", s, show)
		}
	}

	// Rescoring reads the stored spans: the same scores, no node run.
	r := e.run("rescore", id)
	if r.code > 1 || !strings.Contains(r.stderr, "0 node runs") {
		t.Fatalf("rescore exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	check(batchID(t, r.stderr))

	// A changed expectation is scored against the stored spans.
	e.write("changed.hcl", strings.Replace(trajBench, `expect = ["search"]
    match  = "superset"`, `expect = ["search", "search"]
    match  = "superset"`, 1))
	r = e.run("rescore", id, "changed.hcl")
	if r.code > 1 {
		t.Fatalf("rescore exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, res := range e.results(st, batchID(t, r.stderr)) {
		want := map[string]float64{"c1": 0.5, "c2": 1, "c3": 0}[res.CaseID]
		if math.Abs(res.Scores["superset"]-want) > 1e-9 {
			t.Errorf("rescored with two searches expected, case %s scores %.4f (%s); want %.4f", res.CaseID, res.Scores["superset"], res.Notes["superset"], want)
		}
	}
}

// Node runs reused from the node cache bring their spans: the trajectory
// evaluators score a cached batch as the one that ran, and so does rescore.
func TestTrajectoryOfCachedNodeRuns(t *testing.T) {
	e := newEnv(t)
	e.write("agent.py", trajNode)
	e.write("bench.hcl", strings.ReplaceAll(trajBench, `command = ["python3", "agent.py",`, `cache   = true
    command = ["python3", "agent.py",`))
	first := e.mustRun("run", "bench.hcl", "--no-progress")
	second := e.mustRun("run", "bench.hcl", "--no-progress")
	a, b := batchID(t, first.stdout+first.stderr), batchID(t, second.stdout+second.stderr)
	r := e.run("rescore", b)
	if r.code > 1 {
		t.Fatalf("rescore exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	st := e.store()
	cps, err := st.Checkpoints().ListByBatch(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		if cp.Node != "" && cp.Source != store.SourceCached {
			t.Fatalf("the second batch ran node %s (source %s); want every node run from the cache", cp.Node, cp.Source)
		}
	}
	scores := func(batch string) map[string]string {
		out := map[string]string{}
		for _, res := range e.results(st, batch) {
			out[res.CaseID] = fmt.Sprint(res.Scores, res.Notes)
		}
		return out
	}
	want := scores(a)
	for _, batch := range []string{b, batchID(t, r.stderr)} {
		for c, got := range scores(batch) {
			if got != want[c] {
				t.Errorf("batch %s case %s: %s\nthe batch that ran: %s", batch, c, got, want[c])
			}
		}
	}
}
