package judge

import (
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
)

func TestParseAnswerReadsTheGradeWhereverTheModelPutIt(t *testing.T) {
	scale := &spec.Judge{Scale: []float64{1, 5}}
	choices := &spec.Judge{Choices: map[string]float64{"A": 1, "B": 0.5, "C": 0}}
	for _, c := range []struct {
		name, text string
		jc         *spec.Judge
		score      float64
		reasoning  string
		err        string
	}{
		{"bare", `{"reasoning": "fine", "score": 4}`, scale, 0.75, "fine", ""},
		{"fenced after prose", "Here you go:\n```json\n{\"reasoning\": \"ok\", \"score\": 5}\n```\nThanks.", scale, 1, "ok", ""},
		{"a string score", `{"score": " 3 ", "reasoning": "meh"}`, scale, 0.5, "meh", ""},
		{"a nested object first", `{"meta": {"x": 1}} then {"score": 1, "reasoning": "bad"}`, scale, 0, "bad", ""},
		{"out of the scale", `{"score": 7}`, scale, 0, "", "outside the scale 1 to 5"},
		{"no grade", "It looks right to me.", scale, 0, "", `no JSON object with "score"`},
		{"a choice", `{"reasoning": "close", "choice": "B"}`, choices, 0.5, "close", ""},
		{"a choice in another case", `{"choice": "a"}`, choices, 1, "", ""},
		{"no such choice", `{"choice": "D"}`, choices, 0, "", "none of A, B, C"},
		{"a score where a choice is asked", `{"score": 1}`, choices, 0, "", `no JSON object with "choice"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			score, reasoning, err := parseAnswer(c.text, c.jc)
			switch {
			case c.err != "":
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
			case err != nil:
				t.Fatal(err)
			case score != c.score || reasoning != c.reasoning:
				t.Fatalf("got %v %q, want %v %q", score, reasoning, c.score, c.reasoning)
			}
		})
	}
}

func TestRunKeyFollowsWhatTheJudgeIsAsked(t *testing.T) {
	ev := spec.Evaluator{Name: "q", Type: "llm_judge", Path: "$.answer", Weight: 1,
		Judge: &spec.Judge{Upstream: "openai", Model: "m", Rubric: "right?", Choices: map[string]float64{"A": 1, "B": 0}, Format: "openai"}}
	c := spec.Case{ID: "c", Input: []byte(`{"q":1}`)}
	key := func(ev spec.Evaluator, subject any, exec string) string {
		return RunKey(ev, exec, buildPrompt(ev, subject, c))
	}
	base := key(ev, "Paris", "x/c/0")
	renamed, reweighted, revalued := ev, ev, ev
	renamed.Name, reweighted.Weight = "other", 3
	j := *ev.Judge
	j.Choices = map[string]float64{"A": 1, "B": 0.25}
	revalued.Judge = &j
	for what, k := range map[string]string{"renamed": key(renamed, "Paris", "x/c/0"), "reweighted": key(reweighted, "Paris", "x/c/0"),
		"a choice worth more": key(revalued, "Paris", "x/c/0")} {
		if k != base {
			t.Errorf("%s: a new run key, though the call is the same", what)
		}
	}
	rubric := ev
	j2 := *ev.Judge
	j2.Rubric = "wrong?"
	rubric.Judge = &j2
	for what, k := range map[string]string{"another output": key(ev, "Lyon", "x/c/0"), "another execution": key(ev, "Paris", "x/c/1"),
		"another rubric": key(rubric, "Paris", "x/c/0")} {
		if k == base {
			t.Errorf("%s: the same run key", what)
		}
	}
}
