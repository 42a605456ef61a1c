package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/store"
)

// jaeger is the Jaeger all-in-one scripts/services.sh starts: OTLP/HTTP in,
// the query API out.
type jaeger struct{ otlp, query string }

func needJaeger(t *testing.T) jaeger {
	t.Helper()
	j := jaeger{otlp: os.Getenv("WTB_TEST_JAEGER_OTLP_URL"), query: os.Getenv("WTB_TEST_JAEGER_QUERY_URL")}
	if j.otlp == "" || j.query == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Jaeger: scripts/install-deps.sh builds it, scripts/services.sh starts it")
		}
		t.Skip("no Jaeger (WTB_TEST_JAEGER_OTLP_URL, WTB_TEST_JAEGER_QUERY_URL: scripts/services.sh starts it)")
	}
	return j
}

// jaegerSpan is a span as Jaeger's query API returns it.
type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`
	service   string
}

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (s jaegerSpan) tag(k string) string {
	for _, t := range s.Tags {
		if t.Key == k {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// trace reads a trace back through Jaeger's query API, waiting until it
// holds at least want spans (Jaeger stores what it receives in batches).
func (j jaeger) trace(t *testing.T, traceID string, want int) map[string]jaegerSpan {
	t.Helper()
	var spans map[string]jaegerSpan
	waitFor(t, 30*time.Second, func() string {
		return fmt.Sprintf("trace %s in Jaeger has %d spans, want %d", traceID, len(spans), want)
	}, func() bool {
		resp, err := http.Get(j.query + "/api/traces/" + traceID)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Data []struct {
				Spans     []jaegerSpan `json:"spans"`
				Processes map[string]struct {
					ServiceName string `json:"serviceName"`
				} `json:"processes"`
			} `json:"data"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Data) != 1 {
			return false
		}
		spans = map[string]jaegerSpan{}
		for _, s := range body.Data[0].Spans {
			s.service = body.Data[0].Processes[s.ProcessID].ServiceName
			if _, dup := spans[s.SpanID]; dup {
				t.Fatalf("span %s (%s) twice in the trace", s.SpanID, s.OperationName)
			}
			spans[s.SpanID] = s
		}
		return len(spans) >= want
	})
	return spans
}

// traceoutAgent is a command node that exports two spans of its own as an
// instrumented agent does, OTLP/JSON to the endpoint in its environment: a
// step under its TRACEPARENT, and a tool call under the step.
const traceoutAgent = `#!/bin/sh
cat >/dev/null
trace=$(echo "$TRACEPARENT" | cut -d- -f2)
parent=$(echo "$TRACEPARENT" | cut -d- -f3)
step=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
tool=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
now=$(date +%s%N)
curl -sf -X POST -H 'Content-Type: application/json' "$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" --data "{\"resourceSpans\":[{
  \"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"agent\"}}]},
  \"scopeSpans\":[{\"scope\":{\"name\":\"agent-sdk\"},\"spans\":[
    {\"traceId\":\"$trace\",\"spanId\":\"$step\",\"parentSpanId\":\"$parent\",\"name\":\"agent step\",\"kind\":1,
     \"startTimeUnixNano\":\"$now\",\"endTimeUnixNano\":\"$((now+2000000))\"},
    {\"traceId\":\"$trace\",\"spanId\":\"$tool\",\"parentSpanId\":\"$step\",\"name\":\"execute_tool lookup\",\"kind\":1,
     \"startTimeUnixNano\":\"$((now+500000))\",\"endTimeUnixNano\":\"$((now+1000000))\",
     \"attributes\":[{\"key\":\"gen_ai.tool.name\",\"value\":{\"stringValue\":\"lookup\"}},{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"7\"}}]}
  ]}]}]}" >/dev/null || exit 1
echo '{"looked_up": true}'
`

