package jsondoc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/leaderboard"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/statediff"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

func check(t *testing.T, d any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	if err := Check(buf.Bytes()); err != nil {
		t.Errorf("%v\n%s", err, buf.String())
	}
	return buf.String()
}

func testSpec() *spec.Batch {
	return &spec.Batch{Name: "qa", Workflow: spec.Workflow{Name: "w", Nodes: []spec.Node{
		{Name: "retrieve", Kind: "command"}, {Name: "answer", Kind: "command", DependsOn: []string{"retrieve"}}}},
		Evaluators: []spec.Evaluator{{Name: "correct", Type: "equals", Weight: 1}}, Repeat: 1,
		Sensitive: []string{"sk-secret-value"}}
}

func TestEveryDocumentMatchesItsSchema(t *testing.T) {
	now := time.Now().UTC()
	rec := &store.Batch{ID: "b1", Name: "qa", Status: store.StatusCompleted, StartedAt: now, FinishedAt: &now,
		CasesHash: "sha256:" + strings.Repeat("ab", 32), GitCommit: strings.Repeat("1f", 20), GitBranch: "main", GitDirty: true}
	b := testSpec()
	failed := store.Result{ExecutionKey: "a=x/c1/0", Combination: "a=x", Status: store.ResultFailed, Error: "boom sk-secret-value",
		Logs: []store.LogLine{{Time: now, Stream: store.StreamStderr, Line: "token sk-secret-value"}}}
	check(t, VersionOf("1.2.3"))
	check(t, BatchesOf(nil))
	if out := check(t, BatchesOf([]store.Batch{*rec, {ID: "old", Status: store.StatusFailed, StartedAt: now}})); !strings.Contains(out, `"dirty": true`) ||
		!strings.Contains(out, `"git": null`) {
		t.Errorf("batches with and without a dataset version:\n%s", out)
	}
	stopping := *rec
	stopping.Status, stopping.CancelRequestedBy, stopping.CancelRequestedAt = store.StatusRunning, "wtb cancel, pid 7 on h (user u)", &now
	if out := check(t, BatchesOf([]store.Batch{stopping})); !strings.Contains(out, `"by": "wtb cancel, pid 7 on h (user u)"`) {
		t.Errorf("a batch asked to stop:\n%s", out)
	}
	sum := leaderboard.Summarize(b, []store.Result{failed, {ExecutionKey: "a=x/c2/0", Combination: "a=x", Status: store.ResultSucceeded, Success: true}})
	out := check(t, LeaderboardOf(&application.Board{Batch: rec, Spec: b, Summary: sum, Failures: []store.Result{failed}}))
	if strings.Contains(out, "sk-secret-value") {
		t.Errorf("a sensitive value reached the leaderboard:\n%s", out)
	}
	check(t, ExecutionsOf("b1", []store.Result{failed}, 1, 0, b))
	check(t, ExecutionsOf("b1", nil, 0, 0, b))
	root := &store.Checkpoint{ID: "r", Source: store.SourceRoot, State: json.RawMessage(`{"q":"capital?"}`)}
	ran := &store.Checkpoint{ID: "c1", ParentID: "r", Node: "retrieve", Position: 1, Source: store.SourceRan, SegmentKey: "other",
		State: json.RawMessage(`{"q":"capital?","docs":[{"t":"Paris"}]}`), Output: json.RawMessage(`{"docs":[{"t":"Paris"}]}`),
		Logs: []store.LogLine{{Time: now, Stream: store.StreamStderr, Line: "key=sk-secret-value"}}}
	exec := check(t, ExecutionDetailOf(&application.ExecutionView{Batch: rec, Spec: b, Result: &failed, Chain: []*store.Checkpoint{root, ran}}))
	if strings.Contains(exec, "sk-secret-value") || !strings.Contains(exec, `"$.docs"`) || !strings.Contains(exec, `"shared"`) {
		t.Errorf("execution document:\n%s", exec)
	}
	// The grid: a case with a sensitive value in its input, an output cut
	// in the middle of one.
	b.Cases = []spec.Case{{ID: "c1", Input: json.RawMessage(`{"q": "key sk-secret-value"}`), Expected: json.RawMessage(`{"a": 1}`)}}
	answer, _ := store.ParsePath("$.answer")
	grid := &application.Grid{Batch: rec, Spec: b, Combinations: []string{"a=x"}, Shown: []string{"a=x"}, Output: answer, OutputFrom: "correct", Total: 1,
		Cases: []application.GridCase{{Case: store.CaseSummary{CaseID: "c1", Executions: 1, Failed: 1}, Spec: b.Cases[0],
			Runs: map[string][]store.ResultOutput{"a=x": {{Result: failed, Output: `"the key is sk-secret-value!"`, OutputLen: 40, Found: true}}}}}}
	cases := check(t, CasesOf(grid, application.GridOptions{Limit: 25, MaxOutput: 20}))
	if strings.Contains(cases, "sk-secret") || !strings.Contains(cases, `"path": "$.answer"`) || !strings.Contains(cases, `"sort": "failed"`) {
		t.Errorf("cases document:\n%s", cases)
	}
	check(t, CasesOf(&application.Grid{Batch: rec, Spec: b}, application.GridOptions{Sort: store.CaseSortScore, ScoreOf: "a=x"}))
	mean := 0.5
	ev := &b.Evaluators[0]
	check(t, CompareOf(&application.Comparison{A: rec, B: rec, Test: application.TestT, Alpha: 0.05,
		Evaluators:   []application.EvaluatorDiff{{Name: ev.Name, Status: application.EvaluatorOnlyA, A: ev}, {Name: "w", Status: application.EvaluatorChanged, A: ev, B: ev, Changes: []string{"weight 1 → 2"}, Comparable: true}},
		Combinations: []application.ComboDelta{{Combination: "a=x", MeanA: &mean, PassA: &mean, Evaluators: []application.EvaluatorDelta{{Name: "correct", MeanA: &mean}, {Name: "w", MeanA: &mean, MeanB: &mean, Delta: &mean, Tested: true}}}},
		CaseDeltas:   []application.CaseDelta{{ExecutionKey: "k", OutputA: json.RawMessage(`{"x":1}`)}}}, b.Redactor().JSON, b.Redactor().JSON))
	check(t, AuditOf("b1", []store.AuditEntry{{Time: now, Severity: "ERROR", EventType: "execution.failed"}}))
	check(t, CacheStatsOf("sqlite://wtb.db", store.CacheStats{Entries: 3, Batches: 1, Bytes: 1024}))
	check(t, CacheClearedOf("sqlite://wtb.db", 3))
	one := 1.0
	check(t, ParityOf(&application.ParityResult{Runners: [2]string{"a", "b"}, Compared: 2, Batches: [2]*store.Batch{rec, rec},
		Outcomes: [2]*application.Outcome{{Batch: rec}, {Batch: rec}}, Diffs: []application.ParityDiff{
			{ExecutionKey: "k", Kind: application.ParityState, Detail: "final state differs", State: []statediff.Change{{Path: "$.a", Op: statediff.Changed, Before: 1, After: 2}}},
			{ExecutionKey: "k", Kind: application.ParityScores, Detail: "scores differ", Scores: []application.ScoreDifference{{Evaluator: "e", First: &one}}},
			{ExecutionKey: "k2", Kind: application.ParityFailure, Detail: "failed differently", Outcomes: [2]*application.SideOutcome{
				{Status: store.ResultFailed, FailureKind: "exit", FailedNode: "n", Error: "exit status 3"},
				{Status: store.ResultFailed, FailureKind: "timeout", FailedNode: "n"}}}}}))
	out = check(t, ParityOf(&application.ParityResult{Runners: [2]string{"a", "b"}, Batches: [2]*store.Batch{rec, rec},
		Options: application.ParityOptions{Tolerance: 0.05, IgnoreEvaluators: []string{"latency"}}}))
	if !strings.Contains(out, `"mode": "batches"`) || !strings.Contains(out, `"ignored_evaluators": [`) {
		t.Errorf("parity of stored batches:\n%s", out)
	}
	rng := hcl.Range{Filename: "bench.hcl", Start: hcl.Pos{Line: 3, Column: 5, Byte: 20}, End: hcl.Pos{Line: 3, Column: 9, Byte: 24}}
	check(t, ValidateOf("bench.hcl", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Bad", Subject: &rng}, {Severity: hcl.DiagWarning, Summary: "Hmm"}}, nil))
	check(t, ValidateOf("bench.hcl", nil, []*spec.Batch{b}))
	check(t, PlanOf(&application.PlanView{Spec: b, Counts: plan.Counts{Executions: 2, Nodes: []plan.NodeStats{{Node: "retrieve"}, {Node: "answer"}}}, FromCache: []int{0, 0}}))
	found := application.FoundPlugin{Kind: application.PluginRunner, Name: "pool", Path: "/bin/wtb-runner-pool", Info: sdk.Info{Version: "1", Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "max_workers", Type: "number", Default: 8, Description: "workers"}, {Name: "token", Type: "string", Sensitive: true, Default: "x"}}}}}
	broken := found
	broken.Err = errBroken
	check(t, Plugins{Header: header(KindPlugins), SearchPath: []string{"/bin"}, Plugins: []Plugin{PluginOf(found), PluginOf(broken)}})
	schema := check(t, PluginSchemaOf(found))
	if !strings.Contains(schema, `"default": 8`) || strings.Contains(schema, `"default": "x"`) {
		t.Errorf("plugin schema: defaults shown, sensitive ones not:\n%s", schema)
	}
}

