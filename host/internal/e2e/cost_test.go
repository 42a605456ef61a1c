package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// What model calls cost, where it shows: compare, the viewer, the report and
// /metrics, over batches whose node calls a small OpenAI-style upstream of
// the test's own (every answer carries a usage block), through the gateway.

// costModels is what the test upstream answers per model: the reply and the
// usage it reports.
var costModels = map[string]struct {
	reply         string
	prompt, compl int
}{
	"cheap":   {"Lyon, I think", 100, 10}, // wrong, cheap
	"good":    {"Paris", 200, 20},         // right
	"pricey":  {"Paris", 400, 40},         // right, and dearer than good
	"mystery": {"Paris, surely", 300, 30}, // right, but has no price
}

// costUpstream answers chat completions as OpenAI does, with a usage block.
func costUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.Error(w, "not a chat completion", http.StatusBadRequest)
			return
		}
		m, ok := costModels[req.Model]
		if !ok {
			http.Error(w, "no such model", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "cmpl-1", "object": "chat.completion", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": m.reply}}},
			"usage": map[string]any{"prompt_tokens": m.prompt, "completion_tokens": m.compl, "total_tokens": m.prompt + m.compl},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// costBench: one node that asks the model named by its variant, 4
// combinations × 2 cases; prices is the gateway's price blocks.
func costBench(upstream, prices string) string {
	return fmt.Sprintf(`
gateway {
  mode = "record"
  upstream "openai" {
    url = "%s/v1"
  }
  %s
}
runner "pool" {
  plugin = "pool"
}
workflow "w" {
  node "ask" {
    command = ["sh", "ask.sh"]
    variant "cheap"   { env = { MODEL = "cheap" } }
    variant "good"    { env = { MODEL = "good" } }
    variant "pricey"  { env = { MODEL = "pricey" } }
    variant "mystery" { env = { MODEL = "mystery" } }
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.pool
  case "c1" {
    input    = {}
    expected = { capital = "Paris" }
  }
  case "c2" {
    input    = {}
    expected = { capital = "Paris" }
  }
  evaluator "correct" {
    type   = "contains"
    path   = "$.answer"
    expect = "$.expected.capital"
  }
}
`, upstream, prices)
}

// askScript asks the model $MODEL through the gateway and prints its answer.
const askScript = `answer=$(curl -sf "$OPENAI_BASE_URL/chat/completions" -H "Authorization: Bearer $OPENAI_API_KEY" \
  -H 'Content-Type: application/json' -d "{\"model\": \"$MODEL\", \"messages\": [{\"role\": \"user\", \"content\": \"capital?\"}]}" \
  | sed -n 's/.*"content": *"\([^"]*\)".*/\1/p') || exit 1
printf '{"answer": "%s"}\n' "$answer"
`

// costPrices prices cheap, good and pricey (dollars per million tokens); the
// mystery model has none.
const costPrices = `
  price "cheap" {
    input  = 1
    output = 2
  }
  price "good" {
    input  = 10
    output = 20
  }
  price "pricey" {
    input  = 10
    output = 20
  }
`

// costOf is what one call of a model costs by costPrices.
func costOf(model string, in, out float64) float64 {
	m := costModels[model]
	return (float64(m.prompt)*in + float64(m.compl)*out) / 1e6
}

// compare shows the change of the mean cost and tokens per execution beside
// the score delta, and where either side has unpriced calls says so instead
// of a delta.
func TestCompareShowsCostAndTokenDeltas(t *testing.T) {
	up := costUpstream(t)
	e := newEnv(t)
	t.Setenv("OPENAI_API_KEY", "test-key")
	e.write("ask.sh", askScript)
	e.write("a.hcl", costBench(up.URL, costPrices))
	a := batchID(t, e.mustRun("run", "a.hcl", "--no-progress").stderr)
	// B: good costs twice as much, pricey lost its price.
	e.write("b.hcl", costBench(up.URL, `
  price "cheap" {
    input  = 1
    output = 2
  }
  price "good" {
    input  = 20
    output = 40
  }
`))
	b := batchID(t, e.mustRun("run", "b.hcl", "--no-progress").stderr)

	out := e.mustRun("compare", a, b).stdout
	for _, want := range []string{
		"Δ COST/EXEC", "Δ TOKENS/EXEC",
		"+$0.0024 ($0.0024 → $0.0048)", // good: 200×10 + 20×20 per million, doubled
		"$0 ($0.00012 → $0.00012)",     // cheap: unchanged
		"unpriced in B (2 calls)",      // pricey
		"unpriced in A and B",          // mystery
		"0 (220 → 220)",                // tokens are what the responses said
		"no known cost",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("compare does not show %q:\n%s", want, out)
		}
	}
	raw := e.mustRun("compare", a, b, "--format", "json").stdout
	checkDoc(t, "compare", raw)
	var d struct {
		Combinations []struct {
			Combination string   `json:"combination"`
			CostA       *float64 `json:"cost_a"`
			CostB       *float64 `json:"cost_b"`
			CostDelta   *float64 `json:"cost_delta"`
			Reason      *string  `json:"cost_delta_reason"`
			UnpricedA   int      `json:"unpriced_calls_a"`
			UnpricedB   int      `json:"unpriced_calls_b"`
			TokensA     *float64 `json:"tokens_a"`
			TokensB     *float64 `json:"tokens_b"`
			Tokens      *float64 `json:"tokens_delta"`
		} `json:"combinations"`
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatal(err)
	}
	str := func(s *string) string {
		if s == nil {
			return "null"
		}
		return *s
	}
	if len(d.Combinations) != 4 {
		t.Fatalf("%d combinations:\n%s", len(d.Combinations), raw)
	}
	for _, c := range d.Combinations {
		m := costModels[strings.TrimPrefix(c.Combination, "ask=")]
		tokens := float64(m.prompt + m.compl)
		if c.Tokens == nil || *c.Tokens != 0 || c.TokensA == nil || *c.TokensA != tokens || c.TokensB == nil || *c.TokensB != tokens {
			t.Errorf("%s: tokens %v → %v (delta %v), want %v both", c.Combination, c.TokensA, c.TokensB, c.Tokens, tokens)
			continue
		}
		switch c.Combination {
		case "ask=good":
			a, b := costOf("good", 10, 20), costOf("good", 20, 40)
			if c.CostA == nil || c.CostB == nil || c.CostDelta == nil || math.Abs(*c.CostA-a) > 1e-12 || math.Abs(*c.CostB-b) > 1e-12 ||
				math.Abs(*c.CostDelta-(b-a)) > 1e-12 || c.Reason != nil {
				t.Errorf("good: cost %v → %v, delta %v (%s); want %v → %v", c.CostA, c.CostB, c.CostDelta, str(c.Reason), a, b)
			}
		case "ask=cheap":
			if c.CostDelta == nil || *c.CostDelta != 0 {
				t.Errorf("cheap: cost delta %v, want 0", c.CostDelta)
			}
		case "ask=pricey":
			if c.CostA == nil || c.CostB != nil || c.CostDelta != nil || str(c.Reason) != "b" || c.UnpricedA != 0 || c.UnpricedB != 2 {
				t.Errorf("pricey: cost %v → %v, delta %v (%s), unpriced %d → %d; want B null, no delta (b), 0 → 2 unpriced",
					c.CostA, c.CostB, c.CostDelta, str(c.Reason), c.UnpricedA, c.UnpricedB)
			}
		case "ask=mystery":
			if c.CostA != nil || c.CostB != nil || c.CostDelta != nil || str(c.Reason) != "both" || c.UnpricedA != 2 || c.UnpricedB != 2 {
				t.Errorf("mystery: cost %v → %v, delta %v (%s), unpriced %d → %d; want null (both)", c.CostA, c.CostB, c.CostDelta, str(c.Reason), c.UnpricedA, c.UnpricedB)
			}
		}
	}

	// The CI summary shows each batch's mean cost per execution as wtb
	// results writes it, unpriced calls as such (never $0).
	summaryCost := func(baseline string) map[string]string {
		t.Helper()
		md := renderMarkdown(t, []byte(e.mustRun("report", b, "--markdown", "-", "--baseline", baseline).stdout))
		rows := md.table(t, "Combination")
		col := -1
		for i, h := range rows[0] {
			if h == "Cost/exec (baseline → now)" {
				col = i
			}
		}
		if col < 0 {
			t.Fatalf("the summary's comparison has no cost column: %q", rows[0])
		}
		cells := map[string]string{}
		for _, r := range rows[1:] {
			cells[r[0]] = r[col]
		}
		return cells
	}
	wantSum := map[string]string{"ask=cheap": "$0.00012 → $0.00012", "ask=good": "$0.0024 → $0.0048",
		"ask=pricey": "$0.0048 → unpriced (2 calls)", "ask=mystery": "unpriced (2 calls) → unpriced (2 calls)"}
	if got := summaryCost(a); fmt.Sprint(got) != fmt.Sprint(wantSum) {
		t.Errorf("the summary's cost cells:\n got %v\nwant %v", got, wantSum)
	}

	// A baseline file keeps no cost: compare, its document and the summary
	// say A's is not recorded (not "no calls", not $0); B's still shows.
	e.mustRun("export", a, "--baseline", "ci/baseline.json")
	if out := e.mustRunOK("compare", "ci/baseline.json", b); strings.Count(out, "not recorded in A") != 4 || strings.Contains(out, "no calls in A") {
		t.Errorf("compare against a baseline file should say A's cost is not recorded, for each combination:\n%s", out)
	}
	raw = e.mustRunOK("compare", "ci/baseline.json", b, "--format", "json")
	checkDoc(t, "compare", raw)
	var fromFile struct {
		Combinations []struct {
			Combination string   `json:"combination"`
			CostA       *float64 `json:"cost_a"`
			CostB       *float64 `json:"cost_b"`
			Reason      *string  `json:"cost_delta_reason"`
		} `json:"combinations"`
	}
	if err := json.Unmarshal([]byte(raw), &fromFile); err != nil {
		t.Fatal(err)
	}
	for _, c := range fromFile.Combinations {
		if c.CostA != nil || str(c.Reason) != "not_recorded_a" || (c.Combination == "ask=good" || c.Combination == "ask=cheap") != (c.CostB != nil) {
			ca, _ := json.Marshal(c.CostA)
			cb, _ := json.Marshal(c.CostB)
			t.Errorf("%s against the file: cost %s → %s (%s); want A null, not_recorded_a, B's own", c.Combination, ca, cb, str(c.Reason))
		}
	}
	wantSum = map[string]string{"ask=cheap": "not recorded → $0.00012", "ask=good": "not recorded → $0.0048",
		"ask=pricey": "not recorded → unpriced (2 calls)", "ask=mystery": "not recorded → unpriced (2 calls)"}
	if got := summaryCost("ci/baseline.json"); fmt.Sprint(got) != fmt.Sprint(wantSum) {
		t.Errorf("the summary's cost cells against the file:\n got %v\nwant %v", got, wantSum)
	}

	// The viewer's compare page writes them as the command line does.
	url := startViewer(t, e)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/compare?a="+a+"&b="+b), chromedp.WaitVisible(`[data-testid=cost-delta]`)); err != nil {
		t.Fatal(err)
	}
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('[data-testid=compare-combinations] tbody tr')].map(
		r => [r.dataset.combination, r.querySelector('[data-testid=cost-delta]').textContent + ' | ' + r.querySelector('[data-testid=tokens-delta]').textContent]))`))
	want := map[string]string{"ask=cheap": "$0 ($0.00012 → $0.00012) | 0 (110 → 110)", "ask=good": "+$0.0024 ($0.0024 → $0.0048) | 0 (220 → 220)",
		"ask=pricey": "unpriced in B (2 calls) | 0 (440 → 440)", "ask=mystery": "unpriced in A and B | 0 (330 → 330)"}
	if err != nil || fmt.Sprint(cells) != fmt.Sprint(want) {
		t.Errorf("the viewer's compare page: %v (%v), want %v", cells, err, want)
	}
	for combo, cell := range want {
		if !strings.Contains(out, strings.Split(cell, " | ")[0]) {
			t.Errorf("compare's table does not write %s as the viewer does: %q", combo, cell)
		}
	}
}

// /metrics counts every model call once, as its node run is stored, by
// upstream and model: requests by source, tokens by kind, the priced calls'
// cost and the unpriced calls — at the batch detail level too, since these
// series grow with the models, not with the matrix; promtool accepts them.
func TestMetricsCountModelCallsByUpstreamAndModel(t *testing.T) {
	promtool := tool(t, "promtool")
	up := costUpstream(t)
	e := newEnv(t)
	t.Setenv("OPENAI_API_KEY", "test-key")
	e.write("ask.sh", askScript)
	e.write("c.hcl", costBench(up.URL, costPrices))
	run := e.cmd("run", "c.hcl", "--no-progress", "--metrics-addr", "127.0.0.1:0", "--metrics-detail", "batch")
	var stderr syncBuffer
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill() })
	addrRE := regexp.MustCompile(`serving the final metrics at (http://[0-9.:]+/metrics)`)
	waitFor(t, 60*time.Second, func() string { return "the run did not end:\n" + stderr.String() }, func() bool {
		return addrRE.MatchString(stderr.String())
	})
	body := httpGet(t, addrRE.FindStringSubmatch(stderr.String())[1])
	_ = run.Wait()
	id := batchID(t, stderr.String())

	check := osexec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	series := func(name, labels string) string {
		return fmt.Sprintf(`%s{batch=%q,%s}`, name, id, labels)
	}
	want := map[string]float64{}
	for model, m := range costModels {
		l := fmt.Sprintf(`model=%q,upstream="openai"`, model)
		want[series("wtb_llm_requests_total", fmt.Sprintf(`model=%q,source="recorded",upstream="openai"`, model))] = 2
		want[series("wtb_llm_tokens_total", fmt.Sprintf(`kind="input",model=%q,upstream="openai"`, model))] = float64(2 * m.prompt)
		want[series("wtb_llm_tokens_total", fmt.Sprintf(`kind="output",model=%q,upstream="openai"`, model))] = float64(2 * m.compl)
		want[series("wtb_llm_tokens_total", fmt.Sprintf(`kind="reasoning",model=%q,upstream="openai"`, model))] = 0
		if model == "mystery" {
			want[series("wtb_llm_unpriced_requests_total", l)] = 2
			want[series("wtb_llm_cost_usd_total", l)] = 0
			continue
		}
		want[series("wtb_llm_unpriced_requests_total", l)] = 0
		in, out := 10.0, 20.0
		if model == "cheap" {
			in, out = 1, 2
		}
		want[series("wtb_llm_cost_usd_total", l)] = 2 * costOf(model, in, out)
	}
	got := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 && strings.HasPrefix(line, "wtb_llm_") {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			got[line[:i]] = v
		}
	}
	for s, v := range want {
		if g, ok := got[s]; !ok || math.Abs(g-v) > 1e-12 {
			t.Errorf("%s = %v (present %v), want %v", s, g, ok, v)
		}
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", body)
	}
}