// traceoutBench: 2 cases × 2 combinations; the agent node comes first and
// is the same in both combinations, so each case runs it once and shares
// it with the other combination (and, with cache = true, a second batch
// takes it from the node cache).
func (e *env) traceoutBench(extra string) {
	e.t.Helper()
	e.write("agent.sh", traceoutAgent)
	e.write("bench.hcl", extra+`
runner "pool" {
  plugin      = "pool"
  max_workers = 4
}
workflow "w" {
  node "agent" {
    command = ["sh", "agent.sh"]
    cache   = true
  }
  node "answer" {
    kind       = "merge"
    depends_on = ["agent"]
    variant "short" { params = { answer = "a" } }
    variant "long"  { params = { answer = "a longer one" } }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.pool
  case "paris" { input = { q = "capital of France" } }
  case "rome"  { input = { q = "capital of Italy" } }
  evaluator "short" {
    type    = "regex"
    path    = "$.answer"
    pattern = "^a$"
  }
}
`)
}

// checkBatchTrace checks the tree of a batch's trace as Jaeger has it: one
// batch span, one span per execution under it, one per node run under its
// execution (with its source), and the agent's own two spans under each
// agent run that exported them (sources: what the run of the agent node
// must have been in each execution).
func checkBatchTrace(t *testing.T, spans map[string]jaegerSpan, batchID string, st store.Store, agentSources map[string]int) {
	t.Helper()
	ctx := context.Background()
	rs, err := st.Results().List(ctx, batchID)
	if err != nil {
		t.Fatal(err)
	}
	var roots []jaegerSpan
	execs := map[string]jaegerSpan{} // by key
	runs := map[string][]jaegerSpan{}
	for _, s := range spans {
		switch {
		case s.parent() == "":
			roots = append(roots, s)
		case strings.HasPrefix(s.OperationName, "execution "):
			execs[s.tag("wtb.execution.key")] = s
		case strings.HasPrefix(s.OperationName, "node "):
			runs[s.parent()] = append(runs[s.parent()], s)
		}
	}
	if len(roots) != 1 || roots[0].tag("wtb.batch.id") != batchID || roots[0].service != "wtb" {
		t.Fatalf("want one root, the batch span of %s from service wtb; got %+v", batchID, roots)
	}
	if len(execs) != len(rs) || len(rs) != 4 {
		t.Fatalf("%d execution spans, %d stored executions; want 4 of each", len(execs), len(rs))
	}
	sources := map[string]int{}
	nodeSpans := 0
	for _, r := range rs {
		ex, ok := execs[r.ExecutionKey]
		if !ok {
			t.Fatalf("no span for execution %s", r.ExecutionKey)
		}
		if ex.parent() != roots[0].SpanID {
			t.Errorf("execution %s is not under the batch span", r.ExecutionKey)
		}
		if ex.tag("wtb.combination") != r.Combination || ex.tag("wtb.case.id") != r.CaseID || ex.tag("wtb.repeat") != "0" ||
			ex.tag("wtb.outcome") != r.Status || ex.tag("wtb.score") != fmt.Sprint(r.OverallScore) {
			t.Errorf("execution %s: tags %+v, stored %+v", r.ExecutionKey, ex.Tags, r)
		}
		byNode := map[string]jaegerSpan{}
		for _, run := range runs[ex.SpanID] {
			byNode[run.tag("wtb.node")] = run
		}
		if len(runs[ex.SpanID]) != 2 || len(byNode) != 2 {
			t.Fatalf("execution %s: %d node run spans beneath it, want one for agent and one for answer", r.ExecutionKey, len(runs[ex.SpanID]))
		}
		agent := byNode["agent"]
		sources[agent.tag("wtb.node_run.source")]++
		if byNode["answer"].tag("wtb.node_run.source") != "ran" || agent.tag("wtb.outcome") != "succeeded" || agent.tag("wtb.worker") == "" {
			t.Errorf("execution %s: node runs %+v", r.ExecutionKey, byNode)
		}
		var own []jaegerSpan
		for _, s := range spans {
			if s.parent() == agent.SpanID {
				own = append(own, s)
			}
		}
		if agent.tag("wtb.node_run.source") == "shared" {
			if len(own) != 0 {
				t.Errorf("execution %s: a shared run carries spans %+v (they belong to the execution that ran it)", r.ExecutionKey, own)
			}
			continue
		}
		if len(own) != 1 || own[0].OperationName != "agent step" || own[0].service != "agent" || own[0].tag("wtb.span.source") != "node" {
			t.Fatalf("execution %s: want the agent's step beneath its node run, got %+v", r.ExecutionKey, own)
		}
		var tool []jaegerSpan
		for _, s := range spans {
			if s.parent() == own[0].SpanID {
				tool = append(tool, s)
			}
		}
		if len(tool) != 1 || tool[0].OperationName != "execute_tool lookup" || tool[0].tag("gen_ai.tool.name") != "lookup" ||
			tool[0].tag("gen_ai.usage.input_tokens") != "7" {
			t.Fatalf("execution %s: want the tool call beneath the step, got %+v", r.ExecutionKey, tool)
		}
		nodeSpans += 2
	}
	if fmt.Sprint(sources) != fmt.Sprint(agentSources) {
		t.Errorf("agent node runs by source: %v, want %v", sources, agentSources)
	}
	// batch + 4 executions + 8 node runs + the agents' own spans.
	if want := 1 + 4 + 8 + nodeSpans; len(spans) != want {
		var names []string
		for _, s := range spans {
			names = append(names, s.OperationName)
		}
		sort.Strings(names)
		t.Errorf("%d spans in the trace, want %d: %v", len(spans), want, names)
	}
}

