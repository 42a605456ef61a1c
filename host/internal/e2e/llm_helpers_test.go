package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wtbench/wtb/host/internal/testbin"
)

type llmUpstream struct {
	url, ca, key, python string
	// host names loopback without being "localhost" or an address (see
	// scripts/services.sh), when the machine has such a name.
	host string
}

func needLLM(t *testing.T) llmUpstream {
	t.Helper()
	u := llmUpstream{os.Getenv("WTB_TEST_LLM_URL"), os.Getenv("WTB_TEST_LLM_CA"), os.Getenv("WTB_TEST_LLM_KEY"), os.Getenv("WTB_TEST_LLM_PYTHON"),
		os.Getenv("WTB_TEST_LLM_HOST")}
	if u.url == "" || u.python == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("WTB_TEST_LLM_URL is not set: CI must run the model-call tests (scripts/services.sh starts LiteLLM)")
		}
		t.Skip("WTB_TEST_LLM_URL is not set; run `make test` (or eval \"$(WTB_SERVICES=llm scripts/services.sh start)\")")
	}
	return u
}

// forwarder stands between the gateway and LiteLLM: a TCP relay the test can
// stop ("the upstream is gone") and whose connections it counts (a replay
// must make none). TLS passes through it untouched.
type forwarder struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln}
	hostport := strings.TrimPrefix(target, "https://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			up, err := net.Dial("tcp", hostport)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.open = append(f.open, c, up)
			f.mu.Unlock()
			f.wg.Add(2)
			go func() { defer f.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer f.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(f.stop)
	return f
}

// url is the forwarder as an https URL (LiteLLM's certificate names
// 127.0.0.1, whatever the port).
func (f *forwarder) url() string { return "https://" + f.ln.Addr().String() }

// urlAs is the forwarder's URL under another name for loopback.
func (f *forwarder) urlAs(host string) string {
	_, port, _ := net.SplitHostPort(f.ln.Addr().String())
	return "https://" + net.JoinHostPort(host, port)
}

// stop closes the listener and every relayed connection: the upstream is
// gone, also for the gateway's pooled connections.
func (f *forwarder) stop() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.open {
		c.Close()
	}
	f.open = nil
	f.mu.Unlock()
	f.wg.Wait()
}

// llmNode is the tests' agent, on the official openai SDK: plan (one call),
// answer (a tool-call loop), ask (the same request twice: identical calls in
// one node run replay in order), and a persistent-worker stdlib client
// (urllib; 32 of them start in a moment) that sends its node-run key.
const llmNode = `
import json, os, sys, urllib.request
sys.path.insert(0, %q)
from wtb_node import serve

def client():
    from openai import OpenAI
    return OpenAI(max_retries=0)

def chat(messages, **kw):
    return client().chat.completions.create(model="gpt-4o-mini", messages=messages, **kw).choices[0].message

def plan(req):
    q = req["case"]["input"]["question"]
    m = chat([{"role": "system", "content": "You plan how to answer. Be %%s." %% req["params"]["style"]}, {"role": "user", "content": q}])
    return {"plan": m.content}

TOOLS = [{"type": "function", "function": {"name": "lookup_capital", "parameters": {"type": "object", "properties": {"country": {"type": "string"}}}}}]
CAPITALS = {"France": "Paris", "Japan": "Tokyo"}

def answer(req):
    q = req["case"]["input"]["question"]
    msgs = [{"role": "system", "content": "Answer. Plan: " + req["state"]["plan"]}, {"role": "user", "content": q}]
    kw = {"tools": TOOLS} if req["params"]["tools"] else {}
    for turn in range(4):
        m = chat(msgs, **kw)
        if not m.tool_calls:
            return {"answer": m.content, "turns": turn + 1}
        msgs.append({"role": "assistant", "content": None, "tool_calls": [{"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}} for c in m.tool_calls]})
        for c in m.tool_calls:
            msgs.append({"role": "tool", "tool_call_id": c.id, "content": CAPITALS.get(json.loads(c.function.arguments)["country"], "?")})
    return {"answer": "", "turns": 4}

def ask(req):
    msgs = [{"role": "user", "content": "Again: " + req["case"]["input"]["question"]}]
    return {"first": chat(msgs).content, "second": chat(msgs).content}

def quick(req):
    key = req["execution"]["key"]
    out = []
    for i in range(2):
        body = json.dumps({"model": os.environ.get("QUICK_MODEL", "gpt-4o-mini"), "user": key, "messages": [{"role": "user", "content": "call %%d of %%s in France" %% (i, key)}]}).encode()
        r = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body,
            headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
        out.append(json.load(urllib.request.urlopen(r))["choices"][0]["message"]["content"])
    return {"sent": key, "answers": out}

serve({"plan": plan, "answer": answer, "ask": ask, "quick": quick}[sys.argv[1]])
`

