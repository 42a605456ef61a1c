package viewer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/metrics"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/open"
	"github.com/wtbench/wtb/host/internal/store/postgres/pgtest"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
	"github.com/wtbench/wtb/host/internal/viewer"
)

// seed stores a finished batch of n executions over 10 combinations, each
// with a two-node checkpoint chain, the way a run leaves them.
func seed(tb testing.TB, n int, status string) (store.Store, string) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "view.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st, seedInto(tb, st, n, status)
}

func seedInto(tb testing.TB, st store.Store, n int, status string) string {
	tb.Helper()
	ctx := context.Background()
	b := &spec.Batch{Name: "big", Repeat: 1, Workflow: spec.Workflow{Name: "w", Nodes: []spec.Node{{Name: "a", Kind: "merge"}, {Name: "b", Kind: "merge", DependsOn: []string{"a"}}}},
		Evaluators: []spec.Evaluator{{Name: "e", Type: "equals", Weight: 1}}}
	for i := 0; i < 10; i++ {
		b.Combinations = append(b.Combinations, spec.Combination{Name: fmt.Sprintf("b=v%d", i), Variants: map[string]string{"b": fmt.Sprintf("v%d", i)}})
	}
	for i := 0; i < n/10; i++ {
		b.Cases = append(b.Cases, spec.Case{ID: fmt.Sprintf("c%06d", i), Input: json.RawMessage(`{}`)})
	}
	raw, _ := json.Marshal(b)
	now := time.Now().UTC()
	rec := &store.Batch{ID: "big", Name: "big", Status: store.StatusRunning, Spec: raw, Runner: "pool", Total: n, CreatedAt: now, StartedAt: now}
	if err := st.Batches().Create(ctx, rec); err != nil {
		tb.Fatal(err)
	}
	var ws store.WriteSet
	flush := func() {
		if err := st.Write(ctx, ws); err != nil {
			tb.Fatal(err)
		}
		ws = store.WriteSet{}
	}
	for i := 0; i < n; i++ {
		combo, kase := b.Combinations[i%10], b.Cases[i/10]
		key := spec.ExecutionKey(combo.Name, kase.ID, 0)
		root, a, last := "root-"+kase.ID, "a-"+kase.ID, "b-"+key
		if i%10 == 0 {
			ws.Checkpoints = append(ws.Checkpoints,
				store.Checkpoint{ID: root, BatchID: "big", Source: store.SourceRoot, State: json.RawMessage(`{}`), CreatedAt: now},
				store.Checkpoint{ID: a, BatchID: "big", ParentID: root, Node: "a", Position: 1, Source: store.SourceRan, SegmentKey: key,
					State: json.RawMessage(`{"doc":{"n":1}}`), Output: json.RawMessage(`{"doc":{"n":1}}`), CreatedAt: now})
		}
		ws.Checkpoints = append(ws.Checkpoints, store.Checkpoint{ID: last, BatchID: "big", ParentID: a, Node: "b", Position: 2, Variant: combo.Variants["b"],
			Source: store.SourceRan, SegmentKey: key, State: json.RawMessage(`{"doc":{"n":2}}`), Output: json.RawMessage(`{"doc":{"n":2}}`), CreatedAt: now})
		score := float64(i%7) / 6
		r := store.Result{BatchID: "big", ExecutionKey: key, ExecutionID: key, Combination: combo.Name, Variants: combo.Variants, CaseID: kase.ID,
			Status: store.ResultSucceeded, Success: true, Scores: map[string]float64{"e": score}, OverallScore: score, Passed: score >= 0.5,
			DurationMs: float64(i % 100), Attempts: 1, FinalCheckpointID: last, CreatedAt: now}
		if i%97 == 0 {
			r.Status, r.Success, r.Error = store.ResultFailed, false, "boom"
		}
		ws.Results = append(ws.Results, r)
		if len(ws.Results) == 4000 {
			flush()
		}
	}
	flush()
	if status != store.StatusRunning {
		// Finish it the way a run does: the summary stored with the status.
		srv := httptest.NewServer((&viewer.Server{Store: st}).Handler())
		defer srv.Close()
		var board jsondoc.Leaderboard
		get(tb, srv.URL+"/api/batches/big", &board)
		raw, _ := json.Marshal(board.Summary)
		if err := st.Batches().SetStatus(ctx, "big", status, &now, raw); err != nil {
			tb.Fatal(err)
		}
	}
	return key0()
}