// The exported trace in Jaeger has one span per node run with the right
// parents: a batch run with --otlp-endpoint (ran and shared runs of a node
// that exports spans of its own), then a second batch that takes the node
// from the cache, sent after the fact with `wtb trace export` to the
// collector OTEL_EXPORTER_OTLP_ENDPOINT names.
func TestTraceOutToJaeger(t *testing.T) {
	for _, kind := range []string{sqliteStore, postgresStore} {
		t.Run(kind, func(t *testing.T) { traceOutToJaeger(t, kind) })
	}
}

func traceOutToJaeger(t *testing.T, kind string) {
	j := needJaeger(t)
	e := newEnvOn(t, kind)
	e.traceoutBench("")
	r := e.mustRun("run", "bench.hcl", "--no-progress", "--otlp-endpoint", j.otlp, "--otlp-header", "X-Test=1")
	id := batchID(t, r.stdout+r.stderr)
	traceID := application.TraceID(id)
	if !strings.Contains(r.stderr, "trace export ("+j.otlp+"/v1/traces): 17 spans of 4 executions sent; trace id "+traceID) {
		t.Errorf("the run does not say what it sent:\n%s", r.stderr)
	}
	st := e.store()
	// 1 batch + 4 executions + 8 node runs + 2 agent runs × 2 spans.
	spans := j.trace(t, traceID, 17)
	checkBatchTrace(t, spans, id, st, map[string]int{"ran": 2, "shared": 2})

	// The second batch runs without export; its agent runs come from the
	// node cache with the spans they had.
	r = e.mustRun("run", "bench.hcl", "--no-progress")
	id2 := batchID(t, r.stdout+r.stderr)
	if strings.Contains(r.stderr, "trace export") {
		t.Errorf("a run without --otlp-endpoint exported:\n%s", r.stderr)
	}
	cmd := e.cmd("trace", "export", id2)
	cmd.Env = append(cmd.Env, "OTEL_EXPORTER_OTLP_ENDPOINT="+j.otlp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wtb trace export: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "17 spans of 4 executions sent") {
		t.Errorf("wtb trace export says:\n%s", out)
	}
	spans = j.trace(t, application.TraceID(id2), 17)
	checkBatchTrace(t, spans, id2, st, map[string]int{"cached": 2, "shared": 2})
}

