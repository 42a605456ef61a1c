package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/store"
)

// An upstream that cannot be reached is an infrastructure failure, retried
// and never a score — also when the node itself carries on without an
// answer (it exits 0 with a default).
func TestAnUnreachableUpstreamIsNeverAScore(t *testing.T) {
	e := newEnv(t)
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	e.write("call.py", `
import json, os, sys, urllib.request, urllib.error
json.load(sys.stdin)
try:
    r = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=b'{"model":"m","messages":[]}',
        headers={"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(r))["choices"][0]["message"]["content"]
except urllib.error.HTTPError as err:
    answer = "no answer (%d)" % err.code   # a node that shrugs a failed call off
print(json.dumps({"answer": answer}))
`)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close() // nothing listens there now
	e.write("bench.hcl", fmt.Sprintf(`
gateway {
  mode = "record"
  upstream "openai" { url = "http://%s/v1" }
}
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "call" { command = [%q, "call.py"] }
}
batch_test "w" {
  workflow      = workflow.w
  runner        = runner.pool
  max_retries   = 1
  retry_backoff = "10ms"
  case "c" { input = {} }
  evaluator "any" {
    type   = "contains"
    path   = "$.answer"
    expect = "no answer"
  }
}
`, dead, py))
	r := e.run("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	rs := e.results(e.store(), id)
	if len(rs) != 1 || rs[0].Success || rs[0].FailureKind != "infrastructure" || rs[0].Attempts != 2 {
		t.Fatalf("a call to an unreachable upstream: %+v\n%s", rs, r.stderr)
	}
	if !strings.Contains(rs[0].Error, "never scored") || !strings.Contains(rs[0].Error, "connect") {
		t.Errorf("the error does not say what happened: %s", rs[0].Error)
	}
	if len(rs[0].Scores) != 0 && rs[0].OverallScore != 0 {
		t.Errorf("an infrastructure failure was scored: %v", rs[0].Scores)
	}
}

// Usage and cost: every call's tokens are what its response reported, its
// cost those tokens at the bench file's prices; an execution counts its
// calls, a combination its executions' mean; a model with no price is
// unpriced, never $0; a replay reports the same tokens and cost.
func TestModelCallUsageAndCost(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	node := e.writeLLMNode()
	bench := func(mode string) string {
		return fmt.Sprintf(`
gateway {
  mode = %q
  upstream "openai" {
    url     = "%s/v1"
    ca_file = %q
  }
  price "gpt-4o-mini" {
    input  = 1.5
    output = 6
    date   = "2026-12-01"
  }
}
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "quick" {
    command = [%q, %q, "quick"]
    variant "priced" {}
    variant "unpriced" { env = { QUICK_MODEL = "claude-3-5-haiku" } }
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  case "c1" { input = {} }
  case "c2" { input = {} }
}
`, mode, llm.url, llm.ca, llm.python, node)
	}
	e.write("bench.hcl", bench("record"))
	t.Setenv("OPENAI_API_KEY", llm.key)
	r := e.mustRun("run", "bench.hcl", "--no-progress", "--format", "json")
	id := batchID(t, r.stderr)
	if !strings.Contains(r.stderr, "8 model calls (8 recorded)") || !strings.Contains(r.stderr, "tokens") ||
		!strings.Contains(r.stderr, "(4 unpriced)") {
		t.Errorf("the run line does not count tokens and cost:\n%s", r.stderr)
	}
	st := e.store()
	ctx := context.Background()
	var recorded float64
	err := st.ModelCalls().Each(ctx, id, func(c *store.ModelCall) error {
		var resp struct {
			JSON struct {
				Usage struct {
					Prompt     int `json:"prompt_tokens"`
					Completion int `json:"completion_tokens"`
				} `json:"usage"`
			} `json:"json"`
		}
		_ = json.Unmarshal(c.Response, &resp)
		u := resp.JSON.Usage
		if !c.UsageReported || c.InputTokens != u.Prompt || c.OutputTokens != u.Completion || u.Prompt == 0 {
			t.Errorf("call %s#%d: stored %d/%d tokens, the response said %d/%d", c.RunID, c.Ordinal, c.InputTokens, c.OutputTokens, u.Prompt, u.Completion)
		}
		switch c.Model {
		case "gpt-4o-mini":
			want := (float64(u.Prompt)*1.5 + float64(u.Completion)*6) / 1e6
			if !c.Priced || math.Abs(c.CostUSD-want) > 1e-12 {
				t.Errorf("a priced call: priced %v cost %v, want %v", c.Priced, c.CostUSD, want)
			}
			recorded += want
		default:
			if c.Priced || c.CostUSD != 0 {
				t.Errorf("a call to %s, which has no price, was priced at %v", c.Model, c.CostUSD)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var lb struct {
		Summary struct {
			Leaderboard []struct {
				Combination string `json:"combination"`
				Cost        *struct {
					Calls    int      `json:"calls"`
					MeanUSD  *float64 `json:"mean_usd"`
					Unpriced int      `json:"unpriced_calls"`
				} `json:"cost"`
			} `json:"leaderboard"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &lb); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	for _, c := range lb.Summary.Leaderboard {
		switch {
		case c.Cost == nil || c.Cost.Calls != 4:
			t.Errorf("%s: cost %+v", c.Combination, c.Cost)
		case c.Combination == "quick=priced" && (c.Cost.MeanUSD == nil || math.Abs(*c.Cost.MeanUSD-recorded/2) > 1e-12):
			t.Errorf("priced: mean %v, want %v", c.Cost.MeanUSD, recorded/2)
		case c.Combination == "quick=unpriced" && (c.Cost.MeanUSD != nil || c.Cost.Unpriced != 4):
			t.Errorf("unpriced: mean %v, unpriced %d; want null, 4", c.Cost.MeanUSD, c.Cost.Unpriced)
		}
	}
	// A replayed batch says what it would cost live.
	r = e.mustRun("run", "bench.hcl", "--no-progress", "--model-calls", "replay", "--format", "json")
	replayID := batchID(t, r.stderr)
	var replayed float64
	_ = st.ModelCalls().Each(ctx, replayID, func(c *store.ModelCall) error {
		if c.Source != "replayed" {
			t.Errorf("a call of the replay was %s", c.Source)
		}
		replayed += c.CostUSD
		return nil
	})
	if math.Abs(replayed-recorded) > 1e-12 {
		t.Errorf("the replay cost %v, the recording %v", replayed, recorded)
	}
	if out := e.mustRun("show", "--batch", id, "quick=unpriced/c1/0").stdout; !strings.Contains(out, "tokens, unpriced") {
		t.Errorf("show does not say the call is unpriced:\n%s", out)
	}
}