// writeLLMNode writes the agent and returns its path.
func (e *env) writeLLMNode() string {
	return e.write("llm_node.py", fmt.Sprintf(llmNode, filepath.Join(testbin.Root(), "sdk", "python")))
}

// agentBench: 4 combinations × 2 cases × 2 repeats, three nodes calling the
// model (8 plan runs, 16 answer runs, 16 ask runs), as persistent workers
// (the SDK is imported once per process, and each process's calls go through
// its own gateway channel, bound to the request it serves).
func agentBench(py, node, upstreamURL, ca, extraGateway string) string {
	return fmt.Sprintf(`
gateway {
  mode = "record"
  %s
  upstream "openai" {
    url     = "%s/v1"
    ca_file = %q
  }
}
runner "pool" {
  plugin      = "pool"
  max_workers = 8
}
workflow "agent" {
  node "plan" {
    command = [%q, %q, "plan"]
    worker  = true
    timeout = "120s"
    variant "brief" { params = { style = "brief" } }
    variant "stepwise" { params = { style = "step by step" } }
  }
  node "answer" {
    depends_on = ["plan"]
    command    = [%q, %q, "answer"]
    worker     = true
    timeout    = "120s"
    variant "tools" { params = { tools = true } }
    variant "guess" { params = { tools = false } }
  }
  node "ask" {
    depends_on = ["answer"]
    command    = [%q, %q, "ask"]
    worker     = true
    timeout    = "120s"
  }
}
batch_test "agent" {
  workflow = workflow.agent
  runner   = runner.pool
  repeat   = 2
  case "france" {
    input    = { question = "What is the capital of France?" }
    expected = { capital = "Paris" }
  }
  case "japan" {
    input    = { question = "What is the capital of Japan?" }
    expected = { capital = "Tokyo" }
  }
  evaluator "correct" {
    type   = "contains"
    path   = "$.answer"
    expect = "$.expected.capital"
  }
}
`, extraGateway, upstreamURL, ca, py, node, py, node, py, node)
}

// finalStates maps each execution of a batch to its final state (from
// `wtb results --format json` would lose them; the store has them).
func finalStates(t *testing.T, e *env, id string) map[string]string {
	t.Helper()
	st := e.store()
	out := map[string]string{}
	for _, r := range e.results(st, id) {
		if !r.Success {
			out[r.ExecutionKey] = "FAILED: " + r.Error
			continue
		}
		cp, err := st.Checkpoints().Get(context.Background(), r.FinalCheckpointID)
		if err != nil {
			t.Fatal(err)
		}
		out[r.ExecutionKey] = string(cp.State)
	}
	return out
}

func sameStates(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d executions, recorded %d", what, len(got), len(want))
	}
	for k, w := range want {
		var a, b any
		_ = json.Unmarshal([]byte(w), &a)
		_ = json.Unmarshal([]byte(got[k]), &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: %s\n  recorded %s\n  now      %s", what, k, w, got[k])
		}
	}
}

// tree reads every file under dir.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// quickRecordBench writes n cases and a bench of the stdlib "quick" node
// recording through the gateway on the pool, with nodeExtra in the node
// block (worker { … }), maxWorkers at a time.
func (e *env) quickRecordBench(llm llmUpstream, n, maxWorkers int, nodeExtra string) {
	e.t.Helper()
	node := e.writeLLMNode()
	var cases strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&cases, "{\"id\": \"c%02d\", \"input\": {}}\n", i)
	}
	e.write("cases.jsonl", cases.String())
	e.write("bench.hcl", fmt.Sprintf(`
gateway {
  mode = "record"
  upstream "openai" {
    url     = "%s/v1"
    ca_file = %q
  }
}
runner "pool" {
  plugin      = "pool"
  max_workers = %d
}
workflow "w" {
  node "quick" {
    command = [%q, %q, "quick"]
    timeout = "120s"
    %s
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  cases    = "cases.jsonl"
}
`, llm.url, llm.ca, maxWorkers, llm.python, node, nodeExtra))
}

// quickBench: one node on the stdlib client, 6 cases × 2 repeats, on the
// runner named runner (the others declared by blocks).
func quickBench(llm llmUpstream, node, blocks, runner string) string {
	return fmt.Sprintf(`
gateway {
  upstream "openai" {
    url     = "%s/v1"
    ca_file = %q
  }
}
%s
workflow "w" {
  node "quick" {
    command = [%q, %q, "quick"]
    env     = { OPENAI_API_KEY = %q }
    timeout = "120s"
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.%s
  repeat   = 2
  case "c1" { input = {} }
  case "c2" { input = {} }
  case "c3" { input = {} }
  case "c4" { input = {} }
  case "c5" { input = {} }
  case "c6" { input = {} }
}
`, llm.url, llm.ca, blocks, llm.python, node, llm.key, runner)
}