// A collector that is down for the whole batch changes nothing but a count:
// the same results as without export, one audit entry, one line on stderr;
// the bench file's bridge "otlp" block configures it.
func TestTraceOutCollectorDownChangesNothingButACount(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	e := newEnv(t)
	e.traceoutBench("")
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	plain := batchID(t, r.stdout+r.stderr)
	e.traceoutBench(`bridge "otlp" {
  url           = "` + down + `"
  flush_timeout = "2s"
}`)
	start := time.Now()
	r = e.mustRun("run", "bench.hcl", "--no-progress")
	took := time.Since(start)
	id := batchID(t, r.stdout+r.stderr)
	if !strings.Contains(r.stderr, "trace export ("+down+"/v1/traces): 0 executions sent, 4 dropped") {
		t.Errorf("the run does not count what it dropped:\n%s", r.stderr)
	}
	if took > 30*time.Second {
		t.Errorf("the run took %s with the collector down", took)
	}
	st := e.store()
	want, got := e.results(st, plain), e.results(st, id)
	if len(want) != 4 || len(got) != 4 {
		t.Fatalf("%d and %d results, want 4 each", len(want), len(got))
	}
	byKey := func(rs []store.Result) {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ExecutionKey < rs[j].ExecutionKey })
	}
	byKey(want)
	byKey(got)
	for i := range want {
		w, g := want[i], got[i]
		if w.ExecutionKey != g.ExecutionKey || w.Status != g.Status || w.OverallScore != g.OverallScore || w.Passed != g.Passed {
			t.Errorf("execution %s: %s %v without export, %s %v with the collector down", w.ExecutionKey, w.Status, w.OverallScore, g.Status, g.OverallScore)
		}
	}
	entries, err := st.Audit().List(context.Background(), id, store.AuditFilter{EventType: "bridge.dropped"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.Contains(entries[0].Message, "trace export to "+down+"/v1/traces dropped 4 executions") {
		t.Fatalf("want one bridge.dropped audit entry for the trace export, got %+v", entries)
	}
}

// Bad trace export settings get one clear error before anything runs; the
// OTEL_EXPORTER_OTLP_* variables turn the export on as for any OTel SDK,
// and OTEL_TRACES_EXPORTER=none off.
func TestTraceOutSettings(t *testing.T) {
	e := newEnv(t)
	e.traceoutBench("")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--otlp-endpoint", "127.0.0.1:4318"}, `--otlp-endpoint: an OTLP endpoint is an http:// or https:// URL such as http://127.0.0.1:4318; got "127.0.0.1:4318"`},
		{[]string{"--otlp-header", "X-Key=1"}, "--otlp-header needs --otlp-endpoint URL (or OTEL_EXPORTER_OTLP_ENDPOINT)"},
		{[]string{"--otlp-endpoint", "http://127.0.0.1:4318", "--otlp-header", "X-Key"}, "--otlp-header takes NAME=VALUE"},
	} {
		cmd := e.cmd(append([]string{"run", "bench.hcl", "--no-progress"}, c.args...)...)
		cmd.Env = append(cmd.Env, "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=")
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("wtb run %v: exit %d, want 2 saying %q:\n%s", c.args, code, c.want, out)
		}
		if strings.Contains(string(out), "succeeded") {
			t.Errorf("wtb run %v ran the batch:\n%s", c.args, out)
		}
	}

	j := needJaeger(t)
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	cmd.Env = append(cmd.Env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+j.otlp+"/v1/traces")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	id := batchID(t, string(out))
	if !strings.Contains(string(out), "trace id "+application.TraceID(id)) {
		t.Errorf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT did not turn the export on:\n%s", out)
	}
	j.trace(t, application.TraceID(id), 17) // 1 + 4 + 8 + the agent runs' 2 × 2
	cmd = e.cmd("run", "bench.hcl", "--no-progress")
	cmd.Env = append(cmd.Env, "OTEL_EXPORTER_OTLP_ENDPOINT="+j.otlp, "OTEL_TRACES_EXPORTER=none")
	out, err = cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "trace export") {
		t.Errorf("OTEL_TRACES_EXPORTER=none still exported (%v):\n%s", err, out)
	}
}

