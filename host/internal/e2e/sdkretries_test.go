package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/wtbench/wtb/host/internal/store"
)

// The official openai and anthropic SDKs, with their own retries off and on,
// against LiteLLM's proxy whose limited-* models push back (429, LiteLLM's
// RateLimitError) on the first ask of every prompt:
//   - the gateway keeping the upstream's limits (retries, by default) sends
//     each pushed-back call again itself: the SDKs never see a 429, every
//     execution passes on its first attempt, and each stored call says it was
//     sent twice;
//   - with the gateway's retries off, an SDK that retries gets through on its
//     own (two calls stored, the 429 and the answer) and one that does not
//     fails its node — as a retryable infrastructure failure, never a score:
//     the batch's retry then passes.
func TestOfficialSDKsWithAndWithoutTheirRetriesUnderPushBack(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	e.write("ask.py", `
import json, os, sys
inp = json.load(sys.stdin)
sdk, retries = sys.argv[1], int(sys.argv[2])
q = "What is the capital of France? (%s %s %s%d)" % (os.environ["TAG"], inp["case"]["id"], sdk, retries)
base = os.environ["OPENAI_BASE_URL"]
if sdk == "openai":
    from openai import OpenAI
    r = OpenAI(base_url=base + "/v1", max_retries=retries).chat.completions.create(
        model="limited-gpt", messages=[{"role": "user", "content": q}])
    answer = r.choices[0].message.content
else:
    from anthropic import Anthropic
    r = Anthropic(base_url=base, api_key=os.environ["OPENAI_API_KEY"], max_retries=retries).messages.create(
        model="limited-claude", max_tokens=64, messages=[{"role": "user", "content": q}])
    answer = r.content[0].text
print(json.dumps({"answer": answer}))
`)
	bench := func(gatewayRetries string) string {
		tag := make([]byte, 6)
		_, _ = rand.Read(tag)
		return fmt.Sprintf(`
gateway {
  mode = "record"
  upstream "llm" {
    url          = "%s"
    ca_file      = %q
    api_key_env  = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    %s
  }
}
runner "pool" {
  plugin      = "pool"
  max_workers = 8
}
workflow "w" {
  node "ask" {
    env = { TAG = %q }
    variant "openai0"    { command = [%q, "ask.py", "openai", "0"] }
    variant "openai2"    { command = [%q, "ask.py", "openai", "2"] }
    variant "anthropic0" { command = [%q, "ask.py", "anthropic", "0"] }
    variant "anthropic2" { command = [%q, "ask.py", "anthropic", "2"] }
  }
}
batch_test "w" {
  workflow    = workflow.w
  runner      = runner.pool
  max_retries = 1
  case "c1" { input = {} }
  case "c2" { input = {} }
}
`, llm.url, llm.ca, gatewayRetries, hex.EncodeToString(tag), llm.python, llm.python, llm.python, llm.python)
	}
	run := func(gatewayRetries string) (map[string]store.Result, map[string][]store.ModelCall) {
		t.Helper()
		e.write("bench.hcl", bench(gatewayRetries))
		cmd := e.cmd("run", "bench.hcl", "--no-progress")
		cmd.Env = append(cmd.Env, "OPENAI_API_KEY="+llm.key)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run (%s): %v\n%s", gatewayRetries, err, out)
		}
		id := batchID(t, string(out))
		results := map[string]store.Result{}
		for _, r := range e.results(e.store(), id) {
			results[r.ExecutionKey] = r
		}
		calls := map[string][]store.ModelCall{}
		err = e.store().ModelCalls().Each(context.Background(), id, func(c *store.ModelCall) error {
			calls[c.ExecutionKey] = append(calls[c.ExecutionKey], *c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 8 {
			t.Fatalf("%d executions stored; want 8\n%s", len(results), out)
		}
		return results, calls
	}

	// The gateway's retries (the default, 4): one call per execution, sent twice.
	results, calls := run("")
	for key, r := range results {
		if !r.Success || r.Attempts != 1 {
			t.Errorf("gateway retries: %s: success %v after %d attempts: %s", key, r.Success, r.Attempts, r.Error)
		}
		if cs := calls[key]; len(cs) != 1 || cs[0].Status != 200 || cs[0].Attempts != 2 {
			t.Errorf("gateway retries: %s: calls %s; want one, 200, sent twice", key, describeCalls(cs))
		}
	}

	// The gateway's retries off: the SDKs are on their own.
	results, calls = run("retries = 0")
	for key, r := range results {
		sdkRetries := r.Variants["ask"] == "openai2" || r.Variants["ask"] == "anthropic2"
		switch {
		case !r.Success:
			t.Errorf("no gateway retries: %s failed: %s (%s)", key, r.Error, r.FailureKind)
		case sdkRetries && r.Attempts != 1:
			t.Errorf("no gateway retries: %s: the SDK retries, yet %d attempts", key, r.Attempts)
		case !sdkRetries && r.Attempts != 2:
			t.Errorf("no gateway retries: %s: the SDK does not retry; want the batch's retry to pass it (2 attempts), got %d", key, r.Attempts)
		}
		if sdkRetries {
			if cs := calls[key]; len(cs) != 2 || cs[0].Status != 429 || cs[1].Status != 200 {
				t.Errorf("no gateway retries: %s: calls %s; want a 429 then a 200", key, describeCalls(cs))
			}
		}
	}
}

func describeCalls(cs []store.ModelCall) string {
	s := fmt.Sprintf("%d:", len(cs))
	for _, c := range cs {
		s += fmt.Sprintf(" [%s status %d attempts %d %s %q]", c.Outcome, c.Status, c.Attempts, c.Model, c.Error)
	}
	return s
}
