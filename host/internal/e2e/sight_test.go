package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/wtbench/wtb/host/internal/testbin"
)

// What the viewer shows of what came out: the case × combination grid, the
// execution page's input, expected values and output, sortable tables, dates
// as the CLI prints them, ids that do not wrap, and a report without dead
// links — each through the built binaries, in Chromium.

// gridBench answers 30 questions two ways: "good" always right, "sloppy"
// wrong on every fourth case and failing outright on case 13.
const gridBench = `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "prepare" {
    kind   = "merge"
    params = { pipeline = "grid" }
  }
  node "answer" {
    depends_on = ["prepare"]
    command    = ["python3", "answer.py"]
    worker     = true
    variant "good"   { params = { style = "good" } }
    variant "sloppy" { params = { style = "sloppy" } }
  }
}
batch_test "grid" {
  workflow = workflow.w
  runner   = runner.pool
  cases    = "cases.jsonl"
  repeat   = 2
  evaluator "correct" {
    type   = "json_path_equals"
    path   = "$.answer"
    expect = "$.expected.answer"
    weight = 3
  }
  evaluator "nonempty" {
    type    = "regex"
    path    = "$.answer"
    pattern = "\\S"
  }
}
`

// gridAnswer is the answer node, a persistent worker (one Python start per
// process, not per run).
const gridAnswer = `import sys
sys.path.insert(0, %q)
from wtb_node import serve

def answer(req):
    i = int(req["case"]["id"][1:])
    if req["params"]["style"] == "sloppy":
        if i == 13:
            raise Exception("cannot answer case 13")
        if i %% 4 == 0:
            return {"answer": "wrong %%d" %% i}
    return {"answer": "A%%02d" %% i}

serve(answer)
`

// gridBatch runs gridBench and returns its id. Case c30's input is long.
func gridBatch(t *testing.T, e *env) string {
	t.Helper()
	var cases strings.Builder
	for i := 1; i <= 30; i++ {
		input := map[string]any{"question": fmt.Sprintf("q%02d", i)}
		if i == 30 {
			var passages []string
			for j := 1; j <= 20; j++ {
				passages = append(passages, fmt.Sprintf("passage %d about the thirtieth question", j))
			}
			input["context"] = passages
		}
		line, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("c%02d", i), "input": input, "expected": map[string]string{"answer": fmt.Sprintf("A%02d", i)}})
		cases.Write(append(line, '\n'))
	}
	e.write("cases.jsonl", cases.String())
	e.write("answer.py", fmt.Sprintf(gridAnswer, filepath.Join(testbin.Root(), "sdk", "python")))
	e.write("grid.hcl", gridBench)
	r := e.run("run", "grid.hcl", "--no-progress")
	if r.code != 0 && r.code != 1 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	return batchID(t, r.stderr)
}

func gridCases(t *testing.T, ctx context.Context) string {
	t.Helper()
	return strings.Join(js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=grid-row]')].map(r => r.dataset.case)`), " ")
}

