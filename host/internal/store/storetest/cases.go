package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// seedGrid stores a batch of 3 combinations × 6 cases × 2 repeats, each
// execution with a final checkpoint whose state has an answer. Case c<i>
// fails i executions of combination a=x (of 2) and, for i ≥ 3, one of a=y;
// a=z never ran c5. Answers name the case and combination ("Paris c3 a=y"),
// except c4, whose answers say "50% sure".
func seedGrid(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := st.Batches().Create(ctx, NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	// Another batch with the same cases must not show up.
	if err := st.Batches().Create(ctx, NewBatch("other")); err != nil {
		t.Fatal(err)
	}
	var ws store.WriteSet
	now := time.Now().UTC()
	for ci := 0; ci < 6; ci++ {
		kase := fmt.Sprintf("c%d", ci)
		for _, combo := range []string{"a=x", "a=y", "a=z"} {
			if combo == "a=z" && ci == 5 {
				continue
			}
			for rep := 0; rep < 2; rep++ {
				key := fmt.Sprintf("%s/%s/%d", combo, kase, rep)
				answer := "Paris " + kase + " " + combo
				if ci == 4 {
					answer = "50% sure"
				}
				state, _ := json.Marshal(map[string]any{"answer": answer, "meta": map[string]any{"n": ci, "tags": []string{"t" + kase}}})
				cp := store.Checkpoint{ID: "cp-" + key, BatchID: "b", Node: "answer", Position: 1, Source: store.SourceRan,
					State: state, Output: json.RawMessage(`{"answer":"` + answer + `"}`), CreatedAt: now}
				r := NewResult("b", key)
				r.Combination, r.CaseID, r.Repeat, r.FinalCheckpointID = combo, kase, rep, cp.ID
				r.OverallScore = float64(ci+1) / 10
				if combo == "a=y" {
					r.OverallScore = 1 - float64(ci)/10
				}
				failed := (combo == "a=x" && rep < min(ci, 2)) || (combo == "a=y" && ci >= 3 && rep == 0)
				r.Passed = !failed
				r.Notes = map[string]string{"correct": "note " + key}
				ws.Checkpoints = append(ws.Checkpoints, cp)
				ws.Results = append(ws.Results, r)
				other := r
				other.BatchID, other.FinalCheckpointID = "other", ""
				ws.Results = append(ws.Results, other)
			}
		}
	}
	if err := st.Write(ctx, ws); err != nil {
		t.Fatal(err)
	}
}

// Cases pages a batch by case in the database: failures first, sorted,
// restricted to some combinations, searched in ids and outputs.
func testCasesQuery(t *testing.T, st store.Store) {
	seedGrid(t, st)
	ctx := context.Background()
	page := func(rows []store.CaseSummary) string {
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s:%d/%d", r.CaseID, r.Failed, r.Executions))
		}
		return strings.Join(out, " ")
	}
	answer, _ := store.ParsePath("$.answer")
	for name, c := range map[string]struct {
		q     store.CaseQuery
		total int
		page  string
	}{
		// c3, c4, c5 fail 2 of a=x and 1 of a=y; c2 2; c1 1.
		"failures first":    {store.CaseQuery{}, 6, "c3:3/6 c4:3/6 c5:3/4 c2:2/6 c1:1/6 c0:0/6"},
		"a page":            {store.CaseQuery{Offset: 2, Limit: 2}, 6, "c5:3/4 c2:2/6"},
		"past the end":      {store.CaseQuery{Offset: 10, Limit: 2}, 6, ""},
		"fewest failures":   {store.CaseQuery{Sort: store.CaseSortFailed}, 6, "c0:0/6 c1:1/6 c2:2/6 c3:3/6 c4:3/6 c5:3/4"},
		"by id, descending": {store.CaseQuery{Sort: store.CaseSortID, Desc: true, Limit: 3}, 6, "c5:3/4 c4:3/6 c3:3/6"},
		// a=z scores c<i> (i+1)/10 and never ran c5: it comes last both ways.
		"by a=z's score":  {store.CaseQuery{Sort: store.CaseSortScore, ScoreOf: "a=z", Desc: true}, 6, "c4:3/6 c3:3/6 c2:2/6 c1:1/6 c0:0/6 c5:3/4"},
		"a=z ascending":   {store.CaseQuery{Sort: store.CaseSortScore, ScoreOf: "a=z"}, 6, "c0:0/6 c1:1/6 c2:2/6 c3:3/6 c4:3/6 c5:3/4"},
		"a=y's score":     {store.CaseQuery{Sort: store.CaseSortScore, ScoreOf: "a=y", Limit: 2}, 6, "c5:3/4 c4:3/6"},
		"only a=y, a=z":   {store.CaseQuery{Combinations: []string{"a=y", "a=z"}}, 6, "c3:1/4 c4:1/4 c5:1/2 c0:0/4 c1:0/4 c2:0/4"},
		"no combinations": {store.CaseQuery{Combinations: []string{}}, 0, ""},
		// Search: ids the caller matched, or outputs, ignoring case.
		"an output":          {store.CaseQuery{Search: "PARIS C2", Output: answer}, 1, "c2:2/6"},
		"an id, or output":   {store.CaseQuery{Search: "c1 a=z", SearchCases: []string{"c0"}, Output: answer}, 2, "c1:1/6 c0:0/6"},
		"only shown outputs": {store.CaseQuery{Search: "c1 a=z", Combinations: []string{"a=x"}, Output: answer}, 0, ""},
		"% is a character":   {store.CaseQuery{Search: "%", Output: answer}, 1, "c4:3/6"},
		"_ is a character":   {store.CaseQuery{Search: "c_ a", Output: answer}, 0, ""},
		"a nested path":      {store.CaseQuery{Search: `"tc3"`, Output: mustPath(t, "$.meta.tags[0]")}, 1, "c3:3/6"},
		"the node's output":  {store.CaseQuery{Search: `paris c5 a=x"}`}, 1, "c5:3/4"},
		"nothing matches":    {store.CaseQuery{Search: "Lyon", Output: answer, Offset: 25}, 0, ""},
	} {
		rows, total, err := st.Results().Cases(ctx, "b", c.q)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if total != c.total || page(rows) != c.page {
			t.Errorf("%s: %q of %d, want %q of %d", name, page(rows), total, c.page, c.total)
		}
	}
	for _, q := range []store.CaseQuery{{Sort: "nope"}, {Sort: store.CaseSortScore}} {
		if _, _, err := st.Results().Cases(ctx, "b", q); err == nil {
			t.Errorf("%+v: no error", q)
		}
	}
}

