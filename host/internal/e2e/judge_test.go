package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/store"
)

// The llm_judge evaluator through the built binaries, against LiteLLM's
// proxy over TLS: its scripted model (scripts/llm_mock.py) grades an answer
// that names Paris best and any other worst, wraps its JSON in prose and a
// code fence, and numbers every answer — so a replay that called the model
// again would show in the judge's reasoning. One judge speaks OpenAI chat
// completions, the other Anthropic messages (LiteLLM's /v1/messages).

func judgeBench(mode, upstream, ca, rubric string) string {
	return fmt.Sprintf(`
gateway {
  mode = %q
  upstream "openai" {
    url     = "%s/v1"
    ca_file = %q
  }
  upstream "anthropic" {
    url     = %q
    ca_file = %q
  }
  price "gpt-4o-mini" {
    input  = 1.5
    output = 6
  }
  price "claude-3-5-haiku*" {
    input  = 0.8
    output = 4
  }
}
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "answer" {
    kind = "merge"
    variant "right" { params = { answer = "The capital of France is Paris." } }
    variant "wrong" { params = { answer = "The capital of France is Lyon." } }
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  case "france" {
    input    = { question = "What is the capital of France?" }
    expected = { answer = "Paris" }
  }
  case "again" {
    input = { question = "Name the capital of France." }
  }
  evaluator "quality" {
    type        = "llm_judge"
    upstream    = "openai"
    model       = "gpt-4o-mini"
    rubric      = %q
    scale       = [1, 5]
    temperature = 0
    path        = "$.answer"
  }
  evaluator "verdict" {
    type     = "llm_judge"
    upstream = "anthropic"
    model    = "claude-3-5-haiku"
    rubric   = "A: the right capital. B: a city of the right country. C: anything else."
    choices  = { A = 1, B = 0.5, C = 0 }
    path     = "$.answer"
  }
}
`, mode, upstream, ca, upstream, ca, rubric)
}