// A batch that replays every model call from recordings shows its node runs
// as "replayed" in the trace, and each stand-in model-call span says where
// its call was answered from: recorded, then replayed.
func TestTraceOutOfAReplayedBatch(t *testing.T) {
	j := needJaeger(t)
	llm := needLLM(t)
	e := newEnv(t)
	e.quickRecordBench(llm, 2, 2, "")
	t.Setenv("OPENAI_API_KEY", llm.key)
	for _, c := range []struct {
		args           []string
		source, called string
	}{
		{nil, "ran", "recorded"},
		{[]string{"--model-calls", "replay"}, "replayed", "replayed"},
	} {
		r := e.mustRun(append([]string{"run", "bench.hcl", "--no-progress", "--otlp-endpoint", j.otlp}, c.args...)...)
		id := batchID(t, r.stdout+r.stderr)
		// 1 batch + 2 executions + 2 node runs + 2 × 2 stand-in calls.
		spans := j.trace(t, application.TraceID(id), 9)
		runs, calls := 0, 0
		for _, s := range spans {
			switch {
			case strings.HasPrefix(s.OperationName, "node "):
				runs++
				if got := s.tag("wtb.node_run.source"); got != c.source {
					t.Errorf("batch %v: node run %s has source %q, want %q", c.args, s.SpanID, got, c.source)
				}
			case s.tag("wtb.span.source") == "gateway":
				calls++
				if got := s.tag("wtb.call.source"); got != c.called {
					t.Errorf("batch %v: stand-in %s (%s) has wtb.call.source %q, want %q", c.args, s.SpanID, s.OperationName, got, c.called)
				}
				if spans[s.parent()].tag("wtb.node") != "quick" {
					t.Errorf("batch %v: stand-in %s is not under its node run", c.args, s.SpanID)
				}
			}
		}
		if runs != 2 || calls != 4 || len(spans) != 9 {
			t.Errorf("batch %v: %d node runs, %d stand-ins, %d spans; want 2, 4, 9", c.args, runs, calls, len(spans))
		}
		// wtb trace export reads the calls' sources from the store and sends
		// the same spans: Jaeger keeps one of each (a span that said
		// otherwise would be a second one under its id).
		out, err := e.cmd("trace", "export", id, "--otlp-endpoint", j.otlp).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "9 spans of 2 executions sent") {
			t.Fatalf("wtb trace export: %v\n%s", err, out)
		}
		time.Sleep(2 * time.Second) // Jaeger stores what it receives in batches
		if again := j.trace(t, application.TraceID(id), 9); len(again) != 9 {
			t.Errorf("batch %v sent again: %d spans, want the same 9", c.args, len(again))
		}
	}
}

// resumeTraceBench: 12 cases × 2 combinations; the agent node (spans of its
// own, shared by both combinations of a case) takes a moment, so a host
// killed mid-batch leaves some executions stored and some not.
func (e *env) resumeTraceBench() {
	e.t.Helper()
	e.write("agent.sh", strings.Replace(traceoutAgent, "cat >/dev/null\n", "cat >/dev/null\nsleep 0.3\n", 1))
	var cases strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&cases, "{\"id\": \"c%02d\", \"input\": {\"q\": \"%d\"}}\n", i, i)
	}
	e.write("cases.jsonl", cases.String())
	e.write("bench.hcl", `
runner "pool" {
  plugin      = "pool"
  max_workers = 2
}
workflow "w" {
  node "agent" {
    command = ["sh", "agent.sh"]
  }
  node "answer" {
    kind       = "merge"
    depends_on = ["agent"]
    variant "short" { params = { answer = "a" } }
    variant "long"  { params = { answer = "a longer one" } }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.pool
  cases    = "cases.jsonl"
}
`)
}

