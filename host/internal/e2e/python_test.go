package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/testbin"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/conformance"
)

// kitNodes are the Python runner's node functions for the conformance kit:
// the quick node sets a key from its params, the slow one waits until its
// execution is cancelled.
const kitNodes = `
def set_key(request):
    p = request["params"]
    return {p["key"]: p["value"]}


def until_cancelled(request, ctx):
    while not ctx.wait(0.05):
        pass
    return {"woke": True}
`

// The example Python runner (examples/python-runner, launched as `make
// build` installs it) passes the SDK's conformance kit, nodes and all in
// Python.
func TestPythonRunnerConformance(t *testing.T) {
	testbin.PythonPlugins(t)
	nodes := filepath.Join(t.TempDir(), "kit_nodes.py")
	if err := os.WriteFile(nodes, []byte(kitNodes), 0o644); err != nil {
		t.Fatal(err)
	}
	conformance.RunRunner(t, conformance.Runner{
		Binary:        filepath.Join(testbin.PluginDir(t), testbin.RunnerPython),
		Config:        json.RawMessage(`{"max_concurrency": 16}`),
		InvalidConfig: json.RawMessage(`{"max_concurrency": 0}`),
		InvalidPath:   []string{"max_concurrency"},
		Node: func(name, key, value string) sdk.Node {
			params, _ := json.Marshal(map[string]string{"key": key, "value": value})
			return sdk.Node{Name: name, Kind: "python", Command: []string{nodes, "set_key"}, Params: params}
		},
		SlowNode: func(name string) sdk.Node {
			return sdk.Node{Name: name, Kind: "python", Command: []string{nodes, "until_cancelled"}}
		},
	})
}

// The example Python environment provider (examples/python-env) passes the
// SDK's conformance kit.
func TestPythonEnvironmentConformance(t *testing.T) {
	testbin.PythonPlugins(t)
	conformance.RunEnvironment(t, conformance.Environment{
		Binary:        filepath.Join(testbin.PluginDir(t), testbin.EnvPython),
		Config:        json.RawMessage(`{"root": "` + t.TempDir() + `", "env": {"A": "1"}}`),
		InvalidConfig: json.RawMessage(`{"env": {"NOT A NAME": "x"}}`),
		InvalidPath:   []string{"env"},
		Variant:       json.RawMessage(`{"env": {"B": "2"}, "files": {"prompt.txt": "hello"}}`),
	})
}

// The example bench runs through `wtb run` with both Python plugins: every
// execution stored once, the expected ranking, the nodes' log lines and
// metrics stored with their runs, and `wtb plugins` describes both plugins.
func TestPythonPluginsRunARealBatch(t *testing.T) {
	e := newEnv(t)
	testbin.PythonPlugins(t)
	pd := testbin.PluginDir(t)
	r := e.mustRun("--plugin-dir", pd, "run", filepath.Join(testbin.Root(), "examples", "python-runner", "bench.hcl"), "--no-progress")
	if !strings.Contains(r.stderr+r.stdout, "64 succeeded, 0 failed") {
		t.Errorf("want 64 succeeded executions:\n%s\n%s", r.stdout, r.stderr)
	}
	id := batchID(t, r.stdout+r.stderr)
	st := e.store()
	rs := e.results(st, id)
	assertExactlyOnce(t, rs, 64)
	for _, res := range rs {
		if !res.Success {
			t.Errorf("%s failed: %s", res.ExecutionKey, res.Error)
		}
	}
	if !regexp.MustCompile(`(?m)^1\s+retrieve=bm25,answer=terse\s+1\.000`).MatchString(r.stdout) {
		t.Errorf("bm25 + terse should rank first with 1.000:\n%s", r.stdout)
	}
	show := e.mustRun("show", "--batch", id, "retrieve=bm25,answer=terse/capital-france/0").stdout
	for _, want := range []string{`$.answer = "Paris"`, `stderr | retrieved with bm25 for 'What is the capital of France?'`, `"top_score":3.31`} {
		if !strings.Contains(show, want) {
			t.Errorf("wtb show lacks %q:\n%s", want, show)
		}
	}

	var doc struct {
		Plugins []struct {
			Name, Kind, Version, Error string
			NodeKinds                  []string `json:"node_kinds"`
			ProtocolVersions           []int    `json:"protocol_versions"`
			SDKVersion                 string   `json:"sdk_version"`
		}
	}
	out := e.mustRun("--plugin-dir", pd, "plugins", "--format", "json").stdout
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("wtb plugins --format json: %v\n%s", err, out)
	}
	found := map[string]bool{}
	for _, p := range doc.Plugins {
		if p.Name != "python-example" {
			continue
		}
		found[p.Kind] = true
		if p.Error != "" || p.Version != "0.1.0" || !slices.Equal(p.ProtocolVersions, []int{1}) || !strings.HasPrefix(p.SDKVersion, "python-") {
			t.Errorf("wtb plugins describes %s %s as %+v", p.Kind, p.Name, p)
		}
		if kinds := slices.Sorted(slices.Values(p.NodeKinds)); p.Kind == "runner" && !slices.Equal(kinds, []string{"merge", "python"}) {
			t.Errorf("runner node kinds %v, want merge, python", p.NodeKinds)
		}
	}
	if !found["runner"] || !found["environment"] {
		t.Errorf("wtb plugins should list the Python runner and environment provider:\n%s", out)
	}
}

