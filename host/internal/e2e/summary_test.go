package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"golang.org/x/net/html"

	"github.com/wtbench/wtb/host/internal/numfmt"
)

// rendered is a markdown summary as GitHub shows it: rendered to HTML by a
// CommonMark parser with GitHub's extensions (tables, strikethrough, task
// lists, autolinks), then read back as a reader would see it.
type rendered struct {
	html     string
	headings []string     // h2, h3 and h4 texts
	tables   [][][]string // per table, its rows (the header first), each row's cells as text
	paras    []string     // paragraph texts
}

func renderMarkdown(t *testing.T, src []byte) rendered {
	t.Helper()
	var out bytes.Buffer
	if err := goldmark.New(goldmark.WithExtensions(extension.GFM)).Convert(src, &out); err != nil {
		t.Fatalf("the summary does not render: %v", err)
	}
	doc, err := html.Parse(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	r := rendered{html: out.String()}
	var textOf func(n *html.Node) string
	textOf = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(textOf(c))
		}
		return b.String()
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "h2", "h3", "h4":
				r.headings = append(r.headings, textOf(n))
			case "p":
				r.paras = append(r.paras, textOf(n))
			case "table":
				var rows [][]string
				var rowsOf func(n *html.Node)
				rowsOf = func(n *html.Node) {
					if n.Type == html.ElementNode && n.Data == "tr" {
						var cells []string
						for c := n.FirstChild; c != nil; c = c.NextSibling {
							if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
								cells = append(cells, textOf(c))
							}
						}
						rows = append(rows, cells)
						return
					}
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						rowsOf(c)
					}
				}
				rowsOf(n)
				r.tables = append(r.tables, rows)
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	// A table the parser did not take for one shows as a paragraph of pipes.
	for _, p := range r.paras {
		if strings.HasPrefix(strings.TrimSpace(p), "|") {
			t.Errorf("a table did not render as one: %q", p)
		}
	}
	return r
}

// table is the rendered table whose header starts with first.
func (r rendered) table(t *testing.T, first string) [][]string {
	t.Helper()
	for _, tb := range r.tables {
		if len(tb) > 0 && len(tb[0]) > 0 && tb[0][0] == first {
			for i, row := range tb {
				if len(row) != len(tb[0]) {
					t.Errorf("table %q: row %d has %d cells, the header %d: %q", first, i, len(row), len(tb[0]), row)
				}
			}
			return tb
		}
	}
	t.Fatalf("no table starting with %q in:\n%s", first, r.html)
	return nil
}

