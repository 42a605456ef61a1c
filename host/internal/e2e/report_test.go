package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wtbench/wtb/host/internal/numfmt"
)

// A report holds the grid (searchable, sortable, paged in the page), says so
// when it holds only part of it, links to nothing it does not hold — not a
// parent batch, not an execution it lacks — and offers no comparison.
func TestReportHoldsTheGridWithoutDeadLinks(t *testing.T) {
	e := newEnv(t)
	parent := gridBatch(t, e)
	r := e.run("fork", parent, "--from", "prepare", "--no-progress")
	if r.code != 0 && r.code != 1 {
		t.Fatalf("fork: exit %d\n%s", r.code, r.stderr)
	}
	id := batchID(t, strings.ReplaceAll(r.stderr, "batch "+parent, ""))
	e.mustRun("report", id, "--html", "out/report.html")
	ctx := browser(t)
	file := "file://" + filepath.Join(e.dir, "out/report.html")
	if err := chromedp.Do(ctx, chromedp.Navigate(file), chromedp.WaitVisible(`[data-testid=grid-row]`)); err != nil {
		t.Fatal(err)
	}
	// "forked from" names the parent without a link; no compare anywhere.
	lin := js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=lineage] *')].map(e => e.tagName + ':' + e.textContent)`)
	if strings.Join(lin, " ") != "SPAN:"+parent {
		t.Errorf("lineage: %v", lin)
	}
	if n := js[int](t, ctx, `document.querySelectorAll('a[href*="compare"], [data-testid=compare-link], [data-testid=compare-selected], input[type=checkbox]:not(details.columns input)').length`); n != 0 {
		t.Errorf("%d compare links or boxes in a report of one batch", n)
	}
	// The grid works from the embedded cases.
	if got := gridCases(t, ctx); !strings.HasPrefix(got, "c04 c08 c12 c13 c16 c20 c24 c28 c01") {
		t.Errorf("the report's grid: %s", got)
	}
	click(t, ctx, `table.grid th[data-sort=case] a`)
	if got := gridCases(t, ctx); !strings.HasPrefix(got, "c01 c02") {
		t.Errorf("the report's grid by case: %s", got)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(`[data-testid=grid-search]`, "wrong 2")); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, `[data-testid=grid-search-go]`)
	if got := gridCases(t, ctx); got != "c20 c24 c28" {
		t.Errorf("the report's grid searched: %s", got)
	}
	screenshot(t, ctx, artifacts(t), "report-grid.png")

	// Every link on every page the report can show leads somewhere: visited
	// in the page, every execution linked to and the other pages up to 60.
	type crawl struct {
		Visited int
		Bad     []string
	}
	got := js[crawl](t, ctx, `(async () => {
		const app = document.getElementById('app');
		const visit = (hash) => new Promise((resolve) => {
			const done = () => app.dataset.rendered === hash && location.hash === hash;
			if (done()) return resolve(true);
			const timer = setTimeout(() => { obs.disconnect(); resolve(false); }, 3000);
			const obs = new MutationObserver(() => { if (done()) { clearTimeout(timer); obs.disconnect(); resolve(true); } });
			obs.observe(app, { attributes: true, attributeFilter: ['data-rendered'] });
			location.hash = hash;
		});
		const seen = new Set(), queue = ['#/batch/`+id+`', '#/'], bad = [];
		let others = 0;
		while (queue.length) {
			const hash = queue.shift();
			if (seen.has(hash)) continue;
			seen.add(hash);
			if (!(await visit(hash))) { bad.push(hash + ': did not render'); continue; }
			const err = document.querySelector('[data-testid=error]');
			if (err) { bad.push(hash + ': ' + err.textContent); continue; }
			for (const a of document.querySelectorAll('a[href]')) {
				const href = a.getAttribute('href');
				if (!href.startsWith('#')) { bad.push(hash + ' links out: ' + href); continue; }
				if (seen.has(href) || queue.includes(href)) continue;
				if (href.startsWith('#/execution/')) queue.push(href);
				else if (others++ < 60) queue.push(href);
			}
		}
		return { visited: seen.size, bad };
	})()`, chromedp.EvalAwaitPromise)
	for _, b := range got.Bad {
		t.Errorf("a dead link: %s", b)
	}
	if got.Visited < 100 {
		t.Errorf("only %d pages visited", got.Visited)
	}
}