// What goes wrong in a Python node is reported as it is for a command node:
// an exception fails the node with its traceback, wtb_node.Retryable is
// retried, a node past its timeout fails at once (its thread is left behind);
// print() and logging from plugin code reach the host's log.
func TestPythonRunnerFailuresRetriesAndLogs(t *testing.T) {
	e := newEnv(t)
	testbin.PythonPlugins(t)
	e.write("nodes.py", `
import logging
import time

from wtb_node import Retryable

seen = set()


def talk(request):
    print("printed by a node")
    logging.getLogger("nodes").warning("logged by a node")
    return {"talked": True}


def finish(request):
    mode = request["params"]["mode"]
    if mode == "broken":
        raise ValueError("bad input")
    if mode == "slow":
        time.sleep(60)
    return {"finished": mode}


def flaky(request):
    key = request["execution"]["key"]
    if key not in seen:
        seen.add(key)
        raise Retryable("the upstream said 429")
    return {"flaky": "ok"}
`)
	e.write("bench.hcl", `
runner "py" {
  plugin = "python-example"
}
workflow "w" {
  node "talk" {
    kind    = "python"
    command = ["${path.root}/nodes.py", "talk"]
  }
  node "finish" {
    depends_on = ["talk"]
    kind       = "python"
    command    = ["${path.root}/nodes.py", "finish"]
    timeout    = "1s"
    variant "ok" { params = { mode = "ok" } }
    variant "broken" { params = { mode = "broken" } }
    variant "slow" { params = { mode = "slow" } }
  }
  node "flaky" {
    depends_on = ["finish"]
    kind       = "python"
    command    = ["${path.root}/nodes.py", "flaky"]
  }
}
batch_test "b" {
  workflow       = workflow.w
  runner         = runner.py
  share_prefixes = false
  max_retries    = 1
  retry_backoff  = "10ms"
  case "c" { input = {} }
}
`)
	start := time.Now()
	r := e.run("--log-level", "info", "--plugin-dir", testbin.PluginDir(t), "run", "bench.hcl", "--no-progress")
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the batch took %s: a node past its timeout must not hold it up", took)
	}
	if r.code != 0 {
		// No thresholds: failed executions are results, not a failed run.
		t.Errorf("wtb run exited %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"printed by a node", "logged by a node"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the host's log lacks %q:\n%s", want, r.stderr)
		}
	}
	st := e.store()
	byCombination := map[string]store.Result{}
	for _, res := range e.results(st, batchID(t, r.stdout+r.stderr)) {
		byCombination[res.Combination] = res
	}
	if ok := byCombination["finish=ok"]; !ok.Success || ok.Attempts != 2 {
		t.Errorf("finish=ok: want success after one retry (Retryable), got success=%v attempts=%d error=%s", ok.Success, ok.Attempts, ok.Error)
	}
	broken := byCombination["finish=broken"]
	if broken.Success || broken.Attempts != 1 || !strings.Contains(broken.Error, "ValueError: bad input") || !strings.Contains(broken.Error, "Traceback") {
		t.Errorf("finish=broken: want one failed attempt with the traceback, got success=%v attempts=%d error=%s", broken.Success, broken.Attempts, broken.Error)
	}
	if slow := byCombination["finish=slow"]; slow.Success || !strings.Contains(slow.Error, "timed out after 1s") {
		t.Errorf("finish=slow: want a timeout, got success=%v error=%s", slow.Success, slow.Error)
	}
}

