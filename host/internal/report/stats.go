// Package report aggregates stored results into a ranked leaderboard, checks
// thresholds, and renders tables, JSON, CSV and JUnit XML.
package report

import (
	"math"
	"sort"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// Combo is one combination's line on the leaderboard.
type Combo struct {
	Rank        int                `json:"rank"`
	Combination string             `json:"combination"`
	Variants    map[string]string  `json:"variants"`
	Executions  int                `json:"executions"`
	Succeeded   int                `json:"succeeded"`
	Failed      int                `json:"failed"`
	Mean        float64            `json:"mean_score"`
	StdDev      float64            `json:"stddev"`
	CI95        *[2]float64        `json:"ci95,omitempty"`
	PassRate    float64            `json:"pass_rate"`
	P50Ms       float64            `json:"p50_ms"`
	P95Ms       float64            `json:"p95_ms"`
	Evaluators  map[string]float64 `json:"evaluator_means"`
	MeetsThresh bool               `json:"meets_thresholds"`
	Misses      []string           `json:"misses,omitempty"`
}

// Summary is the verdict of a batch.
type Summary struct {
	Total      int     `json:"total"`
	Stored     int     `json:"stored"`
	Succeeded  int     `json:"succeeded"`
	Failed     int     `json:"failed"`
	Combos     []Combo `json:"leaderboard"`
	Thresholds bool    `json:"has_thresholds"`
	Passed     bool    `json:"thresholds_met"`
	Verdict    string  `json:"verdict"`
}

// Summarize ranks combinations by mean overall score (then pass rate, then
// median latency) and checks the batch's thresholds.
func Summarize(b *spec.Batch, results []store.Result) Summary {
	s := Summary{Total: b.Total(), Stored: len(results)}
	by := map[string][]store.Result{}
	for _, r := range results {
		by[r.Combination] = append(by[r.Combination], r)
		if r.Success {
			s.Succeeded++
		} else {
			s.Failed++
		}
	}
	for _, c := range b.Combinations {
		rs := by[c.Name]
		if len(rs) == 0 {
			continue
		}
		s.Combos = append(s.Combos, combo(b, c, rs))
	}
	sort.SliceStable(s.Combos, func(i, j int) bool {
		a, c := s.Combos[i], s.Combos[j]
		if a.Mean != c.Mean {
			return a.Mean > c.Mean
		}
		if a.PassRate != c.PassRate {
			return a.PassRate > c.PassRate
		}
		if a.P50Ms != c.P50Ms {
			return a.P50Ms < c.P50Ms
		}
		return a.Combination < c.Combination
	})
	for i := range s.Combos {
		s.Combos[i].Rank = i + 1
	}
	t := b.Thresholds
	s.Thresholds = t.OverallScore != nil || t.PassRate != nil || len(t.Evaluators) > 0
	s.Passed = true
	switch {
	case len(s.Combos) == 0:
		s.Passed = !s.Thresholds
	case t.AppliesTo == "best":
		s.Passed = s.Combos[0].MeetsThresh
	default:
		for _, c := range s.Combos {
			s.Passed = s.Passed && c.MeetsThresh
		}
	}
	if s.Stored < s.Total {
		s.Passed = false
	}
	switch {
	case s.Stored < s.Total:
		s.Verdict = "incomplete"
	case !s.Thresholds:
		s.Verdict = "no thresholds"
	case s.Passed:
		s.Verdict = "thresholds met"
	default:
		s.Verdict = "thresholds missed"
	}
	return s
}

func combo(b *spec.Batch, c spec.Combination, rs []store.Result) Combo {
	out := Combo{Combination: c.Name, Variants: c.Variants, Executions: len(rs), Evaluators: map[string]float64{}}
	scores := make([]float64, 0, len(rs))
	var durations []float64
	passed := 0
	for _, r := range rs {
		scores = append(scores, r.OverallScore)
		if r.Success {
			out.Succeeded++
			durations = append(durations, r.DurationMs)
		} else {
			out.Failed++
		}
		if r.Passed {
			passed++
		}
		for _, ev := range b.Evaluators {
			out.Evaluators[ev.Name] += r.Scores[ev.Name] / float64(len(rs))
		}
	}
	out.Mean, out.StdDev = meanStd(scores)
	if len(scores) > 1 {
		half := tQuantile975(len(scores)-1) * out.StdDev / math.Sqrt(float64(len(scores)))
		out.CI95 = &[2]float64{math.Max(0, out.Mean-half), math.Min(1, out.Mean+half)}
	}
	out.PassRate = float64(passed) / float64(len(rs))
	sort.Float64s(durations)
	out.P50Ms, out.P95Ms = percentile(durations, 0.50), percentile(durations, 0.95)

	t := b.Thresholds
	if t.OverallScore != nil && out.Mean < *t.OverallScore {
		out.Misses = append(out.Misses, "mean score below overall_score")
	}
	if t.PassRate != nil && out.PassRate < *t.PassRate {
		out.Misses = append(out.Misses, "pass rate below pass_rate")
	}
	for _, name := range spec.SortedKeys(t.Evaluators) {
		if out.Evaluators[name] < t.Evaluators[name] {
			out.Misses = append(out.Misses, "mean "+name+" below its threshold")
		}
	}
	out.MeetsThresh = len(out.Misses) == 0
	return out
}

func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// percentile uses linear interpolation between closest ranks of sorted xs.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := p * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// tTable holds Student's t 0.975 quantiles for 1..30 degrees of freedom.
var tTable = []float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// tQuantile975 is the two-sided 95% critical value of Student's t; beyond the
// table it uses the Cornish-Fisher expansion around the normal quantile.
func tQuantile975(df int) float64 {
	if df < 1 {
		return math.NaN()
	}
	if df <= len(tTable) {
		return tTable[df-1]
	}
	z := 1.959964
	n := float64(df)
	return z + (z*z*z+z)/(4*n) + (5*math.Pow(z, 5)+16*z*z*z+3*z)/(96*n*n)
}
