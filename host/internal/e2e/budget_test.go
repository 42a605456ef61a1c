package e2e

import (
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// budgetBench: n cases of one node that makes CALLS chat calls (13 tokens
// each, $0.013 at the bench file's price of $1,000 a million) through the
// gateway to up; variants "one" and "two" make one and two calls.
func (e *env) budgetBench(py, url string, n int, budget, price string) {
	e.t.Helper()
	e.write("calls.py", `
import json, os, sys, urllib.request
json.load(sys.stdin)
for _ in range(int(os.environ["CALLS"])):
    r = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
        data=b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"capital of France?"}]}',
        headers={"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(r, timeout=60))["choices"][0]["message"]["content"]
print(json.dumps({"answer": answer}))
`)
	var cases strings.Builder
	for i := range n {
		fmt.Fprintf(&cases, "{\"id\": \"c%03d\", \"input\": {}}\n", i)
	}
	e.write("cases.jsonl", cases.String())
	e.write("bench.hcl", fmt.Sprintf(`
gateway {
  mode = "record"
  upstream "openai" { url = "%s/v1" }
  price %q {
    input  = 1000
    output = 1000
  }
}
runner "pool" {
  plugin      = "pool"
  max_workers = 2
}
workflow "w" {
  node "ask" {
    command = [%q, "calls.py"]
    variant "one" { env = { CALLS = "1" } }
    variant "two" { env = { CALLS = "2" } }
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  cases    = "cases.jsonl"
  budget {
    %s
  }
}
`, url, price, py, budget))
}

// A batch over its budget stops as Ctrl-C would: what finished is stored,
// the audit trail says why, and a resume with a larger budget (counting
// what was spent before) runs the rest, duplicating nothing.
func TestABatchStopsAtItsBudgetAndResumesWithALargerOne(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	up := newLimitedUpstream(t, 1e6, 1e6)
	e := newEnv(t)
	e.budgetBench(py, up.srv.URL, 10, "usd = 0.1", "gpt-4o-mini")
	r := e.run("run", "bench.hcl", "--no-progress")
	if r.code != 130 || !strings.Contains(r.stderr, "stopped for its budget") || !strings.Contains(r.stderr, "past the budget of $0.10") {
		t.Fatalf("over its budget: exit %d\n%s", r.code, r.stderr)
	}
	id := batchID(t, r.stderr)
	first := e.results(e.store(), id)
	if len(first) == 0 || len(first) >= 20 {
		t.Fatalf("%d of 20 executions stored before the budget stopped the batch", len(first))
	}
	for _, res := range first {
		if !res.Success {
			t.Errorf("%s failed: %s", res.ExecutionKey, res.Error)
		}
	}
	if aud := e.mustRun("audit", id, "--type", "budget.exceeded").stdout; !strings.Contains(aud, "past the budget of $0.10") {
		t.Errorf("the audit trail does not say the budget stopped the batch:\n%s", aud)
	}
	// The same budget again: what was spent before counts, so it stops at once.
	r = e.run("resume", id, "--no-progress")
	if r.code != 130 || !strings.Contains(r.stderr, "stopped for its budget") {
		t.Fatalf("resumed with the budget it had spent: exit %d\n%s", r.code, r.stderr)
	}
	r = e.mustRun("resume", id, "--no-progress", "--budget-usd", "10")
	all := e.results(e.store(), id)
	seen := map[string]bool{}
	for _, res := range all {
		if seen[res.ExecutionKey] {
			t.Errorf("%s stored twice", res.ExecutionKey)
		}
		seen[res.ExecutionKey] = true
		if !res.Success {
			t.Errorf("%s failed: %s", res.ExecutionKey, res.Error)
		}
	}
	if len(all) != 20 {
		t.Fatalf("%d executions after the resume with a larger budget; want 20\n%s", len(all), r.stderr)
	}
}

// An execution whose calls use more than the execution budget fails with a
// failure kind of its own and is not retried; the others pass.
func TestAnExecutionOverItsBudgetFails(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	up := newLimitedUpstream(t, 1e6, 1e6)
	e := newEnv(t)
	e.budgetBench(py, up.srv.URL, 3, "execution_tokens = 20", "gpt-4o-mini")
	r := e.run("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	for _, res := range e.results(e.store(), id) {
		over := res.Combination == "ask=two" // 26 tokens
		switch {
		case over && (res.Success || res.FailureKind != "budget" || res.Attempts != 1 || !strings.Contains(res.Error, "past the execution budget of 20")):
			t.Errorf("%s used 26 tokens under a budget of 20: success %v, kind %q, attempts %d, %q",
				res.ExecutionKey, res.Success, res.FailureKind, res.Attempts, res.Error)
		case !over && !res.Success:
			t.Errorf("%s used 13 tokens under a budget of 20 and failed: %s", res.ExecutionKey, res.Error)
		}
	}
}

// A budget in dollars cannot be kept past a call it cannot price: the batch
// stops at the first, unless the budget allows them.
func TestADollarBudgetStopsAtAnUnpricedCall(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	up := newLimitedUpstream(t, 1e6, 1e6)
	e := newEnv(t)
	e.budgetBench(py, up.srv.URL, 5, "usd = 5", "claude-3-5-haiku")
	r := e.run("run", "bench.hcl", "--no-progress")
	if r.code != 130 || !strings.Contains(r.stderr, "a call to gpt-4o-mini has no price") {
		t.Fatalf("a dollar budget and an unpriced model: exit %d\n%s", r.code, r.stderr)
	}
	e.budgetBench(py, up.srv.URL, 5, "usd = 5\n    allow_unpriced = true", "claude-3-5-haiku")
	e.mustRun("run", "bench.hcl", "--no-progress")
}

// A node may report its calls' usage in _metrics (llm.input_tokens, …):
// where it disagrees with what the gateway counted, the audit trail says so,
// kind by kind; where it agrees, nothing is said.
func TestNodeReportedUsageThatDisagreesIsSaid(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	up := newLimitedUpstream(t, 1e6, 1e6)
	e := newEnv(t)
	e.budgetBench(py, up.srv.URL, 1, "tokens = 1000000", "gpt-4o-mini")
	// The upstream answers 12 input and 1 output tokens a call; this node
	// says 99 input (wrong) and 1 output (right) for its one call.
	e.write("calls.py", `
import json, os, sys, urllib.request
json.load(sys.stdin)
r = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
    data=b'{"model":"gpt-4o-mini","messages":[]}', headers={"Content-Type": "application/json"})
json.load(urllib.request.urlopen(r, timeout=60))
print(json.dumps({"answer": "Paris", "_metrics": {"llm.input_tokens": 99 * int(os.environ["CALLS"]), "llm.output_tokens": 1}}))
`)
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	aud := e.mustRun("audit", id, "--type", "usage.disagrees").stdout
	if !strings.Contains(aud, "node ask reported 99 input tokens (_metrics llm.input_tokens); the gateway counted 12 in its 1 call") {
		t.Errorf("the disagreement on input tokens is not in the audit trail:\n%s", aud)
	}
	if strings.Contains(aud, "output tokens") {
		t.Errorf("output tokens agree, yet the audit trail says otherwise:\n%s", aud)
	}
}

// The gateway beside the nodes refuses an execution's calls once its budget
// is spent: a node that goes on calling gets a 402 at once and the upstream
// never sees the call, and the execution fails with kind budget. What an
// execution spent in an earlier segment (here a prefix shared by two
// combinations) counts, so the next segment's first call is refused too.
func TestTheGatewayRefusesCallsPastAnExecutionBudget(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	upstreamCalls := func(up *limitedUpstream) int {
		up.mu.Lock()
		defer up.mu.Unlock()
		return len(up.okAt)
	}

	t.Run("within a node run", func(t *testing.T) {
		up := newLimitedUpstream(t, 1e6, 1e6)
		e := newEnv(t)
		e.budgetBench(py, up.srv.URL, 2, "execution_tokens = 20", "gpt-4o-mini")
		// "two" makes 2 calls (26 tokens): the second is sent, the budget
		// not yet being spent, and the host fails it as it ends. "five"
		// would make 5: the third is refused.
		old, err := os.ReadFile(filepath.Join(e.dir, "bench.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		bench := strings.Replace(string(old), `variant "two" { env = { CALLS = "2" } }`,
			`variant "two" { env = { CALLS = "2" } }
    variant "five" { env = { CALLS = "5" } }`, 1)
		e.write("bench.hcl", bench)
		r := e.run("run", "bench.hcl", "--no-progress")
		id := batchID(t, r.stderr)
		for _, res := range e.results(e.store(), id) {
			switch res.Combination {
			case "ask=five":
				if res.Success || res.FailureKind != "budget" || res.Attempts != 1 ||
					!strings.Contains(res.Error, "over budget: the execution's model calls used 26 tokens, its budget is 20") ||
					!strings.Contains(res.Error, "the gateway refused its next call") {
					t.Errorf("%s: success %v, kind %q, attempts %d, %q", res.ExecutionKey, res.Success, res.FailureKind, res.Attempts, res.Error)
				}
			case "ask=two":
				if res.Success || res.FailureKind != "budget" || !strings.Contains(res.Error, "past the execution budget of 20") {
					t.Errorf("%s: success %v, kind %q, %q", res.ExecutionKey, res.Success, res.FailureKind, res.Error)
				}
			default:
				if !res.Success {
					t.Errorf("%s: %s", res.ExecutionKey, res.Error)
				}
			}
		}
		// one: 1 call, two: 2, five: 2 sent and the third refused; 2 cases.
		if n := upstreamCalls(up); n != 2*(1+2+2) {
			t.Errorf("the upstream answered %d calls; want %d (the calls past the budget refused)", n, 2*(1+2+2))
		}
		calls := e.mustRun("show", "--batch", id, "ask=five/c000/0", "--calls").stdout
		if !strings.Contains(calls, "over budget") {
			t.Errorf("show --calls does not list the refused call:\n%s", calls)
		}
	})

	t.Run("across segments", func(t *testing.T) {
		up := newLimitedUpstream(t, 1e6, 1e6)
		e := newEnv(t)
		e.budgetBench(py, up.srv.URL, 2, "execution_tokens = 13", "gpt-4o-mini")
		e.write("bench.hcl", fmt.Sprintf(`
gateway {
  mode = "record"
  upstream "openai" { url = "%s/v1" }
}
runner "pool" {
  plugin      = "pool"
  max_workers = 2
}
workflow "w" {
  node "first" {
    command = [%q, "calls.py"]
    env     = { CALLS = "1" }
  }
  node "then" {
    command    = [%q, "calls.py"]
    depends_on = ["first"]
    variant "x" { env = { CALLS = "1" } }
    variant "y" { env = { CALLS = "1" } }
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  cases    = "cases.jsonl"
  budget {
    execution_tokens = 13
  }
}
`, up.srv.URL, py, py))
		r := e.run("run", "bench.hcl", "--no-progress")
		id := batchID(t, r.stderr)
		res := e.results(e.store(), id)
		if len(res) != 4 {
			t.Fatalf("%d results; want 4\n%s", len(res), r.stderr)
		}
		for _, x := range res {
			if x.Success || x.FailureKind != "budget" || x.FailedNode != "then" ||
				!strings.Contains(x.Error, "used 13 tokens, its budget is 13") {
				t.Errorf("%s: success %v, kind %q, node %q, %q", x.ExecutionKey, x.Success, x.FailureKind, x.FailedNode, x.Error)
			}
		}
		// One shared "first" per case; every "then" refused.
		if n := upstreamCalls(up); n != 2 {
			t.Errorf("the upstream answered %d calls; want 2 (one shared first node run per case)", n)
		}
	})
}

// A node's own gen_ai spans are a second source of usage: their figures are
// kept as the node run's metrics (llm.spans.*), and where they differ from
// what the gateway counted of the same calls the audit trail says so. Here
// each node run makes one call (12 input, 1 output tokens; variant "two"
// makes two) and exports one chat span claiming the case's input tokens.
func TestSpanReportedUsageIsASecondSource(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	up := newLimitedUpstream(t, 1e6, 1e6)
	e := newEnv(t)
	e.budgetBench(py, up.srv.URL, 1, "tokens = 1000000", "gpt-4o-mini")
	e.write("calls.py", `
import json, os, sys, time, urllib.request
claimed = json.load(sys.stdin)["case"]["input"]["claimed"]
r = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
    data=b'{"model":"gpt-4o-mini","messages":[]}', headers={"Content-Type": "application/json"})
start = time.time_ns()
for _ in range(int(os.environ["CALLS"])):
    json.load(urllib.request.urlopen(r, timeout=60))
tp = os.environ["TRACEPARENT"].split("-")
span = {"traceId": tp[1], "spanId": "00000000000000a1", "parentSpanId": tp[2], "name": "chat gpt-4o-mini", "kind": 3,
    "startTimeUnixNano": str(start), "endTimeUnixNano": str(time.time_ns()),
    "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(claimed)}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "1"}}]}
body = json.dumps({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "agent"}, "spans": [span]}]}]}).encode()
urllib.request.urlopen(urllib.request.Request(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], body,
    {"Content-Type": "application/json"})).read()
print(json.dumps({"answer": "Paris"}))
`)
	e.write("cases.jsonl", `{"id": "wrong", "input": {"claimed": 99}}
{"id": "right", "input": {"claimed": 12}}
`)
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	for _, res := range e.results(e.store(), id) {
		if res.Combination != "ask=one" {
			continue
		}
		want := map[string]float64{"wrong": 99, "right": 12}[res.CaseID]
		if res.Metrics["llm.spans.input_tokens"] != want || res.Metrics["llm.spans.output_tokens"] != 1 {
			t.Errorf("%s: span usage metrics %v, %v; want %v and 1", res.ExecutionKey,
				res.Metrics["llm.spans.input_tokens"], res.Metrics["llm.spans.output_tokens"], want)
		}
	}
	aud := e.mustRun("audit", id, "--type", "usage.disagrees").stdout
	if !strings.Contains(aud, "node ask's spans reported 99 input tokens (gen_ai.usage.input_tokens); the gateway counted 12 in its 1 call") ||
		!strings.Contains(aud, "ask=one/wrong/0") {
		t.Errorf("the spans' disagreement on input tokens is not in the audit trail:\n%s", aud)
	}
	if strings.Contains(aud, "ask=one/right/0") || strings.Contains(aud, "output tokens") {
		t.Errorf("usage that agrees was reported as disagreeing:\n%s", aud)
	}
	// "two" makes two calls yet describes one: the number of calls differs.
	if !strings.Contains(aud, "node ask's spans describe 1 model call; the gateway saw 2 model calls") {
		t.Errorf("the spans' disagreement on the number of calls is not in the audit trail:\n%s", aud)
	}
}