// judged is what a batch's judges said: scores and notes per execution.
func judged(t *testing.T, st store.Store, id string) map[string]store.Result {
	t.Helper()
	out := map[string]store.Result{}
	err := st.Results().Each(context.Background(), id, func(r *store.Result) error {
		out[r.ExecutionKey] = *r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func judgeCalls(t *testing.T, st store.Store, id string) []store.ModelCall {
	t.Helper()
	var calls []store.ModelCall
	err := st.ModelCalls().Each(context.Background(), id, func(c *store.ModelCall) error {
		calls = append(calls, *c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

func TestLLMJudgeRecordedThenReplayedWithTheUpstreamStopped(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	fwd := newForwarder(t, llm.url)
	defer fwd.stop()
	t.Setenv("OPENAI_API_KEY", llm.key)
	t.Setenv("ANTHROPIC_API_KEY", llm.key)
	e.write("bench.hcl", judgeBench("record", fwd.url(), llm.ca, "Does the answer name the capital of the country asked about?"))
	r := e.mustRun("run", "bench.hcl", "--no-progress", "--format", "json")
	id := batchID(t, r.stderr)
	if !strings.Contains(r.stderr, "8 judge calls (8 recorded)") {
		t.Errorf("the run line does not count the judge's calls:\n%s", r.stderr)
	}
	st := e.store()
	recorded := judged(t, st, id)
	if len(recorded) != 4 {
		t.Fatalf("%d results, want 4", len(recorded))
	}
	var cost float64
	for _, c := range judgeCalls(t, st, id) {
		if !strings.HasPrefix(c.Node, "judge:") || c.Source != "recorded" || c.Outcome != store.OutcomeRan || c.Status != 200 {
			t.Errorf("a judge call stored as node %q, %s, %s, status %d", c.Node, c.Source, c.Outcome, c.Status)
		}
		switch c.Node {
		case "judge:quality":
			if c.Path != "/chat/completions" || !c.Priced || c.CostUSD <= 0 {
				t.Errorf("the OpenAI judge's call: path %s, priced %v, cost %v", c.Path, c.Priced, c.CostUSD)
			}
		case "judge:verdict":
			if c.Path != "/v1/messages" || !c.Priced || !c.UsageReported || c.InputTokens == 0 {
				t.Errorf("the Anthropic judge's call: path %s, model %s, priced %v, usage reported %v, %d input tokens", c.Path, c.Model, c.Priced, c.UsageReported, c.InputTokens)
			}
		}
		cost += c.CostUSD
	}
	var judgeCost float64
	for key, res := range recorded {
		want := 0.0
		if strings.Contains(key, "answer=right") {
			want = 1
		}
		if !res.Success || res.Scores["quality"] != want || res.Scores["verdict"] != want {
			t.Errorf("%s: success %v, scores %v (want %v from both judges); error %s", key, res.Success, res.Scores, want, res.Error)
		}
		for _, ev := range []string{"quality", "verdict"} {
			if !strings.Contains(res.Notes[ev], "Paris. [#") {
				t.Errorf("%s: %s's note is not the judge's reasoning: %q", key, ev, res.Notes[ev])
			}
		}
		// The judge's calls are counted apart from the workflow's (it made
		// none).
		m := res.Metrics
		if m["wtb.llm.judge.calls"] != 2 || m["wtb.llm.judge.unpriced_calls"] != 0 || m["wtb.llm.judge.input_tokens"] == 0 || m["wtb.llm.calls"] != 0 {
			t.Errorf("%s: metrics %v", key, m)
		}
		judgeCost += m["wtb.llm.judge.cost_usd"]
	}
	if math.Abs(judgeCost-cost) > 1e-12 || cost == 0 {
		t.Errorf("executions count $%v of judge cost, the calls cost $%v", judgeCost, cost)
	}
	// The leaderboard's cost: the workflow's part (no call, so $0) and the
	// judge's beside it.
	var lb struct {
		Summary struct {
			Leaderboard []struct {
				Combination string `json:"combination"`
				Cost        *struct {
					Calls   int      `json:"calls"`
					MeanUSD *float64 `json:"mean_usd"`
					Judge   *struct {
						Calls    int      `json:"calls"`
						MeanUSD  *float64 `json:"mean_usd"`
						Unpriced int      `json:"unpriced_calls"`
					} `json:"judge"`
				} `json:"cost"`
			} `json:"leaderboard"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &lb); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	checkDoc(t, "leaderboard", r.stdout)
	var means float64
	for _, c := range lb.Summary.Leaderboard {
		if c.Cost == nil || c.Cost.Calls != 0 || c.Cost.MeanUSD == nil || *c.Cost.MeanUSD != 0 || c.Cost.Judge == nil ||
			c.Cost.Judge.Calls != 4 || c.Cost.Judge.Unpriced != 0 || c.Cost.Judge.MeanUSD == nil {
			t.Errorf("%s: cost %+v", c.Combination, c.Cost)
			continue
		}
		means += *c.Cost.Judge.MeanUSD * 2 // two executions each
	}
	if math.Abs(means-cost) > 1e-12 {
		t.Errorf("the leaderboard's judge cost adds up to $%v, the calls to $%v", means, cost)
	}

	// The upstream is gone: the same batch replays its judges' answers —
	// the same scores and the same numbered reasoning.
	fwd.stop()
	conns := fwd.conns.Load()
	r = e.mustRun("run", "bench.hcl", "--no-progress", "--model-calls", "replay")
	replayID := batchID(t, r.stderr)
	if !strings.Contains(r.stderr, "8 judge calls (8 replayed)") {
		t.Errorf("the replay's run line:\n%s", r.stderr)
	}
	sameScores := func(what, other string) {
		t.Helper()
		got := judged(t, st, other)
		for key, res := range recorded {
			g := got[key]
			if !g.Success || g.Scores["quality"] != res.Scores["quality"] || g.Scores["verdict"] != res.Scores["verdict"] ||
				g.Notes["quality"] != res.Notes["quality"] || g.Notes["verdict"] != res.Notes["verdict"] {
				t.Errorf("%s %s: scores %v notes %v; recorded %v %v (error %s)", what, key, g.Scores, g.Notes, res.Scores, res.Notes, g.Error)
			}
			if g.Metrics["wtb.llm.judge.calls"] != 2 || math.Abs(g.Metrics["wtb.llm.judge.cost_usd"]-res.Metrics["wtb.llm.judge.cost_usd"]) > 1e-12 {
				t.Errorf("%s %s: judge metrics %v, recorded %v", what, key, g.Metrics, res.Metrics)
			}
		}
		for _, c := range judgeCalls(t, st, other) {
			if c.Source != "replayed" {
				t.Errorf("%s: a judge call was %s", what, c.Source)
			}
		}
	}
	sameScores("replay", replayID)

	// Rescoring the recorded batch with its judges unchanged replays them
	// too: no upstream needed.
	r = e.mustRun("rescore", id, "--format", "json")
	sameScores("rescore", batchID(t, r.stderr))

	// Exported as cassettes (one file per judge and execution, beside the
	// nodes'), the judges replay from the files.
	e.mustRun("cassettes", "export", id, "cassettes")
	if _, err := os.Stat(filepath.Join(e.dir, "cassettes", "france", "r0", "judge%3Aquality", "answer=right@answer=right.json")); err != nil {
		t.Errorf("the judge's cassette: %v", err)
	}
	offline := strings.Replace(judgeBench("replay", fwd.url(), llm.ca, "Does the answer name the capital of the country asked about?"),
		`mode = "replay"`, "mode = \"replay\"\n  cassettes = \"cassettes\"", 1)
	e.write("offline.hcl", offline)
	r = e.mustRun("run", "offline.hcl", "--no-progress")
	if strings.Contains(r.stderr, "no node run asked for") {
		t.Errorf("cassettes left unused:\n%s", r.stderr)
	}
	sameScores("replay from cassettes", batchID(t, r.stderr))
	if n := fwd.conns.Load(); n != conns {
		t.Errorf("replaying made %d connections to the stopped upstream", n-conns)
	}
}

// A judge that cannot grade — its answer holds no grade, or its upstream is
// gone — gives no score: the execution fails as an infrastructure failure at
// "judge:NAME" saying why, and a rescore grades it again once the judge
// answers.
func TestLLMJudgeThatCannotGradeGivesNoScore(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	fwd := newForwarder(t, llm.url)
	defer fwd.stop()
	t.Setenv("OPENAI_API_KEY", llm.key)
	t.Setenv("ANTHROPIC_API_KEY", llm.key)
	e.write("bench.hcl", judgeBench("record", fwd.url(), llm.ca, "ANSWER IN PROSE: is the answer right?"))
	r := e.run("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	if !strings.Contains(r.stdout+r.stderr, "judge could not grade") {
		t.Errorf("the run does not say the judge could not grade:\n%s%s", r.stdout, r.stderr)
	}
	st := e.store()
	for key, res := range judged(t, st, id) {
		if res.Success || res.Passed || res.FailureKind != "infrastructure" || res.FailedNode != "judge:quality" ||
			!strings.Contains(res.Error, "holds no JSON object with \"score\"") || !strings.Contains(res.Error, "more or less") {
			t.Errorf("%s: success %v kind %q node %q error %q", key, res.Success, res.FailureKind, res.FailedNode, res.Error)
		}
	}
	for _, c := range judgeCalls(t, st, id) {
		want := store.OutcomeRan // the other judge graded: its answer replays
		if c.Node == "judge:quality" {
			want = store.OutcomeFailed // never replayed
		}
		if c.Outcome != want {
			t.Errorf("%s's call stored as %s, want %s", c.Node, c.Outcome, want)
		}
	}

	// show lists the call that could not grade under its evaluation.
	if show := e.mustRun("show", "answer=right/france/0", "--batch", id).stdout; !strings.Contains(show,
		"    quality (llm_judge, could not grade):\n      #0 POST openai /chat/completions  gpt-4o-mini  200, recorded, ") {
		t.Errorf("show of an execution its judge could not grade:\n%s", show)
	}

	// Rescored with a rubric the judge answers: graded, the other judge's
	// answers replayed.
	e.write("fixed.hcl", judgeBench("record", fwd.url(), llm.ca, "Does the answer name the capital?"))
	r = e.mustRun("rescore", id, "fixed.hcl")
	fixed := batchID(t, r.stderr)
	for key, res := range judged(t, st, fixed) {
		want := 0.0
		if strings.Contains(key, "answer=right") {
			want = 1
		}
		if !res.Success || res.FailedNode != "" || res.Scores["quality"] != want || res.Scores["verdict"] != want {
			t.Errorf("rescored %s: success %v scores %v error %q", key, res.Success, res.Scores, res.Error)
		}
	}
	sources := map[string]int{}
	for _, c := range judgeCalls(t, st, fixed) {
		sources[c.Node+" "+c.Source]++
	}
	if sources["judge:quality recorded"] != 4 || sources["judge:verdict replayed"] != 4 {
		t.Errorf("the rescore's judge calls: %v; want quality's recorded, verdict's replayed", sources)
	}
	show := e.mustRun("show", "answer=right/france/0", "--batch", fixed).stdout
	for _, w := range []string{"    quality (llm_judge, score 1.000):\n      #0 POST openai /chat/completions  gpt-4o-mini  200, recorded, ",
		"    verdict (llm_judge, score 1.000):\n      #0 POST anthropic /v1/messages  claude-3-5-haiku  200, replayed, "} {
		if !strings.Contains(show, w) {
			t.Errorf("show of the rescore lacks %q:\n%s", w, show)
		}
	}

	// The upstream gone and nothing recorded for this rubric: no score.
	fwd.stop()
	e.write("gone.hcl", judgeBench("record", fwd.url(), llm.ca, "Is the capital right?"))
	r = e.run("run", "gone.hcl", "--no-progress")
	for key, res := range judged(t, st, batchID(t, r.stderr)) {
		if res.Success || res.FailureKind != "infrastructure" || !strings.HasPrefix(res.FailedNode, "judge:") ||
			!strings.Contains(res.Error, "a model call failed") {
			t.Errorf("upstream gone, %s: success %v kind %q node %q error %q", key, res.Success, res.FailureKind, res.FailedNode, res.Error)
		}
	}
}