// summaryBench is the quickstart without its threshold (a batch that meets
// nothing cannot miss anything: the exit code says regressions only), with a
// case whose id a markdown table must escape.
func summaryBench(t *testing.T, e *env) (a, b string) {
	t.Helper()
	bench := quickstart(e)
	i := strings.Index(bench, "  threshold {")
	j := strings.Index(bench[i:], "}\n")
	if i < 0 || j < 0 {
		t.Fatal("the quickstart has no threshold block to remove")
	}
	bench = bench[:i] + bench[i+j+2:]
	e.write("a.hcl", bench)
	// B answers verbosely where A answered tersely: the terse combinations
	// lose their exact answers at node answer.
	changed := strings.Replace(bench, `variant "terse" { params = { style = "terse" } }`, `variant "terse" { params = { style = "verbose" } }`, 1)
	if changed == bench {
		t.Fatal("the quickstart's terse variant moved")
	}
	e.write("b.hcl", changed)
	cases, err := os.ReadFile(filepath.Join(e.dir, "cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	e.write("cases.jsonl", string(cases)+`{"id": "a|tricky*_<b>x</b>`+"`"+`", "input": {"question": "What is the capital of France?"}, "expected": {"answer": "Paris"}}`+"\n")
	return "a.hcl", "b.hcl"
}

// compareJSON is what the summary tests read of `compare --format json`.
type compareJSON struct {
	Regressions  int    `json:"regressions"`
	BaselineFile string `json:"baseline_file"`
	CasesChanged int    `json:"cases_changed"`
	Combinations []struct {
		Combination string      `json:"combination"`
		Verdict     string      `json:"verdict"`
		MeanA       *float64    `json:"mean_a"`
		MeanB       *float64    `json:"mean_b"`
		PassRateA   *float64    `json:"pass_rate_a"`
		PassRateB   *float64    `json:"pass_rate_b"`
		Pairs       int         `json:"pairs"`
		MeanDiff    float64     `json:"paired_mean_diff"`
		DiffCI95    *[2]float64 `json:"paired_diff_ci95"`
		P           float64     `json:"p_value"`
		P50A        *float64    `json:"p50_ms_a"`
		P50B        *float64    `json:"p50_ms_b"`
		P50Delta    *float64    `json:"p50_delta_ms"`
		CostA       *float64    `json:"cost_a"`
		TokensA     *float64    `json:"tokens_a"`
		TokensB     *float64    `json:"tokens_b"`
		CostReason  *string     `json:"cost_delta_reason"`
	} `json:"combinations"`
	Cases []struct {
		Key    string  `json:"execution_key"`
		ScoreA float64 `json:"score_a"`
		ScoreB float64 `json:"score_b"`
		Delta  float64 `json:"score_delta"`
		Node   string  `json:"first_differing_node"`
		Detail string  `json:"detail"`
	} `json:"cases"`
}

func readCompareJSON(t *testing.T, out string) compareJSON {
	t.Helper()
	checkDoc(t, "compare", out)
	var d compareJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return d
}

func fmtScore(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Score(*x)
}

func fmtPercent(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Percent(*x)
}

func fmtDuration(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Duration(*x)
}

// checkComparisonTables holds the summary's comparison and worst-case tables
// to the compare document: the same combinations in the same order with the
// same figures, and the worst cases are the document's first ones. These
// batches call no models, so the summary has no cost column
// (TestCompareShowsCostAndTokenDeltas checks the one of batches that do).
func checkComparisonTables(t *testing.T, r rendered, d compareJSON) {
	t.Helper()
	rows := r.table(t, "Combination")
	if got, want := strings.Join(rows[0], " | "), "Combination | Mean (baseline → now) | Paired Δ [95% CI] | p | Pass (baseline → now) | P50 (baseline → now) | Δ P50 | Verdict"; got != want {
		t.Fatalf("comparison header %q", got)
	}
	if len(rows)-1 != len(d.Combinations) {
		t.Fatalf("%d comparison rows, compare has %d combinations", len(rows)-1, len(d.Combinations))
	}
	for i, c := range d.Combinations {
		row := rows[i+1]
		paired, p := numfmt.Dash, numfmt.Dash
		if c.Pairs >= 2 {
			paired = numfmt.Signed(c.MeanDiff) + " [" + numfmt.Signed(c.DiffCI95[0]) + ", " + numfmt.Signed(c.DiffCI95[1]) + "] n=" + itoa(c.Pairs)
			p = numfmt.PValue(c.P)
		}
		delta := numfmt.Dash
		if c.P50Delta != nil {
			delta = numfmt.SignedDuration(*c.P50Delta)
		}
		verdict := map[string]string{"regression": "❌ regression", "not_significant": "", "only_a": "only in the baseline", "only_b": "new"}[c.Verdict]
		want := []string{c.Combination, fmtScore(c.MeanA) + " → " + fmtScore(c.MeanB), paired, p,
			fmtPercent(c.PassRateA) + " → " + fmtPercent(c.PassRateB), fmtDuration(c.P50A) + " → " + fmtDuration(c.P50B), delta,
			verdict}
		if c.Verdict == "significant" {
			want[7] = row[7] // an improvement says so
		}
		if c.CostA != nil || c.TokensA != nil || c.TokensB != nil {
			t.Errorf("%s: a cost or tokens where no model was called: %v, %v, %v", c.Combination, c.CostA, c.TokensA, c.TokensB)
		}
		if strings.Join(row, " | ") != strings.Join(want, " | ") {
			t.Errorf("comparison row %d:\n got %q\nwant %q", i, row, want)
		}
	}
	cases := r.table(t, "Execution")
	if n := min(len(d.Cases), 10); len(cases)-1 != n || n == 0 {
		t.Fatalf("%d worst cases shown; compare lists %d", len(cases)-1, len(d.Cases))
	}
	for i, row := range cases[1:] {
		c := d.Cases[i]
		want := []string{c.Key, numfmt.Score(c.ScoreA) + " → " + numfmt.Score(c.ScoreB), numfmt.Signed(c.Delta), c.Node}
		if strings.Join(row[:4], " | ") != strings.Join(want, " | ") || !strings.HasPrefix(c.Detail, strings.TrimSuffix(row[4], "…")) {
			t.Errorf("worst case %d:\n got %q\nwant %q, %q", i, row, want, c.Detail)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// `wtb run … --summary FILE --baseline BATCH` writes markdown that GitHub
// renders (a CommonMark parser with GitHub's tables reads it: every table a
// table, every row as wide as its header, a case id full of markdown read
// back as written), whose leaderboard is `wtb results --format json`'s and
// whose comparison is `wtb compare --format json`'s, figure for figure; a
// regression fails the run only with --fail-on regression.
func TestSummaryFiguresEqualCompareJSON(t *testing.T) {
	e := newEnv(t)
	fileA, fileB := summaryBench(t, e)
	a := batchID(t, e.mustRun("run", fileA, "--no-progress").stderr)

	r := e.run("run", fileB, "--no-progress", "--summary", "summary.md", "--baseline", a)
	if r.code != 0 {
		t.Fatalf("without --fail-on a regression is reported, not fatal: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "against the baseline "+a+": 2 regressions (retrieve=bm25,answer=terse, retrieve=keyword,answer=terse)") ||
		!strings.Contains(r.stderr, "wrote the summary summary.md") {
		t.Errorf("run should say what the comparison found and where the summary is:\n%s", r.stderr)
	}
	b := batchID(t, r.stderr)
	src, err := os.ReadFile(filepath.Join(e.dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := renderMarkdown(t, src)
	if len(md.headings) < 3 || md.headings[0] != "ℹ️ qa-sweep — no thresholds, 2 regressions against the baseline" && md.headings[0] != "❌ qa-sweep — no thresholds, 2 regressions against the baseline" {
		t.Errorf("headings %q", md.headings)
	}
	if !strings.HasPrefix(string(src), "<!-- wtb-summary -->\n") {
		t.Errorf("the summary should start with its marker:\n%s", src)
	}

	// The leaderboard is results --format json's.
	var board struct {
		Summary struct {
			Leaderboard []struct {
				Rank        int                `json:"rank"`
				Combination string             `json:"combination"`
				Mean        float64            `json:"mean_score"`
				PassRate    float64            `json:"pass_rate"`
				P50         float64            `json:"p50_ms"`
				Succeeded   int                `json:"succeeded"`
				Failed      int                `json:"failed"`
				Evaluators  map[string]float64 `json:"evaluator_means"`
			} `json:"leaderboard"`
		} `json:"summary"`
	}
	out := e.mustRun("results", b, "--format", "json").stdout
	if err := json.Unmarshal([]byte(out), &board); err != nil {
		t.Fatal(err)
	}
	lb := md.table(t, "#")
	if len(lb)-1 != len(board.Summary.Leaderboard) || lb[0][1] != "Combination" || lb[0][8] != "correct" {
		t.Fatalf("leaderboard table %q", lb)
	}
	for i, c := range board.Summary.Leaderboard {
		row := lb[i+1]
		want := []string{itoa(c.Rank), c.Combination, numfmt.Score(c.Mean)}
		if strings.Join(row[:3], " | ") != strings.Join(want, " | ") || row[4] != numfmt.Percent(c.PassRate) || row[5] != numfmt.Duration(c.P50) ||
			row[7] != itoa(c.Succeeded)+"/"+itoa(c.Failed) || row[8] != numfmt.Score(c.Evaluators["correct"]) {
			t.Errorf("leaderboard row %d: %q; results says %+v", i, row, c)
		}
	}

	// The comparison is compare --format json's, with --cases (the worst
	// cases' first diverging nodes).
	d := readCompareJSON(t, e.mustRunOK("compare", a, b, "--cases", "--format", "json"))
	if d.Regressions != 2 || d.CasesChanged == 0 {
		t.Fatalf("compare: %+v", d)
	}
	checkComparisonTables(t, md, d)
	if !strings.Contains(md.html, "2 regressions") {
		t.Errorf("the summary should name the regressions:\n%s", src)
	}
	// A key whose case id is full of markdown reads back as written.
	trickyKey := ""
	for _, c := range d.Cases {
		if strings.Contains(c.Key, "tricky") {
			trickyKey = c.Key
		}
	}
	if trickyKey == "" || !strings.Contains(md.html, "/a|tricky*_&lt;b&gt;x&lt;/b&gt;`/0</code>") {
		t.Errorf("the tricky case (%q) did not come through as written:\n%s", trickyKey, md.html)
	}

	// --fail-on regression fails the run on it; wtb report --markdown
	// writes the same comparison without running anything.
	r = e.run("run", fileB, "--no-progress", "--summary", "again.md", "--baseline", a, "--fail-on", "regression")
	if r.code != 1 || !strings.Contains(r.stderr, "a significant regression against the baseline "+a+" (--fail-on regression)") {
		t.Errorf("--fail-on regression: exit %d\n%s", r.code, r.stderr)
	}
	rep := e.run("report", b, "--markdown", "-", "--baseline", a, "--fail-on", "regression")
	if rep.code != 1 {
		t.Errorf("report --fail-on regression: exit %d\n%s", rep.code, rep.stderr)
	}
	checkComparisonTables(t, renderMarkdown(t, []byte(rep.stdout)), d)
	if ok := e.run("report", a, "--markdown", "-", "--baseline", a, "--fail-on", "regression"); ok.code != 0 ||
		!strings.Contains(ok.stdout, "**✅ No regression**") {
		t.Errorf("a batch against itself: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
}

// A baseline file exported from a batch and committed gives the comparison,
// the verdict and the summary of the stored batch: figure for figure, only
// where the executions diverge is named without A's outputs. Bad baselines
// are refused before anything runs, with one line each.
func TestCommittedBaselineGivesTheSameVerdict(t *testing.T) {
	e := newEnv(t)
	fileA, fileB := summaryBench(t, e)
	a := batchID(t, e.mustRun("run", fileA, "--no-progress").stderr)
	exp := e.mustRun("export", a, "--baseline", "ci/baseline.json")
	if !strings.Contains(exp.stderr, "wrote ci/baseline.json: baseline of batch "+a+" (72 executions, 9 cases, cases ") {
		t.Errorf("export says %q", exp.stderr)
	}
	raw, err := os.ReadFile(filepath.Join(e.dir, "ci/baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkDoc(t, "baseline", string(raw))
	if again := e.mustRun("export", a, "--baseline", "-").stdout; again != string(raw) {
		t.Error("exporting the same batch twice gave other bytes")
	}
	for _, secret := range []string{e.dir, "\"state\": {", "Canberra"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the baseline holds %q: it must hold no paths of this machine, states or expected values", secret)
		}
	}

	r := e.run("run", fileB, "--no-progress", "--summary", "file.md", "--baseline", "ci/baseline.json", "--fail-on", "regression")
	if r.code != 1 {
		t.Errorf("the committed baseline's verdict: exit %d, want 1 (the stored batch's)\n%s", r.code, r.stderr)
	}
	b := batchID(t, r.stderr)
	stored := e.mustRunOK("compare", a, b, "--cases", "--format", "json")
	fromFile := e.mustRunOK("compare", "ci/baseline.json", b, "--cases", "--format", "json")
	checkDoc(t, "compare", fromFile)
	// Figure for figure: everything but where A came from, A's outputs
	// (the file has none), how a divergence is described and why there is
	// no cost delta (checked below).
	strip := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "a")
		delete(m, "baseline_file")
		for _, c := range m["cases"].([]any) {
			delete(c.(map[string]any), "output_a")
			delete(c.(map[string]any), "detail")
		}
		for _, c := range m["combinations"].([]any) {
			delete(c.(map[string]any), "cost_delta_reason")
		}
		return m
	}
	// Why there is no cost delta: the stored batch made no model
	// calls, the file records no cost (whether it did is not known).
	for name, doc := range map[string]string{"none": stored, "not_recorded_a": fromFile} {
		for _, c := range readCompareJSON(t, doc).Combinations {
			if c.CostReason == nil || *c.CostReason != name {
				got, _ := json.Marshal(c.CostReason)
				t.Errorf("%s: cost_delta_reason %s, want %s", c.Combination, got, name)
			}
		}
	}
	gs, gf := strip(stored), strip(fromFile)
	js, _ := json.Marshal(gs)
	jf, _ := json.Marshal(gf)
	if string(js) != string(jf) {
		t.Errorf("compare against the file differs from compare against the stored batch:\nstored %s\nfile   %s", js, jf)
	}
	d := readCompareJSON(t, fromFile)
	if d.BaselineFile != "ci/baseline.json" || d.Regressions != 2 {
		t.Errorf("compare FILE B: %+v", d)
	}
	src, err := os.ReadFile(filepath.Join(e.dir, "file.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := renderMarkdown(t, src)
	checkComparisonTables(t, md, d)
	if !strings.Contains(md.html, "(from <code>ci/baseline.json</code>)") || !strings.Contains(md.html, "wtb export latest --baseline ci/baseline.json") {
		t.Errorf("the summary should name the file and how to update it:\n%s", src)
	}
	text := e.mustRunOK("compare", "ci/baseline.json", b)
	if !strings.Contains(text, "from the baseline file ci/baseline.json") {
		t.Errorf("compare FILE B should say A is a file:\n%s", text)
	}

	// A newer wtb's file, with fields this one does not know at the top, in
	// the batch and in every execution, compares the same.
	newer := strings.NewReplacer(`"kind": "baseline",`, `"kind": "baseline", "cost_currency": "USD",`,
		`"id": "`+a+`"`, `"id": "`+a+`", "labels": {"team": "qa"}`,
		`{"key":`, `{"cost_usd":0.002,"key":`).Replace(string(raw))
	if strings.Count(newer, `"cost_usd"`) != 72 || !strings.Contains(newer, "cost_currency") || !strings.Contains(newer, `"labels"`) {
		t.Fatalf("the newer fields were not added:\n%s", newer)
	}
	e.write("ci/newer-fields.json", newer)
	if got := e.mustRunOK("compare", "ci/newer-fields.json", b, "--cases", "--format", "json"); strings.Replace(got, "ci/newer-fields.json", "ci/baseline.json", -1) != fromFile {
		t.Errorf("a baseline file with a newer wtb's fields compares otherwise:\n%s\n---\n%s", got, fromFile)
	}

	// Refused before anything runs, one line each.
	before := strings.Count(e.mustRun("results", "--list").stdout, "\n")
	e.write("broken.json", strings.Replace(string(raw), `"kind": "baseline"`, `"kind": "compare"`, 1))
	e.write("newer.json", strings.Replace(string(raw), `"format_version": 1`, `"format_version": 9`, 1))
	e.write("misshapen.json", strings.Replace(newer, `"status":"succeeded"`, `"status":"sucseeded"`, 1))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--baseline", "missing.json"}, "no baseline file missing.json (`wtb export BATCH --baseline missing.json"},
		{[]string{"--baseline", "broken.json"}, "broken.json is not a baseline file (its kind is \"compare\""},
		{[]string{"--baseline", "newer.json"}, "newer.json was written by a newer wtb (baseline format 9; this wtb reads 1)"},
		{[]string{"--baseline", "misshapen.json"}, "misshapen.json is not a valid baseline file: baseline document: jsonschema validation failed"},
		{[]string{"--baseline", "20990101-000000-deadbeef"}, "--baseline: no such batch: 20990101-000000-deadbeef is not in"},
		{[]string{"--fail-on", "regression"}, "--fail-on regression needs --baseline BATCH|FILE"},
		{[]string{"--fail-on", "regresion", "--baseline", a}, `unknown --fail-on "regresion": use thresholds, regression. Did you mean "regression"?`},
	} {
		r := e.run(append([]string{"run", fileB, "--no-progress"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("run %v: exit %d, want 2 and one line with %q:\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
	if after := strings.Count(e.mustRun("results", "--list").stdout, "\n"); after != before {
		t.Errorf("a refused run stored a batch (%d lines of results --list, then %d)", before, after)
	}
	if r := e.run("compare", a, "ci/baseline.json"); r.code != 2 || !strings.Contains(r.stderr, "ci/baseline.json is a baseline file: it can only be A") {
		t.Errorf("a baseline file as B: exit %d\n%s", r.code, r.stderr)
	}
}