// The batch page's grid: a row per case with its input and expected values,
// a cell per combination with the output, ✓/✗ per evaluator with why in the
// title, failures first; sorted, searched and paged through the database.
func TestCaseGridInTheBrowser(t *testing.T) {
	e := newEnv(t)
	id := gridBatch(t, e)
	url := startViewer(t, e)
	ctx := browser(t)
	shots := artifacts(t)
	var mu sync.Mutex
	var requests []string
	err := chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(r.Request.URL, "/cases?") {
			mu.Lock()
			requests = append(requests, r.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/batch/"+id), chromedp.WaitVisible(`[data-testid=grid-row]`)); err != nil {
		t.Fatal(err)
	}

	// Failures first: the sloppy answers' cases (2 failed each), then the rest by id.
	if got := gridCases(t, ctx); !strings.HasPrefix(got, "c04 c08 c12 c13 c16 c20 c24 c28 c01 c02 c03 c05") || len(strings.Fields(got)) != 25 {
		t.Errorf("first page: %s", got)
	}
	if got := js[string](t, ctx, `document.querySelector('[data-testid=grid-count]').textContent`); got != "cases 1–25 of 30" {
		t.Errorf("count %q", got)
	}
	// Columns in leaderboard order; a row's case, input, expected values.
	if got := js[[]string](t, ctx, `[...document.querySelectorAll('th.combo')].map(th => th.dataset.combination)`); strings.Join(got, " ") != "answer=good answer=sloppy" {
		t.Errorf("columns %v", got)
	}
	row := `[data-testid=grid-row][data-case=c04]`
	if got := js[[]string](t, ctx, `[...document.querySelectorAll('`+row+` [data-testid=grid-input], `+row+` [data-testid=grid-expected], `+row+` [data-testid=grid-failed]')].map(e => e.textContent)`); strings.Join(got, "|") != "question: q04|answer: A04|2/4" {
		t.Errorf("c04's case column: %q", got)
	}
	// Each cell: the output, a verdict per evaluator with why on hover, repeats.
	cell := func(kase, combo string) string {
		return fmt.Sprintf(`[data-testid=grid-row][data-case=%s] [data-testid=grid-cell][data-combination=%q]`, kase, combo)
	}
	type mark struct{ Text, Title string }
	marks := func(sel string) []mark {
		return js[[]mark](t, ctx, `[...document.querySelectorAll('`+sel+` [data-testid=grid-mark]')].map(m => ({text: m.textContent, title: m.title}))`)
	}
	text := func(sel string) string { return js[string](t, ctx, `document.querySelector('`+sel+`').textContent`) }
	if got := text(cell("c04", "answer=good") + ` [data-testid=grid-output]`); got != "A04" {
		t.Errorf("good's output for c04: %q", got)
	}
	if got := text(cell("c04", "answer=sloppy") + ` [data-testid=grid-output]`); got != "wrong 4" {
		t.Errorf("sloppy's output for c04: %q", got)
	}
	m := marks(cell("c04", "answer=sloppy"))
	if len(m) != 2 || m[0].Text != "✗ correct" || !strings.Contains(m[0].Title, `got "wrong 4", want "A04"`) ||
		m[1].Text != "✓ nonempty" || !strings.Contains(m[1].Title, "1.000") || !strings.Contains(m[1].Title, `$.answer matches /\S/`) {
		t.Errorf("sloppy's verdicts on c04: %+v", m)
	}
	if got := text(cell("c04", "answer=sloppy") + ` [data-testid=grid-passed]`); got != "0/2 passed" {
		t.Errorf("sloppy's repeats on c04: %q", got)
	}
	if got := text(cell("c04", "answer=sloppy") + ` [data-testid=grid-score]`); got != "0.250" {
		t.Errorf("sloppy's score on c04: %q", got)
	}
	if got := text(cell("c13", "answer=sloppy") + ` [data-testid=grid-output]`); !strings.Contains(got, "answer: ") || !strings.Contains(got, "13") {
		t.Errorf("the failed execution's cell says %q", got)
	}
	if n := js[int](t, ctx, `document.querySelectorAll('`+cell("c05", "answer=good")+` .dot').length`); n != 2 {
		t.Errorf("%d repeat squares, want 2", n)
	}
	screenshot(t, ctx, shots, "viewer-grid.png")

	// Sort by clicking headers: case id both ways, then sloppy's score (worst first).
	click(t, ctx, `table.grid th[data-sort=case] a`)
	if got := gridCases(t, ctx); !strings.HasPrefix(got, "c01 c02 c03") {
		t.Errorf("by case id: %s", got)
	}
	click(t, ctx, `table.grid th[data-sort=case] a`)
	if got := gridCases(t, ctx); !strings.HasPrefix(got, "c30 c29 c28") {
		t.Errorf("by case id, descending: %s", got)
	}
	click(t, ctx, `table.grid th.combo[data-combination="answer=sloppy"] a`)
	if got := gridCases(t, ctx); !strings.HasPrefix(got, "c13 c04 c08 c12 c16") {
		t.Errorf("by sloppy's score: %s", got)
	}
	if got := text(`[data-testid=grid-order]`); !strings.Contains(got, "answer=sloppy’s score, lowest first") {
		t.Errorf("order shown: %q", got)
	}
	click(t, ctx, `table.grid th[data-sort=failed] a`)
	if got := gridCases(t, ctx); !strings.HasPrefix(got, "c04 c08 c12 c13") {
		t.Errorf("by failures: %s", got)
	}

	// Search, in the database: an output, an input, an expected value.
	search := func(q string) string {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.SetValue(`[data-testid=grid-search]`, q)); err != nil {
			t.Fatal(err)
		}
		click(t, ctx, `[data-testid=grid-search-go]`)
		return gridCases(t, ctx)
	}
	for q, want := range map[string]string{"wrong 2": "c20 c24 c28", "Q15": "c15", "a07": "c07", "nothing like it": ""} {
		if got := search(q); got != want {
			t.Errorf("search %q: %q, want %q", q, got, want)
		}
	}
	goTo(t, ctx, "#/batch/"+id)

	// The next page comes from the database: 5 cases, asked for at offset 25.
	click(t, ctx, `[data-testid=grid-next]`)
	if got := gridCases(t, ctx); got != "c25 c26 c27 c29 c30" {
		t.Errorf("second page: %s", got)
	}
	if got := text(`[data-testid=grid-count]`); got != "cases 26–30 of 30" {
		t.Errorf("second page count %q", got)
	}
	mu.Lock()
	asked := strings.Join(requests, "\n")
	mu.Unlock()
	if !strings.Contains(asked, "offset=25") || !strings.Contains(asked, "limit=25") {
		t.Errorf("the second page was not asked of the server:\n%s", asked)
	}

	// Pick the columns: sloppy alone.
	goTo(t, ctx, "#/batch/"+id)
	err = chromedp.Do(ctx, chromedp.Click(`[data-testid=grid-columns] summary`),
		chromedp.Click(`[data-testid=grid-columns] input[value="answer=good"]`))
	if err != nil {
		t.Fatal(err)
	}
	click(t, ctx, `[data-testid=grid-columns-apply]`)
	if got := js[[]string](t, ctx, `[...document.querySelectorAll('th.combo')].map(th => th.dataset.combination)`); strings.Join(got, " ") != "answer=sloppy" {
		t.Errorf("columns after picking: %v", got)
	}

	// Where outputs are: the last node's output instead of $.answer.
	goTo(t, ctx, "#/batch/"+id)
	if err := chromedp.Do(ctx, chromedp.SetValue(`select[data-testid=grid-output]`, "node")); err != nil {
		t.Fatal(err)
	}
	js[bool](t, ctx, `document.querySelector('select[data-testid=grid-output]').dispatchEvent(new Event('change')), true`)
	waitPage(t, ctx, `location.hash.includes('gout=node') && document.getElementById('app').dataset.rendered === location.hash`)
	if got := text(cell("c04", "answer=good") + ` [data-testid=grid-output]`); got != "answer: A04" {
		t.Errorf("the node's output for c04: %q", got)
	}

	// A path that names nothing is said in the grid's place; the page stands.
	goTo(t, ctx, "#/batch/"+id+"?gout=answer")
	if got := text(`[data-testid=grid-error]`); !strings.Contains(got, `path "answer": must start with $`) ||
		!js[bool](t, ctx, `document.querySelector('[data-testid=leaderboard]') !== null`) {
		t.Errorf("a bad output path: %q", got)
	}

	// The case column stays put while the combinations scroll sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(720, 900)); err != nil {
		t.Fatal(err)
	}
	goTo(t, ctx, "#/batch/"+id+"?gcol=answer%3Dgood&gcol=answer%3Dsloppy&gcol=answer%3Dgood")
	left := js[[]float64](t, ctx, `(() => { const w = document.querySelector('.grid-wrap'); w.scrollLeft = 400;
		return [w.scrollLeft, w.getBoundingClientRect().left, document.querySelector('[data-testid=grid-row] th.case').getBoundingClientRect().left]; })()`)
	if left[0] < 100 || math.Abs(left[2]-left[1]) > 2 {
		t.Errorf("scrolled %v px: the case column moved to %v (grid at %v)", left[0], left[2], left[1])
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 1200)); err != nil {
		t.Fatal(err)
	}

	// A cell opens its execution.
	goTo(t, ctx, "#/batch/"+id)
	click(t, ctx, cell("c04", "answer=sloppy")+` a[data-testid=grid-output]`)
	if got := text(`[data-testid=execution-key]`); got != "answer=sloppy/c04/0" {
		t.Errorf("the cell opened %q", got)
	}
}

