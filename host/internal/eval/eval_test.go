package eval

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ev(typ, path, expect string, extra func(*spec.Evaluator)) spec.Evaluator {
	e := spec.Evaluator{Name: typ, Type: typ, Path: path, Weight: 1}
	if expect != "" {
		e.Expect = json.RawMessage(expect)
	}
	if extra != nil {
		extra(&e)
	}
	return e
}

func TestBuiltInEvaluators(t *testing.T) {
	state := json.RawMessage(`{"answer":"Paris is the capital","n":3.02,"tags":["a","b"],"big":12345678901234567890,"obj":{"x":1}}`)
	cs := spec.Case{ID: "c1", Input: json.RawMessage(`{"q":"capital?"}`), Expected: json.RawMessage(`{"answer":"Paris","n":3,"tag":"b"}`)}
	cases := []struct {
		name string
		ev   spec.Evaluator
		want float64
	}{
		{"equals literal", ev("equals", "$.obj", `{"x":1}`, nil), 1},
		{"equals mismatch", ev("equals", "$.answer", `"Paris"`, nil), 0},
		{"json path from case", ev("json_path_equals", "$.n", `"$.expected.n"`, nil), 0},
		{"contains case-insensitive", ev("contains", "$.answer", `"$.expected.answer"`, nil), 1},
		{"contains case-sensitive", ev("contains", "$.answer", `"paris"`, func(e *spec.Evaluator) { e.CaseSensitive = true }), 0},
		{"contains in array", ev("contains", "$.tags", `"$.expected.tag"`, nil), 1},
		{"regex", ev("regex", "$.answer", "", func(e *spec.Evaluator) { e.Pattern = "^paris" }), 1},
		{"numeric within", ev("numeric", "$.n", `"$.expected.n"`, func(e *spec.Evaluator) { e.Tolerance = 0.05 }), 1},
		{"numeric outside", ev("numeric", "$.n", `3`, func(e *spec.Evaluator) { e.Tolerance = 0.01 }), 0},
		{"latency ok", ev("latency", "", "", func(e *spec.Evaluator) { e.MaxMs = 100 }), 1},
		{"latency slow", ev("latency", "", "", func(e *spec.Evaluator) { e.MaxMs = 10 }), 0},
		{"missing path", ev("equals", "$.nope", `1`, nil), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Compile(&spec.Batch{Evaluators: []spec.Evaluator{c.ev}, PassScore: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			out := e.Evaluate(context.Background(), Input{Success: true, State: state, Case: cs, DurationMs: 50})
			if got := out.Scores[c.ev.Name]; got != c.want {
				t.Errorf("score %v, want %v (notes %v)", got, c.want, out.Notes)
			}
			if c.want < 1 && out.Notes[c.ev.Name] == "" {
				t.Errorf("a score below 1 needs a note saying why")
			}
		})
	}
}

func TestWeightsPassAndFailure(t *testing.T) {
	b := &spec.Batch{PassScore: 0.7, Evaluators: []spec.Evaluator{
		ev("equals", "$.a", `1`, func(e *spec.Evaluator) { e.Name, e.Weight = "heavy", 3 }),
		ev("equals", "$.b", `1`, func(e *spec.Evaluator) { e.Name, e.Weight = "light", 1 }),
	}}
	e, _ := Compile(b)
	out := e.Evaluate(context.Background(), Input{Success: true, State: json.RawMessage(`{"a":1,"b":2}`)})
	if math.Abs(out.Overall-0.75) > 1e-9 || !out.Passed {
		t.Errorf("overall %v passed %v; want 0.75 and passed", out.Overall, out.Passed)
	}
	out = e.Evaluate(context.Background(), Input{Success: false})
	if out.Overall != 0 || out.Passed || out.Scores["heavy"] != 0 {
		t.Errorf("a failed execution scores 0: %+v", out)
	}
}

func TestCommandEvaluator(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "score.sh")
	_ = os.WriteFile(script, []byte("#!/bin/sh\ngrep -q Paris && echo '{\"score\": 0.8, \"note\": \"ok\"}' || echo 0\n"), 0o755)
	e, err := Compile(&spec.Batch{Dir: dir, Evaluators: []spec.Evaluator{{Name: "judge", Type: "command", Weight: 1, Command: []string{"sh", script}}}})
	if err != nil {
		t.Fatal(err)
	}
	out := e.Evaluate(context.Background(), Input{Success: true, State: json.RawMessage(`{"answer":"Paris"}`)})
	if out.Scores["judge"] != 0.8 {
		t.Errorf("command score %v (notes %v)", out.Scores["judge"], out.Notes)
	}
	out = e.Evaluate(context.Background(), Input{Success: true, State: json.RawMessage(`{"answer":"Rome"}`)})
	if out.Scores["judge"] != 0 {
		t.Errorf("command score %v", out.Scores["judge"])
	}
}

