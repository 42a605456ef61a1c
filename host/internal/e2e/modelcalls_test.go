package e2e

import (
	"bytes"

	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/testbin"
)

// The model-call gateway through the built binaries, against a real model
// API: LiteLLM's proxy over TLS (a CA of the tests' own) serving the scripted
// model of scripts/llm_mock.py, which numbers every answer — so a replay that
// gave one node run another's answer, or called the model again, shows.
// scripts/services.sh starts it (WTB_TEST_LLM_*).

// Record an agent's model calls, then replay them with the upstream gone —
// from the database and from exported cassettes — and get the same final
// state for every execution (repeats and prefix variants each get their own
// answers), no call reaching the upstream and no API key anywhere; a changed
// prompt is one clear replay miss with the diff.
func TestModelCallsRecordThenReplayWithTheUpstreamGone(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	node := e.writeLLMNode()
	fwd := newForwarder(t, llm.url)
	e.write("bench.hcl", agentBench(llm.python, node, fwd.url(), llm.ca, ""))
	rec := e.cmd("run", "bench.hcl", "--no-progress")
	rec.Env = append(rec.Env, "OPENAI_API_KEY="+llm.key)
	var stderr bytes.Buffer
	rec.Stderr = &stderr
	if err := rec.Run(); err != nil {
		t.Fatalf("record: %v\n%s", err, stderr.String())
	}
	recorded := batchID(t, stderr.String())
	// 8 plan calls, 8 + 16 answer calls (the tool loop takes two), 32 ask calls.
	if !strings.Contains(stderr.String(), "64 model calls (64 recorded)") {
		t.Fatalf("record:\n%s", stderr.String())
	}
	want := finalStates(t, e, recorded)
	if len(want) != 16 {
		t.Fatalf("recorded %d executions", len(want))
	}
	for k, s := range want {
		if strings.HasPrefix(s, "FAILED") {
			t.Fatalf("%s: %s", k, s)
		}
	}

	// Exported twice: the same bytes. The key is nowhere.
	a, b := filepath.Join(e.dir, "cassettes"), filepath.Join(t.TempDir(), "again")
	e.mustRun("cassettes", "export", recorded, a)
	e.mustRun("cassettes", "export", recorded, b)
	ta, tb := tree(t, a), tree(t, b)
	if len(ta) != 40 || fmt.Sprint(ta) != fmt.Sprint(tb) {
		t.Errorf("two exports differ (%d and %d files)", len(ta), len(tb))
	}
	for p, content := range ta {
		if bytes.Contains(content, []byte(llm.key)) {
			t.Errorf("the API key is in cassette %s", p)
		}
	}

	fwd.stop()
	before := fwd.conns.Load()
	replay := func(what string, args ...string) string {
		r := e.run(append([]string{"run", "bench.hcl", "--no-progress", "--model-calls", "replay"}, args...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", what, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "64 model calls (64 replayed)") {
			t.Errorf("%s:\n%s", what, r.stderr)
		}
		id := batchID(t, r.stderr)
		sameStates(t, what, want, finalStates(t, e, id))
		return r.stderr
	}
	replay("replay from the database")
	e.write("bench.hcl", agentBench(llm.python, node, fwd.url(), llm.ca, `cassettes = "cassettes"`))
	if out := replay("replay from cassettes"); strings.Contains(out, "no node run asked for") {
		t.Errorf("stale cassettes after a full replay:\n%s", out)
	}
	if fwd.conns.Load() != before {
		t.Errorf("a replay connected to the upstream")
	}
	raw, err := os.ReadFile(strings.TrimPrefix(e.db, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(llm.key)) {
		t.Errorf("the API key is in the database")
	}

	// A changed prompt: the plan runs of that variant miss, each with one
	// error naming the call and showing what differs; nothing is called.
	changed := strings.Replace(agentBench(llm.python, node, fwd.url(), llm.ca, `cassettes = "cassettes"`), `style = "brief"`, `style = "terse"`, 1)
	e.write("bench.hcl", changed)
	r := e.run("run", "bench.hcl", "--no-progress", "--model-calls", "replay")
	id := batchID(t, r.stderr)
	failed := 0
	for _, res := range e.results(e.store(), id) {
		if res.Success {
			if strings.Contains(res.ExecutionKey, "plan=brief") {
				t.Errorf("%s succeeded with a changed prompt", res.ExecutionKey)
			}
			continue
		}
		failed++
		if res.FailureKind != "replay_miss" || res.FailedNode != "plan" {
			t.Errorf("%s: failure %s in %s: %s", res.ExecutionKey, res.FailureKind, res.FailedNode, res.Error)
		}
		for _, s := range []string{"replay miss", `- `, `Be brief.`, `+ `, `Be terse.`, "no live call was made"} {
			if !strings.Contains(res.Error, s) {
				t.Errorf("%s: the miss does not say %q:\n%s", res.ExecutionKey, s, res.Error)
			}
		}
	}
	if failed != 8 {
		t.Errorf("%d executions failed; the 8 of plan=brief should", failed)
	}
	if fwd.conns.Load() != before {
		t.Errorf("a replay miss connected to the upstream")
	}
}

// 32 node runs at once on persistent workers, each process making two calls
// per request: every stored call belongs to the node run that made it.
func TestModelCallsOfWorkersBelongToTheirRuns(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	e.quickRecordBench(llm, 64, 32, "worker { max = 32 }")
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	cmd.Env = append(cmd.Env, "OPENAI_API_KEY="+llm.key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	id := batchID(t, string(out))
	st := e.store()
	ctx := context.Background()
	runs := map[string]int{}
	err = st.ModelCalls().Each(ctx, id, func(c *store.ModelCall) error {
		cp, err := st.Checkpoints().Get(ctx, c.RunID)
		if err != nil {
			return fmt.Errorf("call of run %s: %w", c.RunID, err)
		}
		var sent struct {
			Sent string `json:"sent"`
		}
		_ = json.Unmarshal(cp.Output, &sent)
		var req struct {
			JSON struct {
				User string `json:"user"`
			} `json:"json"`
		}
		_ = json.Unmarshal(c.Request, &req)
		if req.JSON.User == "" || req.JSON.User != sent.Sent {
			t.Errorf("a call of %q stored under the run of %q", req.JSON.User, sent.Sent)
		}
		runs[c.RunID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 64 {
		t.Fatalf("%d node runs have calls, want 64", len(runs))
	}
	for run, n := range runs {
		if n != 2 {
			t.Errorf("run %s has %d calls, want 2", run, n)
		}
	}
}

// Proxy mode, for clients with no base-URL setting: curl, the openai and
// anthropic Python SDKs and Go's net/http reach the upstream through
// HTTPS_PROXY, trusting the gateway's CA from the variables it sets; a host
// that is no upstream is refused (other_hosts = "deny"); the replay, with the
// upstream gone, gives the same answers.
func TestProxyModeRecordsAndReplaysEveryClient(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	fwd := newForwarder(t, llm.url)
	// Go's proxy settings never proxy loopback addresses or "localhost"; the
	// upstream goes by another name for loopback when the machine has one.
	upstream, goVariant := fwd.url(), ""
	if llm.host != "" {
		upstream = fwd.urlAs(llm.host)
		goVariant = fmt.Sprintf(`variant "go" { command = [%q] }`, testbin.Build(t, "httpcall", "./host/internal/testplugins/httpcall"))
	} else if os.Getenv("CI") == "true" {
		t.Fatal("WTB_TEST_LLM_HOST is not set: scripts/services.sh names loopback llm.wtb.test when it runs as root")
	} else {
		t.Log("no second name for loopback (WTB_TEST_LLM_HOST): Go's net/http is left out")
	}
	e.write("sdk.py", `
import json, os, sys
inp = json.load(sys.stdin)
q = inp["case"]["input"]["question"]
base = os.environ["HTTPCALL_URL"]
if sys.argv[1] == "openai":
    from openai import OpenAI
    r = OpenAI(base_url=base, max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": q}])
    print(json.dumps({"answer": r.choices[0].message.content}))
else:
    from anthropic import Anthropic
    r = Anthropic(base_url=base.rsplit("/v1", 1)[0], api_key=os.environ["OPENAI_API_KEY"], max_retries=0).messages.create(
        model="claude-3-5-haiku", max_tokens=64, messages=[{"role": "user", "content": q}])
    print(json.dumps({"answer": r.content[0].text}))
`)
	e.write("curl.sh", `#!/bin/sh
q=$(cat | sed 's/.*"question": *"\([^"]*\)".*/\1/')
curl -sS --fail-with-body "$HTTPCALL_URL/chat/completions" -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' \
  -d "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"$q\"}]}" |
  sed 's/.*"content":"\([^"]*\)".*/{"answer": "\1"}/'
`)
	e.write("denied.sh", `#!/bin/sh
cat >/dev/null
if curl -sS -m 5 https://example.invalid/ >/dev/null 2>&1; then echo '{"denied": false}'; else echo '{"denied": true}'; fi
`)
	bench := fmt.Sprintf(`
gateway {
  mode        = "record"
  proxy       = true
  other_hosts = "deny"
  upstream "llm" {
    url         = "%s/v1"
    ca_file     = %q
    api_key_env = "OPENAI_API_KEY" # replaying, set to a placeholder when unset
  }
}
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "call" {
    env = { HTTPCALL_URL = "%s/v1" }
    variant "curl"      { command = ["sh", "curl.sh"] }
    variant "openai"    { command = [%q, "sdk.py", "openai"] }
    variant "anthropic" { command = [%q, "sdk.py", "anthropic"] }
    %s
  }
  node "denied" {
    depends_on = ["call"]
    command    = ["sh", "denied.sh"]
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  case "france" { input = { question = "What is the capital of France?" } }
}
`, upstream, llm.ca, upstream, llm.python, llm.python, goVariant)
	e.write("bench.hcl", bench)
	clients := 3
	if goVariant != "" {
		clients = 4
	}
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	cmd.Env = append(cmd.Env, "OPENAI_API_KEY="+llm.key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	id := batchID(t, string(out))
	want := finalStates(t, e, id)
	for k, s := range want {
		if !strings.Contains(s, `"denied":true`) || !strings.Contains(s, "capital") {
			t.Errorf("%s: %s", k, s)
		}
	}
	calls := 0
	denied := 0
	_ = e.store().ModelCalls().Each(context.Background(), id, func(c *store.ModelCall) error {
		switch {
		case c.Upstream == "llm" && c.Status == 200 && c.Source == "recorded":
			calls++
		case strings.Contains(c.Error, "refused"):
			denied++
		default:
			t.Errorf("unexpected call %s %s %s: %d %s", c.Method, c.Upstream, c.Path, c.Status, c.Error)
		}
		return nil
	})
	if calls != clients || denied != clients {
		t.Errorf("%d calls recorded, %d refused; want %d each (one per client)", calls, denied, clients)
	}
	fwd.stop()
	r := e.run("run", "bench.hcl", "--no-progress", "--model-calls", "replay")
	if r.code != 0 {
		t.Fatalf("replay: exit %d\n%s", r.code, r.stderr)
	}
	sameStates(t, "proxy replay", want, finalStates(t, e, batchID(t, r.stderr)))
}

// Node's fetch has no proxy support before Node 22.21, so it goes through a
// base URL like most SDKs.
func TestNodeFetchThroughABaseURL(t *testing.T) {
	llm := needLLM(t)
	nodeBin, err := osexec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed")
		}
		t.Skip("no node")
	}
	e := newEnv(t)
	e.write("fetch.js", `
let input = "";
process.stdin.on("data", d => input += d).on("end", async () => {
  const q = JSON.parse(input).case.input.question;
  const r = await fetch(process.env.OPENAI_BASE_URL + "/chat/completions", {method: "POST",
    headers: {"Content-Type": "application/json", "Authorization": "Bearer " + process.env.OPENAI_API_KEY},
    body: JSON.stringify({model: "gpt-4o-mini", stream: true, messages: [{role: "user", content: q}]})});
  let text = "";
  for await (const chunk of r.body) text += Buffer.from(chunk).toString();
  const words = text.split("\n").filter(l => l.startsWith("data: {")).map(l => JSON.parse(l.slice(6)).choices[0]?.delta?.content || "");
  console.log(JSON.stringify({answer: words.join("")}));
});
`)
	e.write("bench.hcl", fmt.Sprintf(`
gateway {
  upstream "openai" {
    url     = "%s/v1"
    ca_file = %q
  }
}
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "fetch" { command = [%q, "fetch.js"] }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  case "japan" { input = { question = "What is the capital of Japan?" } }
}
`, llm.url, llm.ca, nodeBin))
	cmd := e.cmd("run", "bench.hcl", "--no-progress", "--model-calls", "record")
	cmd.Env = append(cmd.Env, "OPENAI_API_KEY="+llm.key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	id := batchID(t, string(out))
	want := finalStates(t, e, id)
	if !strings.Contains(fmt.Sprint(want), "The capital of Japan is Paris.") {
		t.Fatalf("the streamed answer did not arrive whole: %v", want)
	}
	var chunks int
	_ = e.store().ModelCalls().Each(context.Background(), id, func(c *store.ModelCall) error {
		var resp struct {
			Chunks []json.RawMessage `json:"chunks"`
		}
		_ = json.Unmarshal(c.Response, &resp)
		if !c.Streamed {
			t.Errorf("a streamed response was not recorded as a stream")
		}
		chunks += len(resp.Chunks)
		return nil
	})
	if chunks < 3 {
		t.Errorf("the stream was recorded in %d chunks", chunks)
	}
	r := e.run("run", "bench.hcl", "--no-progress", "--model-calls", "replay")
	if r.code != 0 {
		t.Fatalf("replay: %s", r.stderr)
	}
	sameStates(t, "fetch replay", want, finalStates(t, e, batchID(t, r.stderr)))

	// The viewer lists the call on the node's panel, its streamed response
	// folded under it; the key shows nowhere.
	url := startViewer(t, e)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/execution/"+id+"/default%2Fjapan%2F0"),
		chromedp.WaitVisible(`[data-testid=model-call]`)); err != nil {
		t.Fatal(err)
	}
	row := js[string](t, ctx, `document.querySelector('[data-testid=model-call]').textContent`)
	for _, s := range []string{"POST openai /chat/completions", "gpt-4o-mini", "200", "recorded", "streamed"} {
		if !strings.Contains(row, s) {
			t.Errorf("the model call's row does not say %q: %q", s, row)
		}
	}
	resp := js[string](t, ctx, `document.querySelector('[data-testid=call-response]').textContent`)
	if !strings.Contains(resp, "data: {") || !strings.Contains(resp, "Jap") {
		t.Errorf("the streamed response: %q", resp)
	}
	if page := js[string](t, ctx, `document.body.innerHTML`); strings.Contains(page, llm.key) {
		t.Error("the API key is on the execution page")
	}
	if out := e.mustRun("show", "--batch", id, "default/japan/0", "--calls").stdout; !strings.Contains(out, "#0 POST openai /chat/completions") ||
		!strings.Contains(out, "recorded, streamed") || !strings.Contains(out, "response:") {
		t.Errorf("show --calls:\n%s", out)
	}
}

// A host killed while recording loses no call and stores none twice: every
// stored node run has exactly its calls, and the resume records the rest.
func TestHostKilledWhileRecordingThenResume(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	e.quickRecordBench(llm, 48, 4, "")
	t.Setenv("OPENAI_API_KEY", llm.key) // before startWriting starts the host
	w := e.startWriting("run", "bench.hcl")
	waitFor(t, 120*time.Second, func() string { return "nothing stored:\n" + w.stderr.String() }, func() bool { return w.rows(t) >= 30 })
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	_ = w.cmd.Wait()
	id := batchID(t, w.stderr.String())
	resume := e.cmd("resume", id, "--no-progress")
	if out, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	st := e.store()
	assertExactlyOnce(t, e.results(st, id), 48)
	perRun := map[string][]int{}
	_ = st.ModelCalls().Each(context.Background(), id, func(c *store.ModelCall) error {
		if c.Outcome == store.OutcomeRan {
			perRun[c.RunID] = append(perRun[c.RunID], c.Ordinal)
		}
		return nil
	})
	cps, err := st.Checkpoints().ListByBatch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, cp := range cps {
		if cp.Node != "quick" {
			continue
		}
		ran++
		got := perRun[cp.ID]
		sort.Ints(got)
		if fmt.Sprint(got) != "[0 1]" {
			t.Errorf("node run %s has calls %v, want [0 1]", cp.ID, got)
		}
	}
	if ran != 48 || len(perRun) != 48 {
		t.Errorf("%d node runs stored, %d with calls; want 48 each", ran, len(perRun))
	}
}

// The same recordings on every runner: what a batch records on Temporal
// workers, the gRPC reference server or Ray actors travels back and replays
// on the pool to the same final states, and a replay on each gives what the
// pool's replay gives (wtb parity: no differences).
func TestModelCallRecordingsOnEveryRunner(t *testing.T) {
	llm := needLLM(t)
	check := func(t *testing.T, e *env, blocks, runner string) {
		node := e.writeLLMNode()
		e.write("bench.hcl", quickBench(llm, node, blocks, runner))
		r := e.run("run", "bench.hcl", "--no-progress", "--model-calls", "record")
		if r.code != 0 || !strings.Contains(r.stderr, "24 model calls (24 recorded)") {
			t.Fatalf("record on %s: exit %d\n%s", runner, r.code, r.stderr)
		}
		want := finalStates(t, e, batchID(t, r.stderr))
		e.write("bench.hcl", quickBench(llm, node, blocks, "pool"))
		r = e.run("run", "bench.hcl", "--no-progress", "--model-calls", "replay")
		if r.code != 0 || !strings.Contains(r.stderr, "24 model calls (24 replayed)") {
			t.Fatalf("replay on the pool: exit %d\n%s", r.code, r.stderr)
		}
		sameStates(t, "recorded on "+runner+", replayed on the pool", want, finalStates(t, e, batchID(t, r.stderr)))
		r = e.run("parity", "bench.hcl", "--runners", "pool,"+runner, "--no-progress", "--model-calls", "replay")
		if r.code != 0 || !strings.Contains(r.stdout, "no differences") {
			t.Errorf("parity pool vs %s replaying: exit %d\n%s%s", runner, r.code, r.stdout, r.stderr)
		}
	}
	t.Run("temporal", func(t *testing.T) {
		e := newTemporalEnv(t)
		e.worker("w1")
		check(t, e.env, e.runnerBlock("")+"\nrunner \"pool\" {\n  plugin = \"pool\"\n}\n", "cluster")
	})
	t.Run("grpc", func(t *testing.T) {
		e := grpcEnv(t)
		srv := startRemote(t)
		blocks := strings.Replace(remoteBlocks(srv.addr, ""), `runner "local"`, `runner "pool"`, 1)
		check(t, e, blocks, "remote")
	})
	t.Run("ray", func(t *testing.T) {
		e := newRayEnv(t)
		check(t, e.env, e.runnerBlock(""), "ray")
	})
}
