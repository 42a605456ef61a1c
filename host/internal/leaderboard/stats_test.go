package leaderboard

import (
	"fmt"
	"math"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

func f(v float64) *float64 { return &v }

func batch(applies string) *spec.Batch {
	return &spec.Batch{Repeat: 2, Cases: make([]spec.Case, 2),
		Combinations: []spec.Combination{{Name: "good"}, {Name: "bad"}},
		Evaluators:   []spec.Evaluator{{Name: "e"}},
		Thresholds:   spec.Thresholds{OverallScore: f(0.6), AppliesTo: applies}}
}

func results(scores map[string][]float64) []store.Result {
	var out []store.Result
	for combo, ss := range scores {
		for i, s := range ss {
			out = append(out, store.Result{Combination: combo, ExecutionKey: fmt.Sprintf("%s/%d", combo, i), Success: true,
				OverallScore: s, Passed: s >= 0.5, DurationMs: float64(10 * (i + 1)), Scores: map[string]float64{"e": s}})
		}
	}
	return out
}

func TestSummarize(t *testing.T) {
	rs := results(map[string][]float64{"good": {1, 1, 0.5, 0.9}, "bad": {0, 0.5, 0.2, 0.1}})
	s := Summarize(batch("all"), rs)
	if len(s.Combos) != 2 || s.Combos[0].Combination != "good" || s.Combos[0].Rank != 1 {
		t.Fatalf("ranking: %+v", s.Combos)
	}
	g := s.Combos[0]
	if math.Abs(g.Mean-0.85) > 1e-9 || g.PassRate != 1 || math.Abs(g.Evaluators["e"]-g.Mean) > 1e-12 {
		t.Errorf("good: %+v", g)
	}
	wantStd := math.Sqrt(((0.15*0.15)*2 + 0.35*0.35 + 0.05*0.05) / 3)
	if math.Abs(g.StdDev-wantStd) > 1e-9 {
		t.Errorf("stddev %v, want %v", g.StdDev, wantStd)
	}
	// 95% CI with t(0.975, 3) = 3.1824463052837078 (SciPy).
	half := 3.1824463052837078 * wantStd / 2
	if g.CI95 == nil || math.Abs(g.CI95[0]-(0.85-half)) > 1e-9 || g.CI95[1] != 1 {
		t.Errorf("CI %v, want [%v, 1]", g.CI95, 0.85-half)
	}
	if g.P50Ms != 25 || math.Abs(g.P95Ms-38.5) > 1e-9 {
		t.Errorf("p50 %v p95 %v", g.P50Ms, g.P95Ms)
	}
	if s.Passed || s.Verdict != "thresholds missed" {
		t.Errorf("all combinations must meet overall_score 0.6: %+v", s)
	}
	if s := Summarize(batch("best"), rs); !s.Passed || s.Verdict != "thresholds met" {
		t.Errorf("applies_to best: %+v", s)
	}
	if s := Summarize(batch("best"), rs[:3]); s.Passed || s.Verdict != "incomplete" {
		t.Errorf("an incomplete batch never passes: %+v", s)
	}
}

// A combination's intervals: Student's t for the mean (exact quantile, here
// t(0.975, 3) = 3.182446305284263 from SciPy), Wilson for the pass rate.
func TestComboIntervals(t *testing.T) {
	b := &spec.Batch{Repeat: 1, PassScore: 0.5, Combinations: []spec.Combination{{Name: "c"}}}
	var rs []store.Result
	for _, s := range []float64{0.2, 0.4, 0.6, 0.8} {
		rs = append(rs, store.Result{Combination: "c", Success: true, OverallScore: s, Passed: s >= 0.5})
	}
	c := Summarize(b, rs).Combos[0]
	half := 3.1824463052837078 * math.Sqrt(0.2/3) / 2 // s = √(Σ(x−0.5)²/3) = √(0.2/3), over √4
	if c.CI95 == nil || math.Abs(c.CI95[0]-(0.5-half)) > 1e-9 || math.Abs(c.CI95[1]-(0.5+half)) > 1e-9 {
		t.Errorf("mean CI %v, want 0.5 ± %.6f", c.CI95, half)
	}
	if math.Abs(c.PassCI95[0]-0.15003898915214947) > 1e-9 || math.Abs(c.PassCI95[1]-0.8499610108478506) > 1e-9 {
		t.Errorf("pass-rate Wilson CI %v", c.PassCI95)
	}
}

func TestHistogramsCountEveryExecution(t *testing.T) {
	h := newHistogram([]float64{0, 0.05, 0.1, 0.55, 0.99, 1}, 0, 1)
	want := []int{2, 1, 0, 0, 0, 1, 0, 0, 0, 2}
	if len(h.Edges) != 11 || h.Edges[10] != 1 {
		t.Fatalf("edges %v", h.Edges)
	}
	for i := range want {
		if h.Counts[i] != want[i] {
			t.Fatalf("counts %v, want %v", h.Counts, want)
		}
	}
	if h := newHistogram(nil, 0, 0); len(h.Counts) != 10 || h.Edges[10] <= h.Edges[0] {
		t.Errorf("an empty histogram still has bins of positive width: %+v", h)
	}
}
