// Package leaderboard aggregates stored results into a ranked leaderboard, checks
// thresholds, and renders tables, JSON, CSV and JUnit XML.
package leaderboard

import (
	"math"
	"sort"

	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/stats"
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
	CI95        *[2]float64        `json:"ci95"` // null with fewer than two executions
	PassRate    float64            `json:"pass_rate"`
	PassCI95    [2]float64         `json:"pass_rate_ci95"` // Wilson score interval
	P50Ms       float64            `json:"p50_ms"`
	P95Ms       float64            `json:"p95_ms"`
	Evaluators  map[string]float64 `json:"evaluator_means"`
	MeetsThresh bool               `json:"meets_thresholds"`
	Misses      []string           `json:"misses"`
	// ThresholdsApply: the thresholds judge this combination — every one
	// with applies_to = "all", the first-ranked only with "best". The others'
	// misses decide nothing: they are not required to meet them.
	ThresholdsApply bool `json:"thresholds_apply"`
	// Scores and Latency are the distributions of overall scores (all
	// executions) and of durations (successful ones), for charts.
	Scores  Histogram `json:"score_histogram"`
	Latency Histogram `json:"latency_histogram_ms"`
	// Repeats is the most repeats any of its cases ran; Stopped says why it
	// stopped early (adaptive repeats, racing), nil when it ran everything.
	Repeats int             `json:"repeats"`
	Stopped *store.Decision `json:"stopped"`
	// Cost is what the combination's model calls used and cost; nil when
	// the batch made none through the gateway.
	Cost *Cost `json:"cost"`
}

// Cost is a combination's model calls, by execution (each counted as if run
// alone: a shared prefix's calls in full for every execution sharing it).
type Cost struct {
	Calls int `json:"calls"`
	// MeanUSD and TotalUSD are over the executions whose calls were all
	// priced (Priced of them); Unpriced counts calls whose model has no
	// price or whose response reported no usage: their cost is unknown,
	// never $0. Both are null when no execution was fully priced.
	MeanUSD  *float64 `json:"mean_usd"`
	TotalUSD *float64 `json:"total_usd"`
	Priced   int      `json:"priced_executions"`
	Unpriced int      `json:"unpriced_calls"`
	// MeanTokens and TotalTokens count every kind.
	MeanTokens  float64 `json:"mean_tokens"`
	TotalTokens float64 `json:"total_tokens"`
	// Judge is what the llm_judge evaluators' calls used and cost, in the
	// same terms, apart from the workflow's (the fields above); absent when
	// no judge called.
	Judge *Cost `json:"judge,omitempty"`
}

// Histogram counts values in equal-width bins: Counts[i] is the number of
// values in [Edges[i], Edges[i+1]) (the last bin includes its upper edge).
type Histogram struct {
	Edges  []float64 `json:"edges"`
	Counts []int     `json:"counts"`
}

// histogramBins is the number of bins of a combination's histograms.
const histogramBins = 10

// newHistogram bins sorted values between lo and hi.
func newHistogram(sorted []float64, lo, hi float64) Histogram {
	h := Histogram{Edges: make([]float64, histogramBins+1), Counts: make([]int, histogramBins)}
	if hi <= lo {
		hi = lo + 1
	}
	width := (hi - lo) / histogramBins
	for i := range h.Edges {
		h.Edges[i] = lo + float64(i)*width
	}
	for _, x := range sorted {
		i := int((x - lo) / width)
		h.Counts[max(0, min(i, histogramBins-1))]++
	}
	return h
}

// Summary is the verdict of a batch.
type Summary struct {
	// Total is what the batch had to run: every planned execution, less
	// those adaptive repeats and racing saved (Saved).
	Total      int     `json:"total"`
	Saved      int     `json:"saved"`
	Stored     int     `json:"stored"`
	Succeeded  int     `json:"succeeded"`
	Failed     int     `json:"failed"`
	Combos     []Combo `json:"leaderboard"`
	Thresholds bool    `json:"has_thresholds"`
	Passed     bool    `json:"thresholds_met"`
	Verdict    string  `json:"verdict"`
	// Warnings are what the run noticed about its scoring that a user
	// should look at (an evaluator that found nothing to compare).
	Warnings []Warning `json:"warnings"`
}