// An execution's page opens on what went in, what was expected and what came
// out, then every evaluator's verdict and why (passes too), then the graph
// with the failed node — or the last — selected.
func TestExecutionPageOpensOnWhatCameOut(t *testing.T) {
	e := newEnv(t)
	id := gridBatch(t, e)
	url := startViewer(t, e)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/execution/"+id+"/answer%3Dsloppy%2Fc04%2F1"), chromedp.WaitVisible(`[data-testid=io]`)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, `document.querySelector('g.node.selected') !== null`)
	type box struct {
		Text string
		Top  float64
	}
	at := func(sel string) box {
		return js[box](t, ctx, `(() => { const e = document.querySelector('`+sel+`'); return e ? {text: e.textContent, top: e.getBoundingClientRect().top} : {text: '', top: -1}; })()`)
	}
	in, exp, out := at(`[data-testid=io-input]`), at(`[data-testid=io-expected]`), at(`[data-testid=io-output]`)
	scores, graph := at(`[data-testid=scores]`), at(`[data-testid=node-graph]`)
	if !strings.Contains(in.Text, `"question": "q04"`) || !strings.Contains(exp.Text, `"answer": "A04"`) || out.Text != `"wrong 4"` {
		t.Errorf("top: input %q, expected %q, output %q", in.Text, exp.Text, out.Text)
	}
	if in.Top < 0 || in.Top > scores.Top || exp.Top > scores.Top || out.Top > scores.Top || scores.Top > graph.Top {
		t.Errorf("order on the page: io %v/%v/%v, scores %v, graph %v", in.Top, exp.Top, out.Top, scores.Top, graph.Top)
	}
	type verdict struct{ Name, Reason, Verdict string }
	got := js[[]verdict](t, ctx, `[...document.querySelectorAll('[data-testid=score-row]')].map(r => ({name: r.dataset.evaluator, reason: r.querySelector('[data-testid=reason]').textContent, verdict: r.querySelector('.badge').textContent}))`)
	if len(got) != 2 || got[0].Name != "correct" || got[0].Verdict != "✗" || got[0].Reason != `got "wrong 4", want "A04"` ||
		got[1].Name != "nonempty" || got[1].Verdict != "✓" || got[1].Reason != `"wrong 4" matches /\S/` {
		t.Errorf("scores: %+v", got)
	}
	if sel := js[string](t, ctx, `document.querySelector('g.node.selected').dataset.node`); sel != "answer" {
		t.Errorf("selected node %q, want the last one", sel)
	}
	screenshot(t, ctx, artifacts(t), "viewer-execution-top.png")

	// A failed execution: the node that failed is selected, the output says why there is none.
	goTo(t, ctx, "#/execution/"+id+"/answer%3Dsloppy%2Fc13%2F0")
	waitPage(t, ctx, `document.querySelector('g.node.selected') !== null`)
	if sel := js[string](t, ctx, `document.querySelector('g.node.selected').dataset.node`); sel != "answer" {
		t.Errorf("selected node %q, want the failed one", sel)
	}
	if got := at(`[data-testid=io-output]`).Text; !strings.Contains(got, "the execution failed at node answer") {
		t.Errorf("a failed execution's output: %q", got)
	}
	if got := js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=reason]')].map(r => r.textContent)`); len(got) != 2 || got[0] != "execution failed" {
		t.Errorf("a failed execution's reasons: %q", got)
	}
	// A long input is folded, and unfolds.
	goTo(t, ctx, "#/execution/"+id+"/answer%3Dgood%2Fc30%2F0")
	if !js[bool](t, ctx, `document.querySelector('[data-testid=io-input]').classList.contains('folded')`) {
		t.Error("a 24-line input is not folded")
	}
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=io-input-unfold]`)); err != nil {
		t.Fatal(err)
	}
	if js[bool](t, ctx, `document.querySelector('[data-testid=io-input]').classList.contains('folded')`) {
		t.Error("the input did not unfold")
	}
	if got := at(`[data-testid=io-output]`).Text; got != `"A30"` {
		t.Errorf("c30's output %q", got)
	}
}

var cliDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)

// Every table sorts by its headers; dates read as `wtb results --list` prints
// them; batch ids and execution keys stay on one line.
func TestTablesSortDatesAndIdsInTheBrowser(t *testing.T) {
	e := newEnv(t)
	id := gridBatch(t, e)
	e.write("logs.hcl", logsBench)
	idLogs := batchID(t, e.mustRun("run", "logs.hcl", "--no-progress").stderr)
	list := e.mustRunOK("results", "--list")
	url := startViewer(t, e)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/"), chromedp.WaitVisible(`[data-testid=batch-row]`)); err != nil {
		t.Fatal(err)
	}
	// Dates: as the CLI's list prints them, for each batch (the column
	// headed "Started").
	for _, b := range []string{id, idLogs} {
		date := js[string](t, ctx, fmt.Sprintf(`(() => { const i = [...document.querySelectorAll('[data-testid=batches] th')].findIndex(th => th.textContent.startsWith('Started'));
			return document.querySelector('[data-batch=%q]').children[i].textContent; })()`, b))
		var line string
		for _, l := range strings.Split(list, "\n") {
			if strings.HasPrefix(l, b) {
				line = l
			}
		}
		if !cliDate.MatchString(date) || !strings.Contains(line, date) {
			t.Errorf("batch %s started %q; the CLI lists %q", b, date, line)
		}
	}
	// Ids on one line, cut with an ellipsis where narrow, whole in the title.
	oneLine := func(sel string) {
		t.Helper()
		type look struct {
			WhiteSpace string
			Height     float64
			Line       float64
			Title      string
			Text       string
			N          int
		}
		l := js[look](t, ctx, `(() => { const els = document.querySelectorAll('`+sel+`'); const e = els[0]; if (!e) return {n: 0};
			const cs = getComputedStyle(e); return {whiteSpace: cs.whiteSpace, height: e.getBoundingClientRect().height,
			line: parseFloat(cs.lineHeight) || 1.45 * parseFloat(cs.fontSize), title: e.title, text: e.textContent, n: els.length}; })()`)
		if l.N == 0 || l.WhiteSpace != "nowrap" || l.Height > 1.5*l.Line || l.Title != l.Text {
			t.Errorf("%s: %+v", sel, l)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(700, 1000)); err != nil {
		t.Fatal(err)
	}
	oneLine(`[data-testid=batch-row] a[href^="#/batch/"]`)
	goTo(t, ctx, "#/batch/"+id)
	oneLine(`[data-testid=execution-row] td:first-child a`)
	oneLine(`[data-testid=grid-case]`)
	started := js[string](t, ctx, `[...document.querySelectorAll('.kv span')].map(s => s.textContent).find(t => t.startsWith('started ')) || ''`)
	if !cliDate.MatchString(strings.TrimPrefix(started, "started ")) {
		t.Errorf("the batch page says %q", started)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(420, 900)); err != nil {
		t.Fatal(err)
	}
	goTo(t, ctx, "#/execution/"+id+"/answer%3Dsloppy%2Fc04%2F0")
	oneLine(`[data-testid=execution-page] h1`)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 1200)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, artifacts(t), "viewer-narrow-execution.png")

	// Every table sorts by its headers. The batches, by name both ways.
	goTo(t, ctx, "#/")
	names := func() string {
		return strings.Join(js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=batch-row] td:nth-child(3)')].map(e => e.textContent)`), " ")
	}
	click(t, ctx, `[data-testid=batches] th[data-sort=name] a`)
	if got := names(); got != "grid logs" {
		t.Errorf("by name: %s", got)
	}
	click(t, ctx, `[data-testid=batches] th[data-sort=name] a`)
	if got := names(); got != "logs grid" {
		t.Errorf("by name, descending: %s", got)
	}
	// The leaderboard, by mean both ways.
	goTo(t, ctx, "#/batch/"+id)
	click(t, ctx, `[data-testid=leaderboard] th[data-sort=mean] a`)
	means := func() []string {
		return js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=combo-row] [data-testid=mean]')].map(e => e.textContent)`)
	}
	if got := means(); len(got) != 2 || got[0] < got[1] {
		t.Errorf("by mean, highest first: %v", got)
	}
	click(t, ctx, `[data-testid=leaderboard] th[data-sort=mean] a`)
	if got := means(); len(got) != 2 || got[0] > got[1] {
		t.Errorf("by mean, lowest first: %v", got)
	}
	// The executions, by score both ways: sorted in the database, across pages.
	click(t, ctx, `[data-testid=executions] th[data-sort=score] a`)
	scores := js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=execution-row] td:nth-child(3)')].map(e => e.textContent)`)
	if len(scores) != 50 || scores[0] != "1.000" || scores[49] != "1.000" {
		t.Errorf("executions by score, highest first: %v", scores)
	}
	click(t, ctx, `[data-testid=executions] th[data-sort=score] a`)
	scores = js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=execution-row] td:nth-child(3)')].map(e => e.textContent)`)
	keys := js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=execution-row] td:first-child')].map(e => e.textContent)`)
	if len(scores) != 50 || scores[0] != "0.000" || scores[1] != "0.000" || scores[2] != "0.250" || !strings.Contains(keys[0], "/c13/") {
		t.Errorf("executions by score, lowest first: %v %v", scores[:min(3, len(scores))], keys[:min(3, len(keys))])
	}
	screenshot(t, ctx, artifacts(t), "viewer-sorted.png")
	// An execution's scores, by score both ways.
	goTo(t, ctx, "#/execution/"+id+"/answer%3Dsloppy%2Fc04%2F0")
	click(t, ctx, `[data-testid=scores] th[data-sort=score] a`)
	if got := js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=score-row]')].map(r => r.dataset.evaluator)`); strings.Join(got, " ") != "correct nonempty" {
		t.Errorf("scores by score: %v", got)
	}
	click(t, ctx, `[data-testid=scores] th[data-sort=score] a`)
	if got := js[[]string](t, ctx, `[...document.querySelectorAll('[data-testid=score-row]')].map(r => r.dataset.evaluator)`); strings.Join(got, " ") != "nonempty correct" {
		t.Errorf("scores by score, descending: %v", got)
	}
}