// An evaluator with a node scores that node's output (and, for latency, its
// duration), not the final state; a node that did not finish scores 0.
func TestNodeEvaluators(t *testing.T) {
	e, err := Compile(&spec.Batch{PassScore: 0.5, Evaluators: []spec.Evaluator{
		{Name: "top_doc", Type: "equals", Node: "retrieve", Path: "$.docs[0]", Expect: json.RawMessage(`"Paris"`), Weight: 1},
		{Name: "retrieve_fast", Type: "latency", Node: "retrieve", MaxMs: 50, Weight: 1},
		{Name: "answer", Type: "equals", Path: "$.answer", Expect: json.RawMessage(`"Paris"`), Weight: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.NodesScored(); len(got) != 1 || !got["retrieve"] {
		t.Errorf("NodesScored = %v", got)
	}
	in := Input{Success: true, State: json.RawMessage(`{"answer": "Paris", "docs": ["Lyon"]}`), DurationMs: 500,
		Nodes: map[string]NodeRun{"retrieve": {Output: json.RawMessage(`{"docs": ["Paris", "Lyon"]}`), DurationMs: 20}}}
	out := e.Evaluate(context.Background(), in)
	if out.Scores["top_doc"] != 1 || out.Scores["retrieve_fast"] != 1 || out.Scores["answer"] != 1 {
		t.Errorf("scores %v notes %v (the node's output has Paris first; the final state does not)", out.Scores, out.Notes)
	}
	in.Nodes = nil
	out = e.Evaluate(context.Background(), in)
	if out.Scores["top_doc"] != 0 || !strings.Contains(out.Notes["top_doc"], "node retrieve did not finish") {
		t.Errorf("a missing node: %v %v", out.Scores, out.Notes)
	}
}

// A command scorer's note is kept at any score: it is the only reason a
// reader will ever see for it.
func TestCommandNoteKeptOnAPass(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "score.sh")
	_ = os.WriteFile(script, []byte("#!/bin/sh\necho '{\"score\": 1, \"note\": \"names Paris, the capital\"}'\n"), 0o755)
	e, err := Compile(&spec.Batch{Dir: dir, Evaluators: []spec.Evaluator{{Name: "judge", Type: "command", Weight: 1, Command: []string{"sh", script}}}})
	if err != nil {
		t.Fatal(err)
	}
	out := e.Evaluate(context.Background(), Input{Success: true, State: json.RawMessage(`{"answer":"Paris"}`)})
	if out.Scores["judge"] != 1 || out.Notes["judge"] != "names Paris, the capital" {
		t.Errorf("score %v, notes %v", out.Scores, out.Notes)
	}
}

// Explain gives every evaluator's reason, passes included, from the stored
// state; it never runs a command scorer, and says so when scoring again
// disagrees with what was stored.
func TestExplainSaysWhyPassesPass(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	e, err := Compile(&spec.Batch{Dir: dir, PassScore: 0.5, Evaluators: []spec.Evaluator{
		ev("json_path_equals", "$.answer", `"$.expected.answer"`, nil),
		ev("contains", "$.answer", `"ari"`, nil),
		ev("regex", "$.answer", "", func(e *spec.Evaluator) { e.Pattern = "^P" }),
		ev("numeric", "$.n", `3`, func(e *spec.Evaluator) { e.Tolerance = 0.1 }),
		ev("latency", "", "", func(e *spec.Evaluator) { e.MaxMs = 100 }),
		ev("equals", "$.answer", `"Lyon"`, nil),
		{Name: "judge", Type: "command", Weight: 1, Command: []string{"sh", "-c", "touch " + ran + "; echo 1"}},
		{Name: "quiet", Type: "command", Weight: 1, Command: []string{"sh", "-c", "echo 1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Success: true, State: json.RawMessage(`{"answer":"Paris","n":3.05}`), DurationMs: 42,
		Case: spec.Case{ID: "c", Expected: json.RawMessage(`{"answer":"Paris"}`)}}
	scores := map[string]float64{"json_path_equals": 1, "contains": 1, "regex": 1, "numeric": 1, "latency": 1, "equals": 1, "judge": 0.9, "quiet": 1}
	notes := map[string]string{"judge": "mostly right"}
	got := e.Explain(context.Background(), in, scores, notes)
	for name, want := range map[string]string{
		"json_path_equals": `got "Paris", as expected`,
		"contains":         `"Paris" contains "ari"`,
		"regex":            `"Paris" matches /^P/`,
		"numeric":          `3.05 is within 0.1 of 3`,
		"latency":          `took 42 ms ≤ 100 ms`,
		"equals":           `stored score 1.000; scoring the stored state again gives 0.000: got "Paris", want "Lyon"`,
		"judge":            `mostly right`,
		"quiet":            `scored by sh, which gave no note`,
	} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("Explain ran a command scorer")
	}
	in.Success = false
	if got := e.Explain(context.Background(), in, scores, nil); got["contains"] != "execution failed" {
		t.Errorf("a failed execution: %v", got)
	}
}

func TestCheckExpect(t *testing.T) {
	cases := []spec.Case{
		{ID: "a", Input: json.RawMessage(`{"q":"x"}`), Expected: json.RawMessage(`{"label":"x","answer":"Paris"}`)},
		{ID: "b", Input: json.RawMessage(`{"q":"y"}`), Expected: json.RawMessage(`{"label":"y"}`)},
	}
	for _, tc := range []struct {
		path                  string
		badRoot, missing, fix string
		matches               int
	}{
		{"$.expected.label", "", "", "", 2},
		{"$.expected.answer", "", "", "", 1},
		{"$.input.q", "", "", "", 2},
		{"$.case.id", "", "", "", 2},
		{"$..label", "", "", "", 2},
		{"$.expect.label", "expect", "", "$.expected.label", 0},
		{"$['expect']['label']", "expect", "", "$.expected.label", 0},
		{"$.state.answer", "state", "", "", 0},
		{"$.expected.lable", "", "lable", "$.expected.label", 0},
		{"$.case.input.q", "", "input", "$.input.q", 0},
		{"$.expected.nothing_like_it", "", "nothing_like_it", "", 0},
		{"$.expected.label[0]", "", "", "", 0},
	} {
		got := CheckExpect(tc.path, cases)
		if got.BadRoot != tc.badRoot || got.Missing != tc.missing || got.Suggested != tc.fix || got.Matches != tc.matches {
			t.Errorf("CheckExpect(%q) = %+v, want bad root %q, missing %q, suggested %q, %d matches", tc.path, got, tc.badRoot, tc.missing, tc.fix, tc.matches)
		}
	}
}