var errBroken = &json.SyntaxError{}

// The schemas are strict: a null where a list belongs, an unknown field or a
// wrong kind fails the check.
func TestCheckRejectsWhatTheSchemaForbids(t *testing.T) {
	for name, doc := range map[string]string{
		"null list":     `{"format_version":1,"kind":"batches","batches":null}`,
		"unknown field": `{"format_version":1,"kind":"batches","batches":[],"extra":1}`,
		"unknown kind":  `{"format_version":1,"kind":"nope"}`,
		"old version":   `{"format_version":0,"kind":"batches","batches":[]}`,
		"not json":      `{`,
	} {
		if err := Check([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, kind := range Kinds {
		if _, err := Schema(kind); err != nil {
			t.Error(err)
		}
	}
}

// A baseline file matches its schema, reads back as written and is written
// the same way twice: one case and one execution a line.
func TestBaselineFile(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	b := &Baseline{FormatVersion: application.BaselineFormat, Kind: application.BaselineKind, WTBVersion: "1.2.3",
		Batch: application.BaselineBatch{ID: "b1", Name: "qa", File: "bench/qa.hcl", Status: store.StatusCompleted, Runner: "local (pool)",
			Total: 2, StartedAt: now, FinishedAt: &now, Verdict: "thresholds met", CasesHash: "sha256:" + strings.Repeat("0a", 32),
			Decisions: []store.Decision{}},
		Spec: application.BaselineSpec{Name: "qa", Nodes: []string{"retrieve", "answer"}, Repeat: 1, PassScore: 0.5,
			Combinations: []spec.Combination{{Name: "answer=x", Variants: map[string]string{"answer": "x"}}},
			Evaluators:   []spec.Evaluator{{Name: "judge", Type: "command", Command: []string{"python3", "./judge.py"}, Weight: 1, Expect: json.RawMessage(`"<a & b>"`)}},
			Thresholds:   spec.Thresholds{AppliesTo: "all"}},
		Cases: []application.BaselineCase{{ID: "c1", Digest: strings.Repeat("ab", 16)}, {ID: "c2", Digest: strings.Repeat("cd", 16)}},
		Executions: []application.BaselineResult{
			{Key: "answer=x/c1/0", Combination: "answer=x", Case: "c1", Status: store.ResultSucceeded, Passed: true, Score: 1,
				Scores: map[string]float64{"judge": 1}, DurationMs: 12.5, Nodes: []application.NodeDigest{{Node: "retrieve", State: strings.Repeat("12", 8)}}},
			{Key: "answer=x/c2/0", Combination: "answer=x", Case: "c2", Status: store.ResultFailed, Scores: map[string]float64{},
				FailedNode: "answer", Nodes: []application.NodeDigest{}},
		}}
	var first, second bytes.Buffer
	if err := WriteBaseline(&first, b); err != nil {
		t.Fatal(err)
	}
	if err := Check(first.Bytes()); err != nil {
		t.Fatalf("%v\n%s", err, first.String())
	}
	out := first.String()
	if !strings.Contains(out, "\n    {\"key\":\"answer=x/c1/0\",") || !strings.Contains(out, "\n    {\"id\":\"c2\",") || !strings.Contains(out, `"<a & b>"`) {
		t.Errorf("one execution and one case a line, no HTML escapes:\n%s", out)
	}
	back, err := application.ParseBaseline(first.Bytes(), "baseline.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteBaseline(&second, back); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("read and written again, it changed:\n%s\n---\n%s", first.String(), second.String())
	}
	for name, mangle := range map[string]func(string) string{
		"another kind":   func(s string) string { return strings.Replace(s, `"kind": "baseline"`, `"kind": "compare"`, 1) },
		"a newer format": func(s string) string { return strings.Replace(s, `"format_version": 1`, `"format_version": 2`, 1) },
		"not json":       func(s string) string { return s[:40] },
		"no batch":       func(s string) string { return strings.Replace(s, `"id": "b1"`, `"id": ""`, 1) },
	} {
		if _, err := application.ParseBaseline([]byte(mangle(out)), "baseline.json"); err == nil || !strings.Contains(err.Error(), "baseline.json") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A baseline file written by a newer wtb with fields this one does not know
// (at the top, in the batch, in an execution) still reads and checks, as the
// same baseline; a field this wtb knows with a shape its schema refuses is
// refused even among unknown ones. What wtb prints is still held to its
// schema exactly.
func TestBaselineFileWithNewerFields(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	b := &Baseline{FormatVersion: application.BaselineFormat, Kind: application.BaselineKind, WTBVersion: "1.2.3",
		Batch: application.BaselineBatch{ID: "b1", Name: "qa", File: "qa.hcl", Status: store.StatusCompleted, Runner: "local (pool)",
			Total: 1, StartedAt: now, FinishedAt: &now, Verdict: "thresholds met", Decisions: []store.Decision{}},
		Spec: application.BaselineSpec{Name: "qa", Nodes: []string{"answer"}, Repeat: 1, PassScore: 0.5,
			Combinations: []spec.Combination{{Name: "answer=x", Variants: map[string]string{"answer": "x"}}},
			Evaluators:   []spec.Evaluator{{Name: "exact", Type: "exact_match", Weight: 1}},
			Thresholds:   spec.Thresholds{AppliesTo: "all"}},
		Cases: []application.BaselineCase{{ID: "c1", Digest: strings.Repeat("ab", 16)}},
		Executions: []application.BaselineResult{{Key: "answer=x/c1/0", Combination: "answer=x", Case: "c1", Status: store.ResultSucceeded,
			Passed: true, Score: 1, Scores: map[string]float64{"exact": 1}, DurationMs: 3, Nodes: []application.NodeDigest{}}}}
	var buf bytes.Buffer
	if err := WriteBaseline(&buf, b); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	newer := strings.NewReplacer(
		`"wtb_version": "1.2.3"`, `"wtb_version": "1.2.3", "cost_currency": "USD"`,
		`"id": "b1"`, `"id": "b1", "labels": {"team": "qa"}`,
		`{"key":"answer=x/c1/0",`, `{"key":"answer=x/c1/0","cost_usd":0.002,`,
	).Replace(out)
	if newer == out || strings.Count(newer, "cost_") != 2 || !strings.Contains(newer, `"labels"`) {
		t.Fatalf("the test's replacements missed:\n%s", out)
	}
	if err := Check([]byte(newer)); err == nil {
		t.Error("Check (what wtb prints is held to) accepted fields the schema does not name")
	}
	if err := CheckReadable([]byte(newer)); err != nil {
		t.Errorf("a newer wtb's fields: %v", err)
	}
	back, err := application.ParseBaseline([]byte(newer), "baseline.json")
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteBaseline(&again, back); err != nil {
		t.Fatal(err)
	}
	if again.String() != out {
		t.Errorf("read past the newer fields, it is another baseline:\n%s\n---\n%s", again.String(), out)
	}
	for name, bad := range map[string]string{
		"a status it does not know": strings.Replace(newer, `"status":"succeeded"`, `"status":"sucseeded"`, 1),
		"a required field missing":  strings.Replace(newer, `"case":"c1",`, ``, 1),
	} {
		if bad == newer {
			t.Fatalf("%s: the replacement missed", name)
		}
		if err := CheckReadable([]byte(bad)); err == nil {
			t.Errorf("%s among unknown fields: accepted", name)
		}
	}
}

// A page of a node run's spans matches its schema, says where the next one
// starts (none after the last), and the execution document counts them all.
func TestSpanPage(t *testing.T) {
	now := time.Now().UTC()
	rec := &store.Batch{ID: "b1", Name: "qa", Status: store.StatusCompleted, StartedAt: now}
	res := &store.Result{ExecutionKey: "a=x/c1/0", Combination: "a=x", Status: store.ResultSucceeded, Success: true}
	spans, _ := json.Marshal([]sdk.Span{{SpanID: "01", Name: "root", Start: now, End: now.Add(time.Second), Source: sdk.SpanSourceWTB},
		{SpanID: "02", ParentID: "01", Name: "a", Start: now, End: now}, {SpanID: "03", ParentID: "01", Name: "b", Start: now.Add(time.Millisecond), End: now}})
	d := ExecutionDetailOf(&application.ExecutionView{Batch: rec, Spec: testSpec(), Result: res,
		Spans: []store.NodeSpans{{RunID: "cp", Node: "answer", Spans: spans, Dropped: 4}}})
	if n := d.Nodes[1]; n.SpansTotal != 3 || len(n.Spans) != 3 {
		t.Fatalf("node answer: %d spans, spans_total %d", len(n.Spans), n.SpansTotal)
	}
	check(t, d)
	p, ok := SpanPageOf(d, "answer", 1, 1)
	if out := check(t, p); !ok || p.Total != 3 || p.Dropped != 4 || len(p.Spans) != 1 || p.Spans[0].Name != "a" || p.NextOffset == nil || *p.NextOffset != 2 ||
		!strings.Contains(out, `"kind": "spans"`) {
		t.Errorf("page at 1 of 1: %s", out)
	}
	if p, _ = SpanPageOf(d, "answer", 2, 5); len(p.Spans) != 1 || p.NextOffset != nil {
		t.Errorf("the last page: %+v", p)
	}
	if out := check(t, p); !strings.Contains(out, `"next_offset": null`) {
		t.Errorf("the last page: %s", out)
	}
	if p, _ = SpanPageOf(d, "answer", 9, 5); len(p.Spans) != 0 || p.NextOffset != nil {
		t.Errorf("past the end: %+v", p)
	}
	if _, ok := SpanPageOf(d, "nope", 0, 5); ok {
		t.Error("a page of a node the workflow does not have")
	}
}
