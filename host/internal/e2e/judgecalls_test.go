package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// askNode calls the model itself (the standard library, no
// instrumentation), so an execution has the workflow's calls and its
// judges' side by side, and its node run a stand-in span for its call.
const askNode = `import json, os, sys, urllib.request
inp = json.load(sys.stdin)
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Which city is the capital of France?"}]}).encode()
r = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body,
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
print(json.dumps({"asked": json.load(urllib.request.urlopen(r))["choices"][0]["message"]["content"]}))
`

type judgeCallDoc struct {
	Upstream string `json:"upstream"`
	Model    string `json:"model"`
	Source   string `json:"source"`
	Status   int    `json:"status"`
	Usage    *struct {
		Input  int `json:"input_tokens"`
		Output int `json:"output_tokens"`
	} `json:"usage"`
	CostUSD *float64 `json:"cost_usd"`
	Request json.RawMessage
}

// The llm_judge evaluators' calls show under the evaluation they graded —
// in wtb show (tokens, cost, recorded or replayed), in --format json
// (evaluations[].model_calls, valid by the schema), in the viewer and the
// report — apart from the workflow's calls, whose totals leave them out.
func TestJudgeCallsShownUnderTheirEvaluation(t *testing.T) {
	llm := needLLM(t)
	e := newEnv(t)
	t.Setenv("OPENAI_API_KEY", llm.key)
	t.Setenv("ANTHROPIC_API_KEY", llm.key)
	e.write("ask.py", askNode)
	bench := strings.Replace(judgeBench("record", llm.url, llm.ca, "Does the answer name the capital of the country asked about?"),
		`  node "answer" {`, "  node \"ask\" {\n    command = [\"python3\", \"ask.py\"]\n  }\n  node \"answer\" {\n    depends_on = [\"ask\"]", 1)
	e.write("bench.hcl", bench)
	id := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
	key := "answer=right/france/0"

	// --format json: each judge's call under its evaluation, none under a node.
	out := e.mustRun("show", key, "--batch", id, "--format", "json").stdout
	checkDoc(t, "show", out)
	var d struct {
		Execution struct {
			Metrics map[string]float64 `json:"metrics"`
		} `json:"execution"`
		Evaluations []struct {
			Name       string         `json:"name"`
			ModelCalls []judgeCallDoc `json:"model_calls"`
		} `json:"evaluations"`
		Nodes []struct {
			Node       string         `json:"node"`
			ModelCalls []judgeCallDoc `json:"model_calls"`
			Spans      []struct {
				Source string `json:"source"`
			} `json:"spans"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	judgeTokens := 0
	want := map[string]string{"quality": "openai gpt-4o-mini", "verdict": "anthropic claude-3-5-haiku"}
	for _, ev := range d.Evaluations {
		if len(ev.ModelCalls) != 1 {
			t.Errorf("evaluation %s: %d model calls, want 1", ev.Name, len(ev.ModelCalls))
			continue
		}
		c := ev.ModelCalls[0]
		if c.Upstream+" "+c.Model != want[ev.Name] || c.Source != "recorded" || c.Status != 200 || c.Usage == nil || c.Usage.Input == 0 || c.CostUSD == nil || *c.CostUSD <= 0 {
			t.Errorf("evaluation %s's call: %+v", ev.Name, c)
			continue
		}
		judgeTokens += c.Usage.Input + c.Usage.Output
	}
	if len(d.Nodes) != 2 || len(d.Nodes[0].ModelCalls) != 1 || d.Nodes[0].ModelCalls[0].Model != "gpt-4o-mini" || len(d.Nodes[1].ModelCalls) != 0 {
		t.Errorf("the nodes' calls: %+v", d.Nodes)
	}
	standIns := 0
	for _, s := range d.Nodes[0].Spans {
		if s.Source == "gateway" {
			standIns++
		}
	}
	if standIns != 1 {
		t.Errorf("node ask has %d stand-in spans, want 1 for its uninstrumented call", standIns)
	}

	// wtb show: the judges' calls under the evaluations, and the totals apart.
	show := e.mustRun("show", key, "--batch", id).stdout
	m := d.Execution.Metrics
	for _, w := range []string{
		"  judge calls (apart from the workflow's):\n    quality (llm_judge, score 1.000):\n      #0 POST openai /chat/completions  gpt-4o-mini  200, recorded, ",
		"    verdict (llm_judge, score 1.000):\n      #0 POST anthropic /v1/messages  claude-3-5-haiku",
		fmt.Sprintf("  model calls: workflow 1 call, %d tokens, ", int(m["wtb.llm.input_tokens"]+m["wtb.llm.output_tokens"])),
		fmt.Sprintf("; judges 2 calls, %s tokens, $", commas(judgeTokens)),
	} {
		if !strings.Contains(show, w) {
			t.Errorf("show lacks %q:\n%s", w, show)
		}
	}
	if n := regexp.MustCompile(`(?m)^ +#0 POST .*, \d+ tokens, \$[0-9.]+$`).FindAllString(show, -1); len(n) != 3 {
		t.Errorf("show lists %d calls with tokens and cost, want 3 (the node's, two judges'):\n%s", len(n), show)
	}
	if full := e.mustRun("show", key, "--batch", id, "--calls").stdout; !strings.Contains(full, "Does the answer name the capital of the country asked about?") {
		t.Errorf("show --calls does not print the judge's request:\n%s", full)
	}

	// Replayed, they say so.
	replayID := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress", "--model-calls", "replay").stderr)
	if show := e.mustRun("show", key, "--batch", replayID).stdout; !strings.Contains(show, "#0 POST openai /chat/completions  gpt-4o-mini  200, replayed, ") {
		t.Errorf("the replay's show:\n%s", show)
	}

	// The viewer and the report: the judge's calls beside its verdict.
	url := startViewer(t, e)
	ctx := browser(t)
	e.mustRun("report", id, "--html", "out/report.html")
	for _, base := range []string{url + "/", "file://" + e.dir + "/out/report.html"} {
		err := chromedp.Do(ctx, chromedp.Navigate(base+"#/execution/"+id+"/answer%3Dright%2Ffrance%2F0"),
			chromedp.WaitVisible(`[data-testid=judge-row][data-evaluator=verdict] [data-testid=judge-call]`))
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		rows, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid=judge-row]')].map(r =>
			r.dataset.evaluator + ': ' + [...r.querySelectorAll('[data-testid=judge-call] td')].slice(1, 8).map(c => c.textContent).join(' | '))`))
		if len(rows) != 2 || !regexp.MustCompile(`^quality: POST openai /chat/completions \| gpt-4o-mini \| 200 \| recorded \| [0-9.]+ m?s(\+[0-9.]+ m?s queued)? \| \d+ \| \$[0-9.]+$`).MatchString(rows[0]) ||
			!strings.HasPrefix(rows[1], "verdict: POST anthropic /v1/messages | claude-3-5-haiku") {
			t.Errorf("%s: judge rows %q", base, rows)
		}
		judges, _ := texts(ctx, `[data-testid=judge-cost-row] td:first-child`)
		total, _ := texts(ctx, `[data-testid=judge-total] td:nth-child(2)`)
		workflow, _ := texts(ctx, `[data-testid=execution-total] td:nth-child(2)`)
		if strings.Join(judges, ",") != "judge quality (llm_judge),judge verdict (llm_judge)" || fmt.Sprint(total) != "[2]" || fmt.Sprint(workflow) != "[1]" {
			t.Errorf("%s: cost table: judges %q, judges' total %q calls, workflow %q calls", base, judges, total, workflow)
		}
		standIn, _ := texts(ctx, `[data-testid=trace-run][data-node=ask] [data-testid=span-standin]`)
		if len(standIn) != 1 {
			t.Errorf("%s: stand-in spans drawn: %q", base, standIn)
		}
	}
	screenshot(t, ctx, artifacts(t), "report-judge-calls.png")
}

// commas writes a count as numfmt.Count does.
func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
