package viewer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
	"github.com/wtbench/wtb/host/internal/viewer"
	"github.com/wtbench/wtb/sdk"
)

// seedSpans stores a one-execution batch whose node run kept n spans (the
// receiver's bound is 2,000), shaped as an instrumented agent's: its own
// span, an agent span, then turns of a model call, a tool and an HTTP call
// inside the tool, each with the attributes instrumentations record.
func seedSpans(tb testing.TB, n int) (store.Store, string, string) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "spans.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	b := &spec.Batch{Name: "spans", Repeat: 1, Workflow: spec.Workflow{Name: "w", Nodes: []spec.Node{{Name: "agent", Kind: "merge"}}},
		Combinations: []spec.Combination{{Name: "", Variants: map[string]string{}}},
		Cases:        []spec.Case{{ID: "c", Input: json.RawMessage(`{}`)}}}
	raw, _ := json.Marshal(b)
	now := time.Now().UTC()
	rec := &store.Batch{ID: "spans", Name: "spans", Status: store.StatusCompleted, Spec: raw, Runner: "pool", Total: 1, CreatedAt: now, StartedAt: now}
	if err := st.Batches().Create(ctx, rec); err != nil {
		tb.Fatal(err)
	}
	g := plan.NewPlanner(b, plan.Options{BatchID: rec.ID, FileHasher: plan.StoredHashes(b.FileHashes)}).Group(0)
	ex := g.Executions[0]
	step := ex.Steps[len(ex.Steps)-1]
	trace := strings.Repeat("ab", 16)
	id := func(i int) string { return fmt.Sprintf("%016x", i+1) }
	at := func(ms float64) time.Time { return now.Add(time.Duration(ms * float64(time.Millisecond))) }
	spans := []sdk.Span{
		{TraceID: trace, SpanID: id(0), Name: "agent", Start: at(0), End: at(float64(n)), Status: "ok", Source: sdk.SpanSourceWTB},
		{TraceID: trace, SpanID: id(1), ParentID: id(0), Name: "agent", Start: at(0.5), End: at(float64(n) - 0.5), Status: "ok", Source: sdk.SpanSourceNode},
	}
	for i := 2; len(spans) < n; i += 3 {
		t := float64(i)
		spans = append(spans, sdk.Span{TraceID: trace, SpanID: id(i), ParentID: id(1), Name: "chat gpt-4o-mini", Kind: "client", Start: at(t), End: at(t + 1),
			Status: "ok", Source: sdk.SpanSourceNode, Attributes: json.RawMessage(`{"gen_ai.operation.name":"chat","gen_ai.request.model":"gpt-4o-mini",` +
				`"gen_ai.response.model":"gpt-4o-mini-2024-07-18","gen_ai.usage.input_tokens":812,"gen_ai.usage.output_tokens":64,"server.address":"127.0.0.1"}`)})
		if len(spans) < n {
			spans = append(spans, sdk.Span{TraceID: trace, SpanID: id(i + 1), ParentID: id(1), Name: "execute_tool lookup", Start: at(t + 1), End: at(t + 2.5),
				Status: "ok", Source: sdk.SpanSourceNode, Attributes: json.RawMessage(fmt.Sprintf(`{"gen_ai.operation.name":"execute_tool","gen_ai.tool.name":"lookup",`+
					`"gen_ai.tool.call.arguments":"{\"city\": \"city %d\"}","gen_ai.tool.call.result":"sunny, 21 C"}`, i))})
		}
		if len(spans) < n {
			status, msg := "ok", ""
			if i%30 == 2 {
				status, msg = "error", "connection reset by peer"
			}
			spans = append(spans, sdk.Span{TraceID: trace, SpanID: id(i + 2), ParentID: id(i + 1), Name: "GET /weather", Kind: "client", Start: at(t + 1.2), End: at(t + 2.2),
				Status: status, StatusMessage: msg, Source: sdk.SpanSourceNode, Attributes: json.RawMessage(`{"http.request.method":"GET","http.response.status_code":200,"url.full":"http://127.0.0.1:9/weather"}`)})
		}
	}
	list, _ := json.Marshal(spans)
	root := store.Checkpoint{ID: g.RootID, BatchID: rec.ID, Source: store.SourceRoot, State: json.RawMessage(`{}`), CreatedAt: now}
	cp := store.Checkpoint{ID: step.ID, BatchID: rec.ID, ParentID: g.RootID, Node: "agent", Position: 1, Source: store.SourceRan, SegmentKey: ex.Key,
		State: json.RawMessage(`{"done":true}`), Output: json.RawMessage(`{"done":true}`), CreatedAt: now}
	res := store.Result{BatchID: rec.ID, ExecutionKey: ex.Key, ExecutionID: ex.Key, Combination: "", Variants: map[string]string{}, CaseID: "c",
		Status: store.ResultSucceeded, Success: true, Scores: map[string]float64{}, OverallScore: 1, Passed: true, Attempts: 1, FinalCheckpointID: step.ID, CreatedAt: now}
	err = st.Write(ctx, store.WriteSet{Checkpoints: []store.Checkpoint{root, cp}, Results: []store.Result{res},
		Spans: []store.NodeSpans{{BatchID: rec.ID, RunID: step.ID, Node: "agent", ExecutionKey: ex.Key, Outcome: store.OutcomeRan, Spans: list, Dropped: 17, CreatedAt: now}}})
	if err != nil {
		tb.Fatal(err)
	}
	return st, rec.ID, ex.Key
}

