package summary

import (
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
)

func f(v float64) *float64 { return &v }

// A baseline scored by other evaluators: the summary says which differ and
// judges each combination on the evaluators scored alike, with a table per
// evaluator; the overall paired test is not shown, since it would compare
// means of different things.
func TestComparisonWithOtherEvaluators(t *testing.T) {
	in := Input{
		Board: jsondoc.Leaderboard{Name: "agents", Batch: jsondoc.Batch{ID: "B"}, PassScore: 0.5, Summary: jsondoc.Summary{Verdict: "thresholds met"}},
		Compare: &jsondoc.Compare{
			A: jsondoc.Batch{ID: "A"}, B: jsondoc.Batch{ID: "B"}, Tolerance: 0.05, Alpha: 0.05, Test: "t", Regressions: 1,
			OverallComparable: false,
			Evaluators: []jsondoc.EvaluatorCompared{
				{Name: "exact", Status: application.EvaluatorSame, Comparable: true},
				{Name: "judge", Status: application.EvaluatorChanged, Changes: []string{"rubric"}},
				{Name: "old", Status: application.EvaluatorOnlyA},
				{Name: "tools", Status: application.EvaluatorOnlyB},
			},
			PassScoreA: 0.5, PassScoreB: 0.7,
			Combinations: []jsondoc.ComboDelta{
				{Combination: "m=small", Verdict: application.VerdictRegression, MeanA: f(0.8), MeanB: f(0.6), Pairs: 10,
					DiffCI95: &[2]float64{-0.3, -0.1}, MeanDiff: -0.2, Regression: true,
					Evaluators: []jsondoc.EvaluatorDelta{
						{Name: "exact", MeanA: f(0.8), MeanB: f(0.5), Tested: true, Pairs: 10, MeanDiff: -0.3,
							DiffCI95: &[2]float64{-0.4, -0.2}, P: 0.0004, Significant: true, Regression: true},
						{Name: "judge", MeanA: f(0.7), MeanB: f(0.9)},
						{Name: "old", MeanA: f(1)},
						{Name: "tools", MeanB: f(0.4)},
					}},
				{Combination: "m=large", Verdict: application.VerdictOnlyB, MeanB: f(0.9)},
			},
		},
		UpdateBaseline: "wtb baseline save B",
	}
	var b strings.Builder
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		// Thresholds met, but a regression against the baseline turns the icon.
		"## ❌ agents — thresholds met, 1 regression against the baseline",
		"The baseline was scored by other evaluators, so the overall scores measure different things: `judge` changed (rubric); `old` only in the baseline; `tools` new; the verdict compares the evaluators both scored alike: `exact`.",
		"pass_score is 0.5 in the baseline and 0.7 here",
		"**❌ 1 regression**: a significant paired drop larger than 0.05 of an evaluator both batches scored alike (paired t test, alpha 0.05).",
		"| `m=small` | 0.800 → 0.600 | — | — |",
		"| ❌ regression in `exact` |",
		"| `m=large` | — → 0.900 |",
		"| new |",
		"Per evaluator:",
		"| `m=small` | `exact` | 0.800 → 0.500 | -0.300 [-0.400, -0.200] n=10 | 4.0e-4 | ❌ regression |",
		"| `m=small` | `judge` | 0.700 → 0.900 | — | — | not compared: settings changed |",
		"| `m=small` | `old` | 1.000 → — | — | — | only in the baseline |",
		"| `m=small` | `tools` | — → 0.400 | — | — | new |",
		"If the change is intended, make this the new baseline: `wtb baseline save B`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	// m=large exists only in B: it has no row in the per-evaluator table.
	if strings.Contains(out, "| `m=large` | `exact`") {
		t.Errorf("a combination only one batch ran has per-evaluator rows:\n%s", out)
	}
}

// Nothing scored alike: no verdict, and no overall test either.
func TestComparisonWithNothingScoredAlike(t *testing.T) {
	in := Input{Compare: &jsondoc.Compare{Test: "wilcoxon", Alpha: 0.01, Evaluators: []jsondoc.EvaluatorCompared{
		{Name: "a", Status: application.EvaluatorOnlyA}, {Name: "b", Status: application.EvaluatorOnlyB}}}}
	var b strings.Builder
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"no evaluator was scored alike: no verdict is possible", "**No verdict**: nothing both batches scored alike (paired wilcoxon test, alpha 0.01)."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestThresholdsSayWhomTheyBind(t *testing.T) {
	board := jsondoc.Leaderboard{PassScore: 0.5}
	if got := thresholds(board); got != "none; an execution passes at overall score ≥ 0.5" {
		t.Errorf("no thresholds: %q", got)
	}
	board.Thresholds.OverallScore, board.Thresholds.PassRate = f(0.8), f(0.9)
	board.Thresholds.Evaluators = map[string]float64{"judge": 0.7, "exact": 0.6}
	board.Thresholds.AppliesTo = "best"
	want := "overall_score ≥ 0.8, pass_rate ≥ 0.9, exact ≥ 0.6, judge ≥ 0.7, for the best combination (rank 1) only; an execution passes at overall score ≥ 0.5"
	if got := thresholds(board); got != want {
		t.Errorf("thresholds:\n got %q\nwant %q", got, want)
	}
}

func TestCostSides(t *testing.T) {
	for _, c := range []struct {
		mean, usd, tokens *float64
		unpriced          int
		want              string
	}{
		{nil, nil, nil, 0, "—"},
		{f(1), f(0.001234), f(100), 0, "$0.001234"},
		{f(1), nil, f(100), 2, "unpriced (2 calls)"},
		{f(1), nil, nil, 0, "no calls"},
	} {
		if got := costSide(c.mean, c.usd, c.tokens, c.unpriced); got != c.want {
			t.Errorf("costSide(%v, %v, %v, %d) = %q, want %q", c.mean, c.usd, c.tokens, c.unpriced, got, c.want)
		}
	}
}