func mustPath(t *testing.T, s string) store.Path {
	t.Helper()
	p, err := store.ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Outputs reads the executions of a page of cases with their outputs at a
// path, in one query: cut, measured, absent when the path leads nowhere.
func testOutputs(t *testing.T, st store.Store) {
	seedGrid(t, st)
	ctx := context.Background()
	keys := []string{"a=y/c3/1", "a=x/c3/0", "a=z/c5/0", "a=x/c1/1", "no/such/key"}
	got, err := st.Results().Outputs(ctx, "b", keys, mustPath(t, "$.answer"), 8)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%s %s %d %v %v", r.ExecutionKey, r.Output, r.OutputLen, r.Found, r.Passed))
	}
	want := []string{`a=x/c1/1 "Paris c 14 true true`, `a=x/c3/0 "Paris c 14 true false`, `a=y/c3/1 "Paris c 14 true true`}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("outputs:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(got) > 0 && (got[0].Notes["correct"] != "note a=x/c1/1" || got[0].Scores["correct"] != 1 || got[0].CaseID != "c1") {
		t.Errorf("the result's scores and notes: %+v", got[0].Result)
	}
	// Values of every kind, whole; a path that leads nowhere.
	for path, want := range map[string]string{
		"$.meta":         `{"n":3,"tags":["tc3"]}`,
		"$.meta.tags":    `["tc3"]`,
		"$.meta.n":       `3`,
		"$['meta'].tags": `["tc3"]`,
		"$":              `{"answer":"Paris c3 a=x","meta":{"n":3,"tags":["tc3"]}}`,
		"$.missing":      "absent",
		"$.meta.tags[5]": "absent",
	} {
		got, err := st.Results().Outputs(ctx, "b", []string{"a=x/c3/0"}, mustPath(t, path), 1000)
		if err != nil || len(got) != 1 {
			t.Errorf("%s: %v %+v", path, err, got)
			continue
		}
		text := "absent"
		if got[0].Found {
			text = compactJSON(got[0].Output)
		}
		if text != want || (got[0].Found && got[0].OutputLen != len([]rune(got[0].Output))) {
			t.Errorf("%s: %q (%d characters), want %s", path, got[0].Output, got[0].OutputLen, want)
		}
	}
	// No path: the output of the node that produced the final state.
	got, err = st.Results().Outputs(ctx, "b", []string{"a=z/c0/1"}, nil, 1000)
	if err != nil || len(got) != 1 || compactJSON(got[0].Output) != `{"answer":"Paris c0 a=z"}` {
		t.Errorf("the node's output: %v %+v", err, got)
	}
	if got, err := st.Results().Outputs(ctx, "b", nil, nil, 10); err != nil || len(got) != 0 {
		t.Errorf("no keys: %v %+v", err, got)
	}
}

// compactJSON is a JSON text without insignificant space (PostgreSQL's
// jsonb prints "a": 1, SQLite "a":1).
func compactJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