// The viewer's batch page plots mean score against mean cost per execution,
// one point per combination, and marks the Pareto front; a combination with
// unpriced calls is drawn apart, hollow, out of the front, and says why on
// hover. An execution's page lists each node run's tokens and cost and the
// execution's. The HTML report, the viewer's page on disk, shows the same;
// a batch without model calls has no chart.
func TestViewerAndReportShowScoreVersusCost(t *testing.T) {
	up := costUpstream(t)
	e := newEnv(t)
	t.Setenv("OPENAI_API_KEY", "test-key")
	e.write("ask.sh", askScript)
	e.write("c.hcl", costBench(up.URL, costPrices))
	id := batchID(t, e.mustRun("run", "c.hcl", "--no-progress").stderr)
	quickstart(e)
	plain := batchID(t, e.mustRun("run", "quickstart.hcl", "--no-progress").stderr)
	e.mustRun("report", id, "--html", "out/report.html")
	url := startViewer(t, e)
	ctx := browser(t)
	shots := artifacts(t)

	type point struct {
		Combination, Front, Priced, Title string
	}
	points := func() []point {
		t.Helper()
		ps, err := chromedp.Run(ctx, chromedp.Evaluate[[]point](`[...document.querySelectorAll('[data-testid=cost-point]')].map(e => ({
			Combination: e.dataset.combination, Front: e.dataset.front, Priced: e.dataset.priced, Title: e.querySelector('title').textContent}))`))
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	checkPage := func(where string) {
		t.Helper()
		ps := points()
		if len(ps) != 4 {
			t.Fatalf("%s: %d points, want one per combination: %+v", where, len(ps), ps)
		}
		for _, p := range ps {
			want := map[string][3]string{ // front, priced, in the title
				"ask=cheap":   {"1", "1", "on the Pareto front"},
				"ask=good":    {"1", "1", "cost/exec $0.0024"},
				"ask=pricey":  {"0", "1", "not on the front: ask=good is at most as dear and at least as good"},
				"ask=mystery": {"0", "0", "unpriced: 2 calls with no price or no usage reported"},
			}[p.Combination]
			if p.Front != want[0] || p.Priced != want[1] || !strings.Contains(p.Title, want[2]) || !strings.HasPrefix(p.Title, p.Combination+"\n") {
				t.Errorf("%s: %s: front %s priced %s, title %q; want front %s priced %s, a title with %q", where, p.Combination, p.Front, p.Priced, p.Title, want[0], want[1], want[2])
			}
		}
		if ps := points(); len(ps) == 4 && !strings.Contains(ps[3].Title+ps[2].Title+ps[1].Title+ps[0].Title, "left out of the Pareto front") {
			t.Errorf("%s: the unpriced point does not say it is left out of the front", where)
		}
		// Three combinations tie on the mean score: their order is not the point.
		costs, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('[data-testid=combo-row]')].map(
			r => [r.dataset.combination, r.querySelector('[data-testid=cost]').textContent + ' ' + r.querySelector('[data-testid=tokens]').textContent]))`))
		want := map[string]string{"ask=cheap": "$0.00012 110", "ask=good": "$0.0024 220", "ask=pricey": "$0.0048 440", "ask=mystery": "unpriced (2 calls) 330"}
		if err != nil || fmt.Sprint(costs) != fmt.Sprint(want) {
			t.Errorf("%s: leaderboard cost and tokens per execution %v (%v), want %v", where, costs, err, want)
		}
	}

	// The viewer's batch page.
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/batch/"+id), chromedp.WaitVisible(`[data-testid=cost-chart]`)); err != nil {
		t.Fatal(err)
	}
	checkPage("viewer")
	screenshot(t, ctx, shots, "viewer-cost-chart.png")

	// An execution: its node run's tokens and cost, and its own.
	executionCost := func(key string) (node, total []string) {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/execution/"+id+"/"+key), chromedp.WaitVisible(`[data-testid=execution-cost]`))
		if err != nil {
			t.Fatal(err)
		}
		// Moving from one execution to another changes only the hash: the
		// last page's table is visible until the new one is drawn.
		waitPage(t, ctx, fmt.Sprintf(`(document.querySelector('[data-testid=execution-key]') || {}).textContent === %q && !!document.querySelector('[data-testid=execution-cost]')`, key))
		node, _ = texts(ctx, `[data-testid=node-cost] td`)
		total, _ = texts(ctx, `[data-testid=execution-total] td`)
		return node, total
	}
	node, total := executionCost("ask=good/c1/0")
	if strings.Join(node, "|") != "ask = good (ran)|1|220|$0.0024" || strings.Join(total, "|") != "this execution|1|220|$0.0024" {
		t.Errorf("ask=good/c1/0: node run %q, execution %q", node, total)
	}
	if calls, _ := texts(ctx, `[data-testid=call-cost]`); len(calls) != 1 || calls[0] != "$0.0024" {
		t.Errorf("the node panel's call costs: %q", calls)
	}
	node, total = executionCost("ask=mystery/c2/0")
	if strings.Join(node, "|") != "ask = mystery (ran)|1|330|unpriced (1 call)" || strings.Join(total, "|") != "this execution|1|330|unpriced (1 call)" {
		t.Errorf("ask=mystery/c2/0: node run %q, execution %q", node, total)
	}
	screenshot(t, ctx, shots, "viewer-execution-cost.png")

	// A batch without model calls has no chart.
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/batch/"+plain), chromedp.WaitVisible(`[data-testid=leaderboard]`)); err != nil {
		t.Fatal(err)
	}
	if n, _ := texts(ctx, `[data-testid=cost-chart]`); len(n) != 0 {
		t.Errorf("a batch without model calls shows a cost chart")
	}

	// The report, from disk.
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(e.dir, "out/report.html")), chromedp.WaitVisible(`[data-testid=cost-chart]`)); err != nil {
		t.Fatal(err)
	}
	checkPage("report")
	screenshot(t, ctx, shots, "report-cost-chart.png")
}
