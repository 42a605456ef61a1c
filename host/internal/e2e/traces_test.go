package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// needOTelPython is the venv scripts/install-deps.sh makes for the trace
// tests: the openai SDK instrumented by OpenTelemetry's Python SDK.
func needOTelPython(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WTB_TEST_OTEL_PYTHON"); p != "" {
		return p
	}
	// The venv is named after the hash of the requirements it was built
	// from, as scripts/install-deps.sh names it: an older venv is not used.
	req, err := os.ReadFile(filepath.Join("..", "..", "..", "scripts", "otel-requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(req)
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "wtb", "otel-"+hex.EncodeToString(sum[:])[:12], "bin", "python")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no OpenTelemetry venv: scripts/install-deps.sh makes it")
	}
	t.Skipf("no OpenTelemetry venv %s (scripts/install-deps.sh makes it)", p)
	return ""
}

// otelNode is a node as an agent author writes one: the official openai SDK
// instrumented by opentelemetry-instrumentation-openai-v2, exporting OTLP
// over HTTP to the endpoint in its environment, its spans under the
// TRACEPARENT it was given; the tool it runs is an execute_tool span. With
// "flood" it sends 2,500 spans instead.
const otelNode = `import json, os, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

tp = TracerProvider()
tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), max_queue_size=5000, max_export_batch_size=500))
trace.set_tracer_provider(tp)
OpenAIInstrumentor().instrument()
import openai

inp = json.load(sys.stdin)
case = inp["case"]["id"]
tracer = trace.get_tracer("agent")
with tracer.start_as_current_span("agent", context=extract({"traceparent": os.environ["TRACEPARENT"]})):
    if sys.argv[1] == "flood":
        for i in range(2500):
            tracer.start_span("step %d" % i).end()
    else:
        openai.OpenAI().chat.completions.create(model="fixed-gpt", messages=[{"role": "user", "content": "capital of " + case}])
        with tracer.start_as_current_span("execute_tool lookup", attributes={"gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup", "gen_ai.tool.call.arguments": json.dumps({"case": case})}):
            pass
tp.shutdown()
print(json.dumps({"case": case}))
`

func (e *env) otelBench(llm llmUpstream, python, mode string, n int) {
	e.t.Helper()
	e.write("agent.py", otelNode)
	var cases strings.Builder
	for i := 0; i < n; i++ {
		cases.WriteString(`{"id": "c` + string(rune('a'+i)) + `", "input": {}}` + "\n")
	}
	e.write("cases.jsonl", cases.String())
	e.write("bench.hcl", `
gateway {
  upstream "openai" {
    url     = "`+llm.url+`/v1"
    ca_file = "`+llm.ca+`"
  }
}
runner "pool" {
  plugin      = "pool"
  max_workers = 16
}
workflow "w" {
  node "agent" {
    command = ["`+python+`", "agent.py", "`+mode+`"]
    timeout = "120s"
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  cases    = "cases.jsonl"
}
`)
}