// Warning is an evaluator whose path found nothing to compare in most
// successful executions: a path that names nothing scores 0 silently.
type Warning struct {
	Evaluator string `json:"evaluator"`
	// Attribute is "path" (looked up in the final state or a node's output)
	// or "expect" (looked up in the case).
	Attribute string `json:"attribute"`
	Path      string `json:"path"`
	// Executions is how many of Of successful executions it found nothing in.
	Executions int    `json:"executions"`
	Of         int    `json:"of"`
	Message    string `json:"message"`
}

// Complete fills the lists and maps a summary read back from JSON may lack
// (a stored summary from an older wtb), so it prints [] and {} rather than null.
func (s *Summary) Complete() {
	if s.Combos == nil {
		s.Combos = []Combo{}
	}
	if s.Warnings == nil {
		s.Warnings = []Warning{}
	}
	for i := range s.Combos {
		c := &s.Combos[i]
		if c.Misses == nil {
			c.Misses = []string{}
		}
		if c.Variants == nil {
			c.Variants = map[string]string{}
		}
		if c.Evaluators == nil {
			c.Evaluators = map[string]float64{}
		}
	}
}

// MarkJudged sets which combinations the thresholds judge (Combo.
// ThresholdsApply) from their ranks: all of them, or with appliesTo "best"
// the first. A summary stored before the field existed gets it this way too.
func (s *Summary) MarkJudged(appliesTo string) {
	for i := range s.Combos {
		c := &s.Combos[i]
		c.ThresholdsApply = s.Thresholds && (appliesTo != "best" || c.Rank == 1)
	}
}

// TieBreak says how the leaderboard orders combinations with the same mean.
const TieBreak = "ties on mean score are ranked by pass rate, then p50 latency (lower first), then name"

// Summarize ranks combinations by mean overall score (then pass rate, then
// median latency, then name: TieBreak) and checks the batch's thresholds.
func Summarize(b *spec.Batch, results []store.Result) Summary {
	a := NewAggregator(b)
	for i := range results {
		a.Add(&results[i])
	}
	return a.Summary()
}

// Aggregator builds a batch's summary one result at a time, so a summary of a
// million executions never holds the results: per combination it keeps the
// overall scores and the durations of successful executions (16 bytes an
// execution, for the moments and the latency percentiles) and counts. Scores
// are summed in sorted order, so the summary does not depend on the order
// the results were stored in.
type Aggregator struct {
	b         *spec.Batch
	decisions []store.Decision
	stored    int
	ok        int
	combos    map[string]*running
}

type running struct {
	n, succeeded, passed int
	repeats              int
	scores               []float64
	evaluators           map[string]float64 // sums
	durations            []float64
	cost                 *Cost
	costN                int // executions with model calls
	judge                *Cost
	judgeN               int // executions with judge calls
}

// NewAggregator starts a summary of b.
func NewAggregator(b *spec.Batch) *Aggregator {
	return &Aggregator{b: b, combos: map[string]*running{}}
}

// Decided tells the aggregator why combinations stopped early: the batch's
// total shrinks by what they saved, and their leaderboard lines say why.
func (a *Aggregator) Decided(ds []store.Decision) {
	a.decisions = ds
}

// AddCost counts one result's model calls (its wtb.llm.* metrics) and its
// judges' (wtb.llm.judge.*) apart; a result without any counts none.
func (a *Aggregator) AddCost(r *store.Result) {
	c := a.combos[r.Combination]
	if c == nil {
		return // Add comes first
	}
	m := r.Metrics
	if calls := m[modelcalls.MetricCalls]; calls > 0 {
		if c.cost == nil {
			c.cost = &Cost{}
		}
		c.costN++
		c.cost.add(calls, modelcalls.Tokens(m), m[modelcalls.MetricUnpriced], m[modelcalls.MetricCost])
	}
	if calls := m[modelcalls.MetricJudgeCalls]; calls > 0 {
		if c.judge == nil {
			c.judge = &Cost{}
		}
		c.judgeN++
		c.judge.add(calls, modelcalls.JudgeTokens(m), m[modelcalls.MetricJudgeUnpriced], m[modelcalls.MetricJudgeCost])
	}
}