// A Python plugin never outlives its host, even one killed with SIGKILL, nor
// do the processes its nodes started; and a print() at import time (after
// importing wtb_plugin) does not break the handshake.
func TestPythonPluginDiesWithItsHost(t *testing.T) {
	e := newEnv(t)
	testbin.PythonPlugins(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "chatty.py")
	if err := os.WriteFile(plugin, []byte(`
import sys
import wtb_plugin  # first: from here on nothing reaches stdout before the handshake

print("chatty plugin: loading")  # would otherwise break go-plugin's handshake
sys.path.insert(0, `+strconv.Quote(filepath.Join(testbin.Root(), "examples", "python-runner"))+`)
from runner import PythonRunner

wtb_plugin.serve_runner(PythonRunner())
`), 0o644); err != nil {
		t.Fatal(err)
	}
	launcher, err := os.ReadFile(filepath.Join(testbin.PluginDir(t), testbin.RunnerPython))
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Replace(string(launcher), filepath.Join(testbin.Root(), "examples", "python-runner", "runner.py"), plugin, 1)
	if err := os.WriteFile(filepath.Join(dir, "wtb-runner-chatty"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// Each node starts a process of its own and ignores cancellation.
	e.write("sleep.py", "import subprocess, time\n\ndef sleep(request):\n    subprocess.Popen(['sleep', '30171'])\n    time.sleep(120)\n    return {}\n")
	e.write("bench.hcl", `
runner "py" {
  plugin = "chatty"
}
workflow "w" {
  node "sleep" {
    kind    = "python"
    command = ["${path.root}/sleep.py", "sleep"]
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.py
  repeat   = 4
  case "c" { input = {} }
}
`)
	cmd := e.cmd("--plugin-dir", dir, "run", "bench.hcl", "--no-progress")
	// A temporary directory of its own, where the host makes its scratch
	// directory and the plugin its socket's, in the directory go-plugin
	// makes for it there (short: sockets go beneath it).
	tmp, err := os.MkdirTemp("", "w")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited })
	socketDirs := func() []string {
		m, _ := filepath.Glob(filepath.Join(tmp, "wtb-host-*", "plugin-dir*", "wtb-plugin-*"))
		return m
	}
	var plugins []int
	waitFor(t, 30*time.Second, func() string { return "the chatty plugin to run its nodes (wtb stderr: " + stderr.String() + ")" }, func() bool {
		plugins = childPids(cmd.Process.Pid, "chatty.py")
		return len(plugins) == 1 && len(pidsWith("sleep\x0030171")) == 4 && len(socketDirs()) == 1
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-waited
	waitFor(t, 5*time.Second, func() string {
		return fmt.Sprintf("the Python plugin %d to exit after its host was killed", plugins[0])
	},
		func() bool { return !alive(plugins[0]) })
	waitFor(t, 5*time.Second, func() string {
		return fmt.Sprintf("the nodes' processes %v to die with the plugin", pidsWith("sleep\x0030171"))
	},
		func() bool { return len(pidsWith("sleep\x0030171")) == 0 })
	// Its socket's directory went with it (one was left per run before).
	if left := socketDirs(); len(left) != 0 {
		t.Errorf("the plugin left its socket's directory behind: %v", left)
	}
}

// The Python SDK's own unit tests, with the plugin runtime's Python: the
// plugin's pure parts (test_wtb_plugin) and the spans of in-process nodes
// (test_wtb_spans).
func TestPythonSDKUnitTests(t *testing.T) {
	venv := testbin.PythonPlugins(t)
	cmd := osexec.Command(filepath.Join(venv, "bin", "python"), "-m", "unittest", "-v", "test_wtb_plugin", "test_wtb_spans")
	cmd.Dir = filepath.Join(testbin.Root(), "sdk", "python")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python -m unittest test_wtb_plugin test_wtb_spans: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// The plugin the README's "Writing a plugin in Python" section builds, taken
// from the README as a reader would copy it, passes the conformance kit with
// the README's settings.
func TestReadmePythonPlugin(t *testing.T) {
	venv := testbin.PythonPlugins(t)
	readme, err := os.ReadFile(filepath.Join(testbin.Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	i := strings.Index(section, "\n## Writing a plugin in Python\n")
	if i < 0 {
		t.Fatal(`README.md has no "## Writing a plugin in Python" section`)
	}
	section = section[i:]
	block := func(lang string) string {
		t.Helper()
		start := strings.Index(section, "\n```"+lang+"\n")
		if start < 0 {
			t.Fatalf("the section has no %s block", lang)
		}
		body := section[start+len("\n```"+lang+"\n"):]
		return body[:strings.Index(body, "\n```")+1]
	}
	dir := t.TempDir()
	plugin := filepath.Join(dir, "shout.py")
	if err := os.WriteFile(plugin, []byte(block("python")), 0o644); err != nil {
		t.Fatal(err)
	}
	// The README's launcher, with this machine's venv (where wtb_plugin comes
	// from sdk/python rather than pip install).
	launcher := strings.NewReplacer("~/.venvs/shout", venv, "/path/to/shout.py", plugin,
		"exec ", "PYTHONPATH="+filepath.Join(testbin.Root(), "sdk", "python")+" exec ").Replace(block("sh\n#!/bin/sh"))
	if !strings.Contains(launcher, plugin) {
		t.Fatalf("the README's launcher no longer names /path/to/shout.py:\n%s", launcher)
	}
	bin := filepath.Join(dir, "plugins", "wtb-runner-shout")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+launcher), 0o755); err != nil {
		t.Fatal(err)
	}
	conformance.RunRunner(t, conformance.Runner{
		Binary:        bin,
		Config:        json.RawMessage(`{"parallelism": 8}`),
		InvalidConfig: json.RawMessage(`{"parallelism": 0}`),
		InvalidPath:   []string{"parallelism"},
		SlowNode: func(name string) sdk.Node {
			return sdk.Node{Name: name, Kind: "shout", Params: json.RawMessage(`{"delay": 60}`)}
		},
	})
}

// The spans a Python runner's nodes make with OpenTelemetry come back with
// their node runs: the example agent (examples/python-runner/agent.hcl, 20
// executions, 8 at once in one plugin process) has each node run's planner
// turn and tool calls stored under that run alone, beneath the node run's
// own span; wtb show draws them and lists the tool calls; the trajectory
// evaluator scores the tools each variant called.
func TestPythonRunnerNodeSpans(t *testing.T) {
	e := newEnv(t)
	testbin.PythonPlugins(t)
	r := e.run("--plugin-dir", testbin.PluginDir(t), "run", filepath.Join(testbin.Root(), "examples", "python-runner", "agent.hcl"), "--no-progress")
	if r.code != 0 {
		// The threshold is on the best combination, which the trajectory
		// evaluator ranks.
		t.Errorf("wtb run exited %d: its threshold is not met\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	id := batchID(t, r.stdout+r.stderr)
	st := e.store()
	allSucceeded(t, e, st, id, 20)

	cases, err := os.ReadFile(filepath.Join(testbin.Root(), "examples", "python-runner", "agent-cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	questions := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(cases)), "\n") {
		var c struct {
			ID    string
			Input struct{ Question string }
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		questions[c.ID] = c.Input.Question
	}
	for _, res := range e.results(st, id) {
		// The planned policy calls the one tool the case needs; the eager one
		// searches first whatever the question.
		want, note := 1.0, ""
		if res.Combination == "agent=eager" && (res.CaseID == "product" || res.CaseID == "sum") {
			want, note = 0, "called [search, calculator] in node agent; expected [calculator] in that order: call 1 is search, expected calculator"
		}
		if res.Scores["tools"] != want || (note != "" && res.Notes["tools"] != note) {
			t.Errorf("%s: trajectory score %.3f (%s), want %.0f %s", res.ExecutionKey, res.Scores["tools"], res.Notes["tools"], want, note)
		}
		if res.Scores["turns"] != 1 || res.Scores["correct"] != 1 {
			t.Errorf("%s: scores %v %v", res.ExecutionKey, res.Scores, res.Notes)
		}
	}

	rows := e.spanRows(st, id)
	if len(rows) != 20 {
		t.Fatalf("%d node runs have spans, want 20", len(rows))
	}
	type interval struct{ start, end time.Time }
	var roots []interval
	traces := map[string]bool{}
	for _, row := range rows {
		var spans []sdk.Span
		if err := json.Unmarshal(row.Spans, &spans); err != nil {
			t.Fatal(err)
		}
		// The execution key is COMBINATION/CASE/REPEAT.
		caseID := strings.Split(row.ExecutionKey, "/")[1]
		eager := strings.HasPrefix(row.ExecutionKey, "agent=eager/")
		var tools []string
		byID := map[string]sdk.Span{}
		for _, s := range spans {
			byID[s.SpanID] = s
		}
		root := spans[0]
		if root.Source != sdk.SpanSourceWTB || root.Name != "agent" || root.ParentID != "" || root.Status != "ok" {
			t.Fatalf("%s: the first span is not the node run's own: %+v", row.ExecutionKey, root)
		}
		if traces[root.TraceID] {
			t.Errorf("%s: trace %s is another node run's too", row.ExecutionKey, root.TraceID)
		}
		traces[root.TraceID] = true
		roots = append(roots, interval{root.Start, root.End})
		for _, s := range spans[1:] {
			if s.TraceID != root.TraceID || s.Source != sdk.SpanSourceNode || s.Service != "agent" || s.Scope != "examples.python-runner.agent" {
				t.Errorf("%s: span %q is not the node's in the node run's trace: %+v", row.ExecutionKey, s.Name, s)
			}
			if _, ok := byID[s.ParentID]; !ok {
				t.Errorf("%s: span %q hangs from %q, no span of this node run", row.ExecutionKey, s.Name, s.ParentID)
			}
			var a map[string]any
			_ = json.Unmarshal(s.Attributes, &a)
			if a["gen_ai.operation.name"] != "execute_tool" {
				continue
			}
			tools = append(tools, a["gen_ai.tool.name"].(string))
			var args map[string]string
			_ = json.Unmarshal([]byte(a["gen_ai.tool.call.arguments"].(string)), &args)
			if q, ok := args["query"]; ok && q != questions[caseID] {
				t.Errorf("%s (case %s) holds another node run's tool call: search %q", row.ExecutionKey, caseID, q)
			}
		}
		want := []string{"search"}
		if caseID == "product" || caseID == "sum" {
			want = []string{"calculator"}
			if eager {
				want = []string{"search", "calculator"}
			}
		}
		if !slices.Equal(tools, want) || row.Dropped != 0 || len(spans) != 3+len(want) {
			t.Errorf("%s: tools %v, %d spans, %d dropped; want %v, %d, 0: %s", row.ExecutionKey, tools, len(spans), row.Dropped, want, 3+len(want), row.Spans)
		}
	}
	// The node runs did run at once: their spans were told apart, not merely
	// collected one node run after another.
	overlaps := 0
	for i := range roots {
		for j := i + 1; j < len(roots); j++ {
			if roots[i].start.Before(roots[j].end) && roots[j].start.Before(roots[i].end) {
				overlaps++
			}
		}
	}
	if overlaps == 0 {
		t.Errorf("no two of the 20 node runs overlapped: the test shows nothing about concurrent node runs")
	}

	show := e.mustRun("show", "--batch", id, "agent=eager/product/0").stdout
	for _, want := range []string{"spans (5):", "✓ agent", "agent qa", "chat scripted-planner  (model scripted-planner)",
		"execute_tool calculator  (tool calculator)", "tool calls (2):", `2. calculator {"expression": "17 * 23"}`,
		"tools: called [search, calculator] in node agent"} {
		if !strings.Contains(show, want) {
			t.Errorf("wtb show lacks %q:\n%s", want, show)
		}
	}
}

// A Python node past the bound keeps 2,000 spans and says how many it
// dropped, in the plugin's log and in wtb show; a node that fails reports
// the spans it made, under a node run span marked with its failure; an async
// node's tasks' spans are its own.
func TestPythonRunnerNodeSpansBoundAndFailure(t *testing.T) {
	e := newEnv(t)
	testbin.PythonPlugins(t)
	e.write("nodes.py", `
import asyncio

from opentelemetry import trace

tracer = trace.get_tracer("t")


async def tool(name):
    with tracer.start_as_current_span("execute_tool " + name, attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}):
        await asyncio.sleep(0.01)


async def gather(request):
    await asyncio.gather(tool("search"), tool("lookup"))
    return {"gathered": True}


def flood(request):
    for i in range(2500):
        tracer.start_span("step %d" % i).end()
    return {"flooded": True}


def broken(request):
    with tracer.start_as_current_span("execute_tool fetch", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch"}):
        pass
    raise ValueError("fetch gave nothing")
`)
	e.write("bench.hcl", `
runner "py" {
  plugin = "python-example"
}
workflow "w" {
  node "gather" {
    kind    = "python"
    command = ["${path.root}/nodes.py", "gather"]
  }
  node "flood" {
    depends_on = ["gather"]
    kind       = "python"
    command    = ["${path.root}/nodes.py", "flood"]
  }
  node "broken" {
    depends_on = ["flood"]
    kind       = "python"
    command    = ["${path.root}/nodes.py", "broken"]
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.py
  case "c" { input = {} }
}
`)
	r := e.run("--log-level", "info", "--plugin-dir", testbin.PluginDir(t), "run", "bench.hcl", "--no-progress")
	if r.code != 0 {
		t.Fatalf("wtb run exited %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "node 'flood' is past its bound of 2000 spans or 4 MiB per node run") {
		t.Errorf("the host's log does not say the node's spans were bounded:\n%s", lastLines(r.stderr, 10))
	}
	show := e.mustRun("show", "--batch", batchID(t, r.stdout+r.stderr), "c/0").stdout
	for _, want := range []string{"spans (3):", "execute_tool lookup  (tool lookup)", "tool calls (2):",
		"spans (2001):", "500 more spans dropped: past the bound of 2000 spans", "spans (2):",
		"✗ broken  (attempt 1, error: ValueError: fetch gave nothing", "execute_tool fetch  (attempt 1, tool fetch)", "tool calls (1):"} {
		if !strings.Contains(show, want) {
			t.Errorf("wtb show lacks %q:\n%s", want, lastLines(show, 25))
		}
	}
}

// A process a Python node starts with the node's ctx.env sends its spans to
// the node run through the plugin's OTLP receiver, as a Go runner's command
// node does: a real OpenTelemetry SDK with its OTLP/HTTP exporter in the
// child, 4 node runs at once, each child's spans under its own node run with
// the node function's in-process span beside them.
func TestPythonRunnerSubprocessSpans(t *testing.T) {
	python := needOTelPython(t)
	e := newEnv(t)
	testbin.PythonPlugins(t)
	e.write("child.py", `import json, os, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract

tp = TracerProvider()
tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tp)
case = json.load(sys.stdin)["case"]["id"]
tracer = trace.get_tracer("child-agent")
with tracer.start_as_current_span("child agent", context=extract({"traceparent": os.environ["TRACEPARENT"]})):
    with tracer.start_as_current_span("execute_tool lookup", attributes={"gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "lookup", "gen_ai.tool.call.arguments": json.dumps({"case": case})}):
        pass
tp.shutdown()
print(json.dumps({"case": case}))
`)
	e.write("nodes.py", `import json, os, subprocess

from opentelemetry import trace


def child(request, ctx):
    with trace.get_tracer("parent").start_as_current_span("start child"):
        out = subprocess.run([request["params"]["python"], os.path.join(os.path.dirname(__file__), "child.py")],
                             input=json.dumps(request), env={**os.environ, **ctx.env}, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)
`)
	e.write("bench.hcl", `
runner "py" {
  plugin          = "python-example"
  max_concurrency = 4
}
workflow "w" {
  node "child" {
    kind    = "python"
    command = ["${path.root}/nodes.py", "child"]
    params  = { python = "`+python+`" }
    timeout = "60s"
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.py
  case "ca" { input = {} }
  case "cb" { input = {} }
  case "cc" { input = {} }
  case "cd" { input = {} }
  evaluator "looked_up" {
    type = "tool_used"
    tool = "lookup"
  }
}
`)
	r := e.mustRun("--plugin-dir", testbin.PluginDir(t), "run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stdout+r.stderr)
	st := e.store()
	key := allSucceeded(t, e, st, id, 4)
	for _, res := range e.results(st, id) {
		if res.Scores["looked_up"] != 1 {
			t.Errorf("%s: tool_used %v (%s)", res.ExecutionKey, res.Scores["looked_up"], res.Notes["looked_up"])
		}
	}
	rows := e.spanRows(st, id)
	if len(rows) != 4 {
		t.Fatalf("%d node runs have spans, want 4", len(rows))
	}
	for _, row := range rows {
		var spans []sdk.Span
		if err := json.Unmarshal(row.Spans, &spans); err != nil {
			t.Fatal(err)
		}
		caseID := strings.Split(row.ExecutionKey, "/")[1]
		var names []string
		for _, s := range spans {
			names = append(names, s.Service+":"+s.Name)
			if s.TraceID != spans[0].TraceID {
				t.Errorf("%s: span %q is not in the node run's trace", row.ExecutionKey, s.Name)
			}
			if strings.Contains(string(s.Attributes), `"gen_ai.tool.name":"lookup"`) && !strings.Contains(string(s.Attributes), `\"case\": \"`+caseID+`\"`) {
				t.Errorf("%s holds another node run's tool call: %s", row.ExecutionKey, s.Attributes)
			}
		}
		slices.Sort(names)
		if want := []string{"child:child", "child:child agent", "child:execute_tool lookup", "child:start child"}; !slices.Equal(names, want) || spans[0].Source != sdk.SpanSourceWTB {
			t.Errorf("%s: spans %v, want %v under the node run's own: %s", row.ExecutionKey, names, want, row.Spans)
		}
	}
	show := e.mustRun("show", key["cb"], "--batch", id).stdout
	for _, want := range []string{"spans (4):", "child agent", "tool calls (1):", `lookup {"case": "cb"}`} {
		if !strings.Contains(show, want) {
			t.Errorf("wtb show lacks %q:\n%s", want, show)
		}
	}
}