func key0() string { return spec.ExecutionKey("b=v3", "c000007", 0) }

func get(tb testing.TB, u string, into any) int {
	tb.Helper()
	resp, err := http.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(body, into); err != nil {
			tb.Fatalf("%s: %v\n%s", u, err, body)
		}
	}
	return resp.StatusCode
}

func TestAPIServesDocumentsAndFilters(t *testing.T) {
	st, key := seed(t, 2000, store.StatusCompleted)
	testAPI(t, st, key)
}

func TestAPIOnPostgreSQL(t *testing.T) {
	direct, _ := pgtest.Database(t)
	st, err := open.Open(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testAPI(t, st, seedInto(t, st, 2000, store.StatusCompleted))
}

func testAPI(t *testing.T, st store.Store, key string) {
	srv := httptest.NewServer((&viewer.Server{Store: st}).Handler())
	defer srv.Close()
	for _, path := range []string{"/api/batches", "/api/batches/big", "/api/batches/latest/executions?status=failed",
		"/api/batches/big/executions/" + url.PathEscape(key), "/api/batches/big/audit", "/api/compare?a=big&b=big",
		"/api/batches/big/cases", "/api/batches/big/cases?sort=score&score_of=b%3Dv3&desc=1&col=b%3Dv3&col=b%3Dv1&q=C00001&offset=1&limit=5&output=%24.doc"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || jsondoc.Check(body) != nil {
			t.Errorf("%s: %d %v\n%.300s", path, resp.StatusCode, jsondoc.Check(body), body)
		}
	}
	var page jsondoc.Executions
	get(t, srv.URL+"/api/batches/big/executions?combination=b%3Dv3&min=0.5&offset=10&limit=5", &page)
	if page.Total == 0 || len(page.Executions) != 5 || page.Offset != 10 {
		t.Fatalf("filtered page: total %d, %d rows, offset %d", page.Total, len(page.Executions), page.Offset)
	}
	for _, r := range page.Executions {
		if r.Combination != "b=v3" || r.OverallScore < 0.5 {
			t.Errorf("row outside the filter: %+v", r)
		}
	}
	for path, want := range map[string]int{
		"/api/batches/nope":                           404,
		"/api/batches/big/executions/no%2Fsuch%2Fkey": 404,
		"/api/batches/big/executions?status=maybe":    400,
		"/api/batches/big/executions?min=high":        400,
		"/api/batches/big/executions?limit=-1":        400,
		"/api/compare?a=big":                          400,
		"/api/batches/big/cases?sort=nope":            400,
		"/api/batches/big/executions?sort=nope":       400,
		"/api/batches/big/cases?sort=score":           400,
		"/api/batches/big/cases?col=nope":             400,
		"/api/batches/big/cases?output=answer":        400,
		"/api/batches/big/cases?desc=maybe":           400,
		"/api/batches/nope/cases":                     404,
		"/assets/app.js":                              200,
		"/":                                           200,
	} {
		if got := get(t, srv.URL+path, nil); got != want {
			t.Errorf("%s: %d, want %d", path, got, want)
		}
	}
	// A page of the grid: cases searched in the database, sorted by one
	// combination's score, the columns asked for.
	var grid jsondoc.Cases
	get(t, srv.URL+"/api/batches/big/cases?sort=score&score_of=b%3Dv3&col=b%3Dv3&col=b%3Dv1&q=C00001&limit=3&output=%24.doc", &grid)
	if grid.Total != 10 || len(grid.Cases) != 3 || strings.Join(grid.Shown, " ") != "b=v3 b=v1" || grid.Output.Path != "$.doc" {
		t.Fatalf("grid: total %d, %d cases, shown %v, output %+v", grid.Total, len(grid.Cases), grid.Shown, grid.Output)
	}
	prev := -1.0
	for _, c := range grid.Cases {
		if !strings.HasPrefix(c.CaseID, "c00001") || len(c.Cells) != 2 || c.Cells[0].Combination != "b=v3" || len(c.Cells[0].Runs) != 1 {
			t.Fatalf("grid row %+v", c)
		}
		run := c.Cells[0].Runs[0]
		if run.Status == "succeeded" && run.Output.Text != `{"n":2}` {
			t.Errorf("%s: output %+v", run.ExecutionKey, run.Output)
		}
		if *c.Cells[0].MeanScore < prev {
			t.Errorf("not sorted by b=v3's score: %v after %v", *c.Cells[0].MeanScore, prev)
		}
		prev = *c.Cells[0].MeanScore
	}
	resp, _ := http.Get(srv.URL + "/")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("no CSP: %q", csp)
	}
	resp.Body.Close()
}