// add counts one execution's calls: priced only when all of them were.
func (c *Cost) add(calls, tokens, unpriced, usd float64) {
	c.Calls += int(calls)
	c.TotalTokens += tokens
	if unpriced > 0 {
		c.Unpriced += int(unpriced)
		return
	}
	c.Priced++
	if c.TotalUSD != nil {
		usd += *c.TotalUSD
	}
	c.TotalUSD = &usd
}

// means is the cost with its means over n executions.
func (c Cost) means(n int) *Cost {
	if n > 0 {
		c.MeanTokens = c.TotalTokens / float64(n)
	}
	if c.TotalUSD != nil && c.Priced > 0 {
		mean := *c.TotalUSD / float64(c.Priced)
		c.MeanUSD = &mean
	}
	return &c
}

// Add counts one result.
func (a *Aggregator) Add(r *store.Result) {
	a.stored++
	c := a.combos[r.Combination]
	if c == nil {
		c = &running{evaluators: map[string]float64{}}
		a.combos[r.Combination] = c
	}
	c.n++
	c.repeats = max(c.repeats, r.Repeat+1)
	c.scores = append(c.scores, r.OverallScore)
	if r.Success {
		a.ok++
		c.succeeded++
		c.durations = append(c.durations, r.DurationMs)
	}
	if r.Passed {
		c.passed++
	}
	for _, ev := range a.b.Evaluators {
		c.evaluators[ev.Name] += r.Scores[ev.Name]
	}
}

// Summary ranks the combinations seen and checks the thresholds.
func (a *Aggregator) Summary() Summary {
	b := a.b
	s := Summary{Total: b.Total(), Stored: a.stored, Succeeded: a.ok, Failed: a.stored - a.ok, Combos: []Combo{}, Warnings: []Warning{}}
	stopped := map[string]*store.Decision{}
	for i := range a.decisions {
		d := &a.decisions[i]
		s.Saved += d.Skipped
		stopped[d.Combination] = d
	}
	s.Total -= s.Saved
	for _, c := range b.Combinations {
		if r := a.combos[c.Name]; r != nil {
			line := combo(b, c, r)
			line.Repeats, line.Stopped = r.repeats, stopped[c.Name]
			switch {
			case r.cost != nil:
				line.Cost = r.cost.means(r.costN)
			case r.judge != nil:
				// Only the judges called: the workflow's part is no call,
				// which costs nothing (not unpriced).
				zero := 0.0
				line.Cost = &Cost{TotalUSD: &zero, MeanUSD: &zero}
			}
			if r.judge != nil {
				line.Cost.Judge = r.judge.means(r.judgeN)
			}
			s.Combos = append(s.Combos, line)
		}
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
	t := b.Thresholds
	s.Thresholds = t.OverallScore != nil || t.PassRate != nil || len(t.Evaluators) > 0
	for i := range s.Combos {
		s.Combos[i].Rank = i + 1
	}
	s.MarkJudged(t.AppliesTo)
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

func combo(b *spec.Batch, c spec.Combination, r *running) Combo {
	n := float64(r.n)
	out := Combo{Combination: c.Name, Variants: c.Variants, Executions: r.n, Succeeded: r.succeeded, Failed: r.n - r.succeeded,
		Evaluators: map[string]float64{}, Misses: []string{}}
	if out.Variants == nil {
		out.Variants = map[string]string{}
	}
	for _, ev := range b.Evaluators {
		out.Evaluators[ev.Name] = r.evaluators[ev.Name] / n
	}
	sort.Float64s(r.scores)
	out.Mean, out.StdDev = meanStd(r.scores)
	if r.n > 1 {
		// Student's t with n−1 degrees of freedom, clipped to the score range.
		half := stats.TQuantile(0.975, float64(r.n-1)) * out.StdDev / math.Sqrt(n)
		out.CI95 = &[2]float64{math.Max(0, out.Mean-half), math.Min(1, out.Mean+half)}
	}
	out.PassRate = float64(r.passed) / n
	w := stats.Wilson(r.passed, r.n, 0.95)
	out.PassCI95 = [2]float64{w.Lo, w.Hi}
	sort.Float64s(r.durations)
	out.P50Ms, out.P95Ms = percentile(r.durations, 0.50), percentile(r.durations, 0.95)
	out.Scores = newHistogram(r.scores, 0, 1)
	var slowest float64
	if len(r.durations) > 0 {
		slowest = r.durations[len(r.durations)-1]
	}
	out.Latency = newHistogram(r.durations, 0, slowest)

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