func executionURL(base, id, key string) string {
	var parts []string
	for _, p := range strings.Split(key, "/") {
		parts = append(parts, url.PathEscape(p))
	}
	return base + "/api/batches/" + id + "/executions/" + strings.Join(parts, "/")
}

// The execution document the viewer draws carries the first page of a node
// run's 2,000 spans in tree order with their start times, how many it kept
// and what was dropped; the spans endpoint serves the rest a page at a time,
// in the same order, and refuses a bad page saying why.
func TestExecutionPageCarriesTheSpans(t *testing.T) {
	st, id, key := seedSpans(t, 2000)
	srv := httptest.NewServer((&viewer.Server{Store: st}).Handler())
	defer srv.Close()
	var d jsondoc.ExecutionDetail
	if code := get(t, executionURL(srv.URL, id, key), &d); code != 200 {
		t.Fatalf("status %d", code)
	}
	n := d.Nodes[0]
	if len(n.Spans) != viewer.SpansPage || n.SpansTotal != 2000 || n.SpansDropped != 17 || n.Spans[0].Depth != 0 || n.Spans[1].Depth != 1 || n.Spans[4].Depth != 3 {
		t.Fatalf("%d spans of %d, %d dropped, depths %d %d %d", len(n.Spans), n.SpansTotal, n.SpansDropped, n.Spans[0].Depth, n.Spans[1].Depth, n.Spans[4].Depth)
	}
	if n.Spans[2].Start.Sub(n.Spans[0].Start) != 2*time.Millisecond || n.Spans[2].OffsetMs != 2 {
		t.Errorf("span 2 starts at %v (offset %v ms) after %v", n.Spans[2].Start, n.Spans[2].OffsetMs, n.Spans[0].Start)
	}
	// Every page, end to end, is the whole tree in order.
	spansURL := srv.URL + "/api/batches/" + id + "/spans?execution=" + url.QueryEscape(key) + "&node=agent"
	var all []jsondoc.Span
	next := 0
	for pages := 0; ; pages++ {
		var p jsondoc.SpanPage
		if code := get(t, fmt.Sprintf("%s&offset=%d&limit=700", spansURL, next), &p); code != 200 || p.Kind != jsondoc.KindSpans || p.Total != 2000 || p.Dropped != 17 {
			t.Fatalf("page at %d: status %d, %+v", next, code, p.Header)
		}
		all = append(all, p.Spans...)
		if p.NextOffset == nil {
			if pages != 2 {
				t.Errorf("%d pages of 700, want 3", pages+1)
			}
			break
		}
		next = *p.NextOffset
	}
	if len(all) != 2000 {
		t.Fatalf("the pages hold %d spans, want 2000", len(all))
	}
	for i := range n.Spans {
		if all[i].SpanID != n.Spans[i].SpanID {
			t.Fatalf("span %d: %s in the pages, %s in the execution document", i, all[i].SpanID, n.Spans[i].SpanID)
		}
	}
	seen := map[string]bool{}
	for i, sp := range all {
		if seen[sp.SpanID] || (sp.ParentID != "" && i > 0 && !seen[sp.ParentID]) {
			t.Fatalf("span %d (%s): twice, or before its parent", i, sp.SpanID)
		}
		seen[sp.SpanID] = true
	}
	base := srv.URL + "/api/batches/" + id + "/spans?"
	ok := "execution=" + url.QueryEscape(key) + "&node=agent"
	for q, want := range map[string]string{
		ok + "&limit=0":   "limit must be a whole number from 1 to 2000",
		ok + "&offset=-1": "offset must be a whole number",
		ok + "&limit=x":   "limit must be a whole number",
		"execution=" + url.QueryEscape(key) + "&node=nope": `has no node \"nope\"`,
		"node=agent":                 "spans needs ?execution=KEY",
		"execution=x%2Fy&node=agent": "x/y",
	} {
		resp, err := http.Get(base + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || !strings.Contains(string(body), want) {
			t.Errorf("spans?%s: %d %.300s, want an error saying %q", q, resp.StatusCode, body, want)
		}
	}
}

// BenchmarkExecutionPage2000Spans serves the execution page of a node run
// with 2,000 spans (the receiver's bound): reading them, placing them in a
// tree and writing the document the viewer draws from.
func BenchmarkExecutionPage2000Spans(b *testing.B) {
	st, id, key := seedSpans(b, 2000)
	srv := httptest.NewServer((&viewer.Server{Store: st}).Handler())
	defer srv.Close()
	u := executionURL(srv.URL, id, key)
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		size = n
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
	b.ReportMetric(float64(size)/1e6, "MB/page")
}