// BenchmarkPages100k serves the pages of a 100,000-execution batch, finished
// and still running (where the leaderboard is computed from every result).
func BenchmarkPages100k(b *testing.B) {
	for _, status := range []string{store.StatusCompleted, store.StatusRunning} {
		st, key := seed(b, 100000, status)
		srv := httptest.NewServer((&viewer.Server{Store: st}).Handler())
		for name, path := range map[string]string{
			"batches":             "/api/batches",
			"leaderboard":         "/api/batches/big",
			"executions_first":    "/api/batches/big/executions?limit=50",
			"executions_deep":     "/api/batches/big/executions?offset=90000&limit=50",
			"executions_filtered": "/api/batches/big/executions?combination=b%3Dv7&min=0.5&limit=50",
			"execution":           "/api/batches/big/executions/" + url.PathEscape(key),
		} {
			b.Run(status+"/"+name, func(b *testing.B) {
				for b.Loop() {
					if code := get(b, srv.URL+path, nil); code != 200 {
						b.Fatalf("%s: %d", path, code)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
			})
		}
		srv.Close()
	}
}

func TestViewServesMetrics(t *testing.T) {
	st, _ := seed(t, 200, store.StatusRunning)
	srv := httptest.NewServer((&viewer.Server{Store: st, Metrics: metrics.New()}).Handler())
	defer srv.Close()
	get(t, srv.URL+"/api/batches/big", nil)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`wtb_store_batches{status="interrupted"} 1`, `wtb_store_batch_executions_stored{batch="big",name="big"} 200`,
		`wtb_view_requests_total{code="200",route="/api/batches/{id}"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// seedGrid stores a finished batch the grid's benchmark reads: combos
// combinations × cases cases × repeats repeats, each execution with its own
// final checkpoint holding a question and an answer, a tenth of them failing.
func seedGrid(tb testing.TB, st store.Store, combos, cases, repeats int) {
	tb.Helper()
	ctx := context.Background()
	b := &spec.Batch{Name: "grid", Repeat: repeats, PassScore: 0.5, Workflow: spec.Workflow{Name: "w", Nodes: []spec.Node{{Name: "answer", Kind: "command"}}},
		Evaluators: []spec.Evaluator{{Name: "correct", Type: "json_path_equals", Path: "$.answer", Expect: json.RawMessage(`"$.expected.answer"`), Weight: 1}}}
	for i := 0; i < combos; i++ {
		b.Combinations = append(b.Combinations, spec.Combination{Name: fmt.Sprintf("answer=v%d", i), Variants: map[string]string{"answer": fmt.Sprintf("v%d", i)}})
	}
	for i := 0; i < cases; i++ {
		b.Cases = append(b.Cases, spec.Case{ID: fmt.Sprintf("case-%05d", i), Input: json.RawMessage(fmt.Sprintf(`{"question":"What is %d times 7?"}`, i)),
			Expected: json.RawMessage(fmt.Sprintf(`{"answer":"%d"}`, 7*i))})
	}
	raw, _ := json.Marshal(b)
	now := time.Now().UTC()
	rec := &store.Batch{ID: "grid", Name: "grid", Status: store.StatusRunning, Spec: raw, Runner: "pool", Total: b.Total(), CreatedAt: now, StartedAt: now}
	if err := st.Batches().Create(ctx, rec); err != nil {
		tb.Fatal(err)
	}
	var ws store.WriteSet
	flush := func() {
		if err := st.Write(ctx, ws); err != nil {
			tb.Fatal(err)
		}
		ws = store.WriteSet{}
	}
	for ci, c := range b.Cases {
		for _, combo := range b.Combinations {
			for r := 0; r < repeats; r++ {
				key := spec.ExecutionKey(combo.Name, c.ID, r)
				answer, score := fmt.Sprint(7*ci), 1.0
				if (ci+r)%10 == 3 && combo.Name != "answer=v0" {
					answer, score = "I do not know", 0
				}
				state := fmt.Sprintf(`{"question":"What is %d times 7?","answer":%q,"passages":["%d is a number","multiplying by 7"]}`, ci, answer, ci)
				ws.Checkpoints = append(ws.Checkpoints, store.Checkpoint{ID: "cp-" + key, BatchID: "grid", Node: "answer", Position: 1, Source: store.SourceRan,
					SegmentKey: key, State: json.RawMessage(state), Output: json.RawMessage(fmt.Sprintf(`{"answer":%q}`, answer)), CreatedAt: now})
				res := store.Result{BatchID: "grid", ExecutionKey: key, ExecutionID: key, Combination: combo.Name, Variants: combo.Variants, CaseID: c.ID,
					Repeat: r, Status: store.ResultSucceeded, Success: true, Scores: map[string]float64{"correct": score}, OverallScore: score,
					Passed: score >= 0.5, DurationMs: float64(ci % 100), Attempts: 1, FinalCheckpointID: "cp-" + key, CreatedAt: now}
				if score == 0 {
					res.Notes = map[string]string{"correct": fmt.Sprintf(`got "I do not know", want "%d"`, 7*ci)}
				}
				ws.Results = append(ws.Results, res)
				if len(ws.Results) == 4000 {
					flush()
				}
			}
		}
	}
	flush()
	if err := st.Batches().SetStatus(ctx, "grid", store.StatusCompleted, &now, nil); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkGrid100k serves pages of the case × combination grid of a batch
// of 2 combinations × 10,000 cases × 5 repeats (100,000 executions), on
// SQLite and, with WTB_TEST_POSTGRES_URL, on PostgreSQL.
func BenchmarkGrid100k(b *testing.B) {
	stores := map[string]func() store.Store{
		"sqlite": func() store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "grid.db"))
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	if os.Getenv("WTB_TEST_POSTGRES_URL") != "" {
		stores["postgres"] = func() store.Store {
			direct, _ := pgtest.Database(b)
			st, err := open.Open(context.Background(), direct)
			if err != nil {
				b.Fatal(err)
			}
			return st
		}
	}
	for _, name := range []string{"sqlite", "postgres"} {
		mk, ok := stores[name]
		if !ok {
			continue
		}
		st := mk()
		seedGrid(b, st, 2, 10000, 5)
		srv := httptest.NewServer((&viewer.Server{Store: st}).Handler())
		for _, page := range []struct{ name, path string }{
			{"first_page", "/api/batches/grid/cases"},
			{"last_page", "/api/batches/grid/cases?offset=9975"},
			{"by_score", "/api/batches/grid/cases?sort=score&score_of=answer%3Dv1"},
			{"search_output", "/api/batches/grid/cases?q=do+not+know+x"},
			{"search_input", "/api/batches/grid/cases?q=is+4242+times"},
			{"one_column", "/api/batches/grid/cases?col=answer%3Dv1"},
			{"executions_page", "/api/batches/grid/executions?limit=50"},
		} {
			b.Run(name+"/"+page.name, func(b *testing.B) {
				for b.Loop() {
					if code := get(b, srv.URL+page.path, nil); code != 200 {
						b.Fatalf("%s: %d", page.path, code)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
			})
		}
		srv.Close()
		st.Close()
	}
}