// Spans from 16 concurrent node runs (an instrumented openai SDK through the
// gateway to LiteLLM, and a tool the node runs) are each stored under their
// own node run, joined to its trace, and wtb show draws them.
func TestSpansOfConcurrentNodeRunsAreTheirOwn(t *testing.T) {
	llm := needLLM(t)
	python := needOTelPython(t)
	e := newEnv(t)
	e.otelBench(llm, python, "agent", 16)
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	cmd.Env = append(cmd.Env, "OPENAI_API_KEY="+llm.key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	id := batchID(t, string(out))
	st := e.store()
	ctx := context.Background()
	key := allSucceeded(t, e, st, id, 16)
	cps, err := st.Checkpoints().ListByBatch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var runIDs []string
	caseOf := map[string]string{}
	for _, cp := range cps {
		if cp.Node == "agent" {
			runIDs = append(runIDs, cp.ID)
			var o struct{ Case string }
			_ = json.Unmarshal(cp.Output, &o)
			caseOf[cp.ID] = o.Case
		}
	}
	rows, err := st.Spans().ListByRuns(ctx, id, runIDs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 16 {
		t.Fatalf("%d node runs have spans, want 16", len(rows))
	}
	for _, r := range rows {
		var spans []sdk.Span
		if err := json.Unmarshal(r.Spans, &spans); err != nil {
			t.Fatal(err)
		}
		var root *sdk.Span
		chats, tools := 0, 0
		for i := range spans {
			s := &spans[i]
			if s.Source == sdk.SpanSourceWTB {
				root = s
			}
			if strings.Contains(string(s.Attributes), `"gen_ai.operation.name":"chat"`) && s.Source == sdk.SpanSourceNode {
				chats++
				if !strings.Contains(string(s.Attributes), `"gen_ai.usage.input_tokens"`) {
					t.Errorf("run %s: a chat span without usage: %s", r.RunID, s.Attributes)
				}
			}
			if strings.Contains(string(s.Attributes), `"gen_ai.tool.name":"lookup"`) {
				tools++
				if !strings.Contains(string(s.Attributes), `\"case\": \"`+caseOf[r.RunID]+`\"`) {
					t.Errorf("run %s (case %s) holds the tool call of another: %s", r.RunID, caseOf[r.RunID], s.Attributes)
				}
			}
			if s.Source == sdk.SpanSourceGateway {
				t.Errorf("run %s: a gateway span (%s to %s, %s) for a call the node's chat span describes: %s", r.RunID,
					s.Start.Format("15:04:05.000000"), s.End.Format("15:04:05.000000"), s.Attributes, r.Spans)
			}
		}
		if root == nil || chats != 1 || tools != 1 || r.Dropped != 0 {
			t.Fatalf("run %s: root %v, %d chat spans, %d tool spans, %d dropped; want a root, 1, 1, 0: %s", r.RunID, root != nil, chats, tools, r.Dropped, r.Spans)
		}
		for _, s := range spans {
			if s.TraceID != root.TraceID {
				t.Errorf("run %s: span %q is not in the node run's trace", r.RunID, s.Name)
			}
		}
	}
	show := e.mustRun("show", key["ca"], "--batch", id).stdout
	for _, want := range []string{"spans (", "agent", "model fixed-gpt", "tool lookup", "tool calls (1):", `lookup {"case": "ca"}`} {
		if !strings.Contains(string(show), want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
}

// A node that floods spans is bounded (2,000 per node run), and says so.
func TestANodeThatFloodsSpansIsBounded(t *testing.T) {
	llm := needLLM(t)
	python := needOTelPython(t)
	e := newEnv(t)
	e.otelBench(llm, python, "flood", 1)
	out, err := e.cmd("run", "bench.hcl", "--no-progress").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	id := batchID(t, string(out))
	key := allSucceeded(t, e, e.store(), id, 1)
	show := e.mustRun("show", key["ca"], "--batch", id).stdout
	if !strings.Contains(show, "spans (2001):") || !strings.Contains(show, "501 more spans dropped: past the bound of 2000 spans") {
		t.Errorf("show does not say the spans were bounded:\n%s", lastLines(show, 8))
	}
}

// allSucceeded checks the batch stored n executions, each once and each
// succeeded, and gives each case's execution key as the run prints it.
func allSucceeded(t *testing.T, e *env, st store.Store, id string, n int) map[string]string {
	t.Helper()
	rs := e.results(st, id)
	assertExactlyOnce(t, rs, n)
	key := map[string]string{}
	for _, r := range rs {
		if r.Status != "succeeded" {
			var logs strings.Builder
			for _, l := range r.Logs {
				logs.WriteString(l.Line + "\n")
			}
			t.Fatalf("execution %s %s at %s: %s\n%s", r.ExecutionKey, r.Status, r.FailedNode, r.Error, logs.String())
		}
		key[r.CaseID] = r.ExecutionKey
	}
	return key
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