// A report of a batch larger than it holds says what it holds: the first
// cases, failures first, and the first executions by key.
func TestReportSaysWhenItHoldsPartOfTheGrid(t *testing.T) {
	e := newEnv(t)
	var cases strings.Builder
	const n = 2600 // × 2 combinations × 4 repeats: more than a report holds
	for i := 0; i < n; i++ {
		want := "A"
		if i%10 == 3 {
			want = "B"
		}
		fmt.Fprintf(&cases, `{"id": "k%04d", "input": {"i": %d}, "expected": {"answer": %q}}`+"\n", i, i, want)
	}
	e.write("cases.jsonl", cases.String())
	e.write("big.hcl", `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "answer" {
    kind = "merge"
    variant "a" { params = { answer = "A" } }
    variant "b" { params = { answer = "B" } }
  }
}
batch_test "big" {
  workflow = workflow.w
  runner   = runner.pool
  cases    = "cases.jsonl"
  repeat   = 4
  evaluator "correct" {
    type   = "json_path_equals"
    path   = "$.answer"
    expect = "$.expected.answer"
  }
}
`)
	r := e.run("run", "big.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	e.mustRun("report", id, "--html", "big.html")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(e.dir, "big.html")), chromedp.WaitVisible(`[data-testid=grid-row]`)); err != nil {
		t.Fatal(err)
	}
	holds := js[string](t, ctx, `(document.querySelector('[data-testid=grid-holds]') || {}).textContent || ''`)
	if !strings.Contains(holds, "holds 1250 of the batch’s 2600 cases, failures first") {
		t.Errorf("the note: %q", holds)
	}
	// Every case fails in one combination; failures first means nothing is missing from the top.
	if got := js[string](t, ctx, `document.querySelector('[data-testid=grid-count]').textContent`); got != "cases 1–25 of 1250" {
		t.Errorf("count %q", got)
	}
	if got := js[string](t, ctx, `document.querySelector('[data-testid=grid-row] [data-testid=grid-failed]').textContent`); got != "4/8" {
		t.Errorf("first row's failures %q", got)
	}
	listed := js[string](t, ctx, `(document.querySelector('[data-testid=executions-holds]') || {}).textContent || ''`)
	if !strings.Contains(listed, "lists the first 20000 of the batch’s 20800 executions") {
		t.Errorf("the executions' note: %q", listed)
	}
}

// The viewer writes numbers and dates as the CLI does: its helpers give what
// package numfmt gives, for values chosen to land on rounding ties.
func TestViewerWritesNumbersAsTheCLI(t *testing.T) {
	e := newEnv(t)
	e.write("logs.hcl", logsBench)
	e.mustRun("run", "logs.hcl", "--no-progress")
	url := startViewer(t, e)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/"), chromedp.WaitVisible(`[data-testid=batch-row]`)); err != nil {
		t.Fatal(err)
	}
	scores := []float64{0, 1, 0.625, 10.0 / 16, 0.0625, 0.1875, 0.3125, 0.4375, 0.5625, 0.6875, 0.8125, 0.9375, 1.0 / 3, 2.0 / 3,
		0.0005, 0.0015, 0.9995, 0.125, 0.3751, 0.005, 0.995, 0.285}
	durations := []float64{0, 0.05, 3.55, 3.65, 3.6, 9.95, 9.96, 10, 12.5, 237.5, 238.5, 999.4, 999.6, 1000, 1175, 1185, 1005, 59994, 59996,
		60000, 61500, 245000, 245499, 245500, 3599999}
	pvalues := []float64{1, 0, 0.999, 0.42, 0.125, 0.0625, 0.031, 0.0315, 0.00125, 0.0012, 0.001, 0.00099, 0.000995, 6.1e-7, 7.55e-6, 1e-7,
		0.5, 0.05, 0.995, 1.25e-4, 3.4e-12}
	type out struct{ Fmt, Pct, Ms, P []string }
	raw, _ := json.Marshal(map[string][]float64{"s": scores, "d": durations, "p": pvalues})
	got := js[out](t, ctx, `(() => { const v = `+string(raw)+`; const each = (f, xs) => typeof f === 'function' ? xs.map((x) => f(x)) : xs.map(() => 'missing');
		return {fmt: each(typeof fmt !== 'undefined' && fmt, v.s), pct: each(typeof pct !== 'undefined' && pct, v.s),
			ms: each(typeof ms !== 'undefined' && ms, v.d), p: each(typeof pval !== 'undefined' && pval, v.p)}; })()`)
	for i, x := range scores {
		if want := numfmt.Score(x); got.Fmt[i] != want {
			t.Errorf("score %v: %q, want %q", x, got.Fmt[i], want)
		}
		if want := numfmt.Percent(x); got.Pct[i] != want {
			t.Errorf("percent %v: %q, want %q", x, got.Pct[i], want)
		}
	}
	for i, x := range durations {
		if want := numfmt.Duration(x); got.Ms[i] != want {
			t.Errorf("duration %v ms: %q, want %q", x, got.Ms[i], want)
		}
	}
	for i, x := range pvalues {
		if want := numfmt.PValue(x); got.P[i] != want {
			t.Errorf("p-value %v: %q, want %q", x, got.P[i], want)
		}
	}
	if got := js[string](t, ctx, `pval(null) + fmt(undefined) + pct(NaN)`); got != strings.Repeat(numfmt.Dash, 3) {
		t.Errorf("missing figures: %q, want %q", got, strings.Repeat(numfmt.Dash, 3))
	}
	// Dates: local, ISO, 24 hours, as the CLI prints them.
	at := time.Date(2026, 12, 2, 15, 16, 52, 900_000_000, time.UTC)
	if got := js[string](t, ctx, `when('`+at.Format(time.RFC3339Nano)+`')`); got != numfmt.Date(at) {
		t.Errorf("date %q, want %q", got, numfmt.Date(at))
	}
}