// A batch whose host dies mid-batch (SIGKILL) and is resumed with export
// ends up in the collector whole and once: one batch span, one span per
// execution and per node run, the agent's own spans under every agent run
// (those stored before the kill included), no span id twice — whether the
// first run sent what it stored before it died (it exported to the same
// Jaeger) or not (its collector was down); and a first run interrupted
// (SIGINT) leaves the batch's span to the resume, which sends it once.
func TestTraceOutOfAResumedBatch(t *testing.T) {
	j := needJaeger(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	for _, c := range []struct {
		name, first string
		sig         syscall.Signal
	}{{"first run sent", j.otlp, syscall.SIGKILL}, {"first run's collector down", down, syscall.SIGKILL}, {"first run interrupted", j.otlp, syscall.SIGINT}} {
		t.Run(c.name, func(t *testing.T) { traceOutOfAResumedBatch(t, j, c.first, c.sig) })
	}
}

func traceOutOfAResumedBatch(t *testing.T, j jaeger, first string, sig syscall.Signal) {
	e := newEnv(t)
	e.resumeTraceBench()
	w := e.startWriting("run", "bench.hcl", "--otlp-endpoint", first)
	waitFor(t, 60*time.Second, func() string { return "nothing stored:\n" + w.stderr.String() }, func() bool { return w.rows(t) >= 16 })
	id := batchID(t, w.stderr.String())
	traceID := application.TraceID(id)
	if first == j.otlp {
		// Some of what was stored has reached the collector before the kill.
		j.trace(t, traceID, 3)
	}
	_ = w.cmd.Process.Signal(sig)
	_ = w.cmd.Wait()
	if sig == syscall.SIGINT && !strings.Contains(w.stderr.String(), "the batch's span waits for its end (`wtb resume "+id+"` sends it)") {
		t.Errorf("the interrupted run does not say the batch's span waits:\n%s", w.stderr.String())
	}
	st := e.store()
	before, err := st.Results().Count(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if before == 0 || before >= 24 {
		t.Fatalf("%d of 24 executions stored when the host was killed; want some but not all", before)
	}
	r := e.mustRun("resume", id, "--no-progress", "--otlp-endpoint", j.otlp)
	if !strings.Contains(r.stderr, "of 24 executions ("+fmt.Sprint(before)+" of them stored before this run) sent; trace id "+traceID) {
		t.Errorf("the resume does not say it sent the executions stored before it:\n%s", r.stderr)
	}
	assertExactlyOnce(t, e.results(st, id), 24)
	// 1 batch + 24 executions + 48 node runs + 12 agent runs × 2 spans.
	spans := j.trace(t, traceID, 97)
	var roots, execs int
	runs := map[string]int{}
	agents := 0
	for _, s := range spans {
		switch {
		case s.parent() == "":
			roots++
		case strings.HasPrefix(s.OperationName, "execution "):
			execs++
		case strings.HasPrefix(s.OperationName, "node "):
			runs[s.parent()]++
			if s.tag("wtb.node") == "agent" && s.tag("wtb.node_run.source") == "ran" {
				agents++
				var own []string
				for _, c := range spans {
					if c.parent() == s.SpanID {
						own = append(own, c.OperationName)
					}
				}
				if fmt.Sprint(own) != "[agent step]" {
					t.Errorf("agent run %s: spans beneath %v, want [agent step]", s.SpanID, own)
				}
			}
		}
	}
	if roots != 1 || execs != 24 || len(runs) != 24 || agents != 12 || len(spans) != 97 {
		t.Errorf("%d roots, %d execution spans, %d with node runs beneath, %d agent runs with their spans, %d spans; want 1, 24, 24, 12, 97",
			roots, execs, len(runs), agents, len(spans))
	}
	for parent, n := range runs {
		if n != 2 {
			t.Errorf("execution span %s has %d node runs beneath, want 2", parent, n)
		}
	}
}

// A wtb started inside a node exports its batch as part of that node run's
// trace, as OpenTelemetry tools do: the node's OTEL_EXPORTER_OTLP_ENDPOINT
// (the outer executor's receiver) turns its export on and TRACEPARENT names
// the parent, so the inner batch's spans come back as the node's own and
// the outer batch's trace in Jaeger holds the inner batch under the node run
// that started it.
func TestTraceOutOfANestedWTB(t *testing.T) {
	j := needJaeger(t)
	e := newEnv(t)
	e.write("inner.hcl", `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "leaf" { command = ["sh", "-c", "cat >/dev/null; echo '{\"leaf\": 1}'"] }
}
batch_test "inner" {
  workflow = workflow.w
  runner   = runner.pool
  case "one" { input = {} }
}
`)
	e.write("nested.sh", `#!/bin/sh
cat >/dev/null
"$WTB" --db "sqlite://$PWD/inner.db" run inner.hcl --no-progress >inner.out 2>&1 || { cat inner.out >&2; exit 1; }
echo '{"nested": true}'
`)
	e.write("bench.hcl", `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "nest" {
    command = ["sh", "nested.sh"]
    env     = { WTB = "`+e.wtb+`" }
    timeout = "60s"
  }
}
batch_test "outer" {
  workflow = workflow.w
  runner   = runner.pool
  case "one" { input = {} }
}
`)
	r := e.mustRun("run", "bench.hcl", "--no-progress", "--otlp-endpoint", j.otlp)
	id := batchID(t, r.stdout+r.stderr)
	traceID := application.TraceID(id)
	inner, err := os.ReadFile(e.dir + "/inner.out")
	if err != nil {
		t.Fatal(err)
	}
	// It joined the trace of its TRACEPARENT (the node run's, which the
	// outer export puts in the outer batch's trace), not one of its own.
	innerID := batchID(t, string(inner))
	if !strings.Contains(string(inner), "3 spans of 1 executions sent; trace id ") || strings.Contains(string(inner), application.TraceID(innerID)) {
		t.Errorf("the inner wtb did not export under its TRACEPARENT:\n%s", inner)
	}
	// Outer: batch, execution, node run; inner: batch, execution, node run.
	spans := j.trace(t, traceID, 6)
	byName := map[string]jaegerSpan{}
	for _, s := range spans {
		byName[s.OperationName] = s
	}
	outerRun, innerBatch := byName["node nest"], byName["batch inner"]
	if innerBatch.SpanID == "" || innerBatch.parent() != outerRun.SpanID || innerBatch.service != "wtb" || outerRun.SpanID == "" {
		t.Fatalf("want the inner batch's span under the outer node run %q; got %+v in %v", outerRun.SpanID, innerBatch, byName)
	}
	// Both batches have an execution default/one/0: one under each batch span.
	under := map[string]int{}
	for _, s := range spans {
		if s.OperationName == "execution default/one/0" {
			under[spans[s.parent()].OperationName]++
		}
	}
	if under["batch inner"] != 1 || under["batch outer"] != 1 {
		t.Errorf("execution spans by the batch above them: %v, want one under each", under)
	}
	if len(spans) != 6 {
		t.Errorf("%d spans, want 6", len(spans))
	}
}

// A fork's trace: the node runs it took from its parent batch are "forked"
// and bring the spans they had when they ran (from the parent's rows), as
// runs from the node cache do.
func TestTraceOutOfAFork(t *testing.T) {
	j := needJaeger(t)
	e := newEnv(t)
	e.traceoutBench("")
	parent := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
	r := e.mustRun("fork", parent, "--from", "agent", "bench.hcl", "--no-progress", "--otlp-endpoint", j.otlp)
	id := batchID(t, strings.Replace(r.stdout+r.stderr, parent, "", -1))
	if id == parent {
		t.Fatalf("no fork batch id in:\n%s", r.stderr)
	}
	spans := j.trace(t, application.TraceID(id), 17)
	checkBatchTrace(t, spans, id, e.store(), map[string]int{"forked": 2, "shared": 2})
}
