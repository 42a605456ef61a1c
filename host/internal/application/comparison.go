package application

import (
	"encoding/json"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/stats"
	"github.com/wtbench/wtb/host/internal/store"
)

// ComboDelta is one combination compared across two batches.
type ComboDelta struct {
	Combination string
	MeanA       *float64 // nil: not in A
	MeanB       *float64 // nil: not in B
	// Delta is MeanB − MeanA, over each batch's own executions; nil unless
	// the combination is in both. The verdict uses the paired difference.
	Delta *float64
	PassA *float64 // nil: not in A
	PassB *float64 // nil: not in B
	// Paired is the test on the executions both batches ran on the same case
	// (same case id, input and expectations) and repeat: the mean difference,
	// its interval and p-values. N is 0 when they share none.
	Paired stats.Paired
	// P is the p-value of the test the comparison uses (CompareOptions.Test).
	P float64
	// Significant: P below Alpha, for comparable overall scores
	// (Comparison.OverallComparable) only. Regression: the combination's
	// verdict — a significant paired drop of the overall score larger than
	// the tolerance when the overall scores are comparable, else such a drop
	// of any evaluator both batches scored alike.
	Significant bool
	Regression  bool
	// Evaluators are the per-evaluator figures, one per evaluator of A or B
	// in the order of Comparison.Evaluators.
	Evaluators []EvaluatorDelta
	// P50A, P50B, P95A and P95B are each batch's latency percentiles of the
	// combination (its successful executions, as the leaderboard's), nil
	// where the batch has none; the deltas are B − A where both exist.
	P50A, P50B, P50Delta *float64
	P95A, P95B, P95Delta *float64
	// CostA and CostB are the combination's mean cost per execution in each
	// batch: nil when unknown — it made no model calls there, some of its
	// calls could not be priced (UnpricedA, UnpricedB count them: a call
	// whose model has no price or whose response reported no usage has no
	// known cost, never $0, and a mean over the priced executions alone would
	// compare different executions), or the batch is a baseline file, which
	// records no cost (CostNotRecordedA). CostDelta is B − A when both are
	// known.
	CostA, CostB, CostDelta *float64
	UnpricedA, UnpricedB    int
	CostNotRecordedA        bool
	// TokensA and TokensB are the mean tokens per execution (every kind; nil:
	// no model calls there, or not recorded); TokensDelta is B − A when both
	// exist.
	TokensA, TokensB, TokensDelta *float64
}

// Why a combination has no cost delta (ComboDelta.CostCompared).
const (
	CostUnpricedA    = "a"      // A has calls it could not price
	CostUnpricedB    = "b"      // B has
	CostUnpricedBoth = "both"   // both have
	CostNoCallsA     = "none_a" // A made no model calls for it (or does not have it)
	CostNoCallsB     = "none_b"
	CostNoCalls      = "none"
	// CostNotRecordedA: A is a baseline file, which keeps no cost; whether
	// its batch made model calls is not known.
	CostNotRecordedA = "not_recorded_a"
)

// CostCompared says why the combination has no cost delta, "" when it has
// one: A recorded no cost, the side with unpriced calls, or the side
// without model calls.
func (r *ComboDelta) CostCompared() string {
	switch {
	case r.CostDelta != nil:
		return ""
	case r.CostNotRecordedA:
		return CostNotRecordedA
	case r.TokensA == nil && r.TokensB == nil:
		return CostNoCalls
	case r.TokensA == nil:
		return CostNoCallsA
	case r.TokensB == nil:
		return CostNoCallsB
	case r.UnpricedA > 0 && r.UnpricedB > 0:
		return CostUnpricedBoth
	case r.UnpricedA > 0:
		return CostUnpricedA
	}
	return CostUnpricedB
}

// Combination verdicts.
const (
	VerdictRegression     = "regression"
	VerdictSignificant    = "significant"
	VerdictNotSignificant = "not_significant"
	VerdictOnlyA          = "only_a"
	VerdictOnlyB          = "only_b"
)

// Verdict sums a combination up: only in one batch, a regression, a
// significant change that is not one, or nothing significant. When the
// overall scores do not compare, "significant" means some evaluator scored
// both alike changed significantly.
func (r *ComboDelta) Verdict(overallComparable bool) string {
	switch {
	case r.MeanA == nil:
		return VerdictOnlyB
	case r.MeanB == nil:
		return VerdictOnlyA
	case r.Regression:
		return VerdictRegression
	case overallComparable && r.Significant:
		return VerdictSignificant
	case !overallComparable:
		for _, e := range r.Evaluators {
			if e.Significant {
				return VerdictSignificant
			}
		}
	}
	return VerdictNotSignificant
}

// EvaluatorDelta is one evaluator's figures for one combination.
type EvaluatorDelta struct {
	Name  string
	MeanA *float64 // nil: A has no such evaluator, or not this combination
	MeanB *float64
	Delta *float64 // MeanB − MeanA when both exist
	// Tested: the evaluator scored both batches alike (EvaluatorDiff.Comparable)
	// and the combination has pairs; then Paired, P, Significant and
	// Regression (a significant drop larger than the tolerance) are set.
	Tested      bool
	Paired      stats.Paired
	P           float64
	Significant bool
	Regression  bool
}

// Evaluator statuses in a comparison.
const (
	EvaluatorSame    = "same"
	EvaluatorChanged = "changed"
	EvaluatorOnlyA   = "only_a"
	EvaluatorOnlyB   = "only_b"
)

// EvaluatorDiff says how one evaluator scored A and B.
type EvaluatorDiff struct {
	Name   string
	Status string // EvaluatorSame, EvaluatorChanged, EvaluatorOnlyA, EvaluatorOnlyB
	A, B   *spec.Evaluator
	// Changes describe what differs, "weight 3 → 1".
	Changes []string
	// Comparable: the evaluator is in both with the same settings (its weight
	// aside: a weight changes the overall score, not the evaluator's), so its
	// scores of the same execution mean the same thing in both.
	Comparable bool
}

// CaseSets compares the cases A and B ran.
type CaseSets struct {
	Common int // same id, input and expectations
	OnlyA  int
	OnlyB  int
	// Changed cases have the same id and another input or expectations: their
	// executions are not paired.
	Changed int
}

// Tests a comparison can use on paired scores.
const (
	TestT        = "t"        // paired Student t on the mean difference
	TestWilcoxon = "wilcoxon" // Wilcoxon signed-rank: no assumption of normality
)

// CompareOptions tune a comparison.
type CompareOptions struct {
	// Tolerance: a mean drop at most this large is never a regression.
	Tolerance float64
	// Alpha: a drop is significant when the test's p-value is below it.
	Alpha float64
	// Test is TestT (default) or TestWilcoxon.
	Test string
	// Cases lists the executions whose score changed, with where they diverge.
	Cases bool
	// CaseLimit keeps only the CaseLimit executions whose score dropped the
	// most (0: all of them); Comparison.CasesChanged still counts them all.
	// Finding where an execution diverges reads its checkpoints, so a
	// summary that shows the worst few asks for those only.
	CaseLimit int
}

// Defaults of CompareOptions.
const (
	DefaultTolerance = 0.05
	DefaultAlpha     = 0.05
)

// CaseDelta is an execution whose score changed between two batches, with the
// first node whose output differs.
type CaseDelta struct {
	ExecutionKey string
	Combination  string
	CaseID       string
	ScoreA       float64
	ScoreB       float64
	Delta        float64
	StatusA      string
	StatusB      string
	// Node is the first node (in B's order) whose state differs from A's;
	// Detail says how. OutputA and OutputB are that node's outputs.
	Node             string
	Detail           string
	OutputA, OutputB json.RawMessage
}

// Comparison is batch B against batch A.
type Comparison struct {
	A, B         *store.Batch
	Tolerance    float64
	Alpha        float64
	Test         string
	Combinations []ComboDelta
	Regressions  int
	// Evaluators are the evaluators of A and B, A's first in its order, then
	// those only B has. OverallComparable says both computed the overall score
	// the same way (the same evaluators, settings and weights): only then is a
	// drop of the overall score a verdict.
	Evaluators        []EvaluatorDiff
	OverallComparable bool
	// PassScoreA and PassScoreB are the overall score an execution needed to
	// pass; pass rates compare only when they are equal.
	PassScoreA, PassScoreB float64
	Cases                  CaseSets
	// CaseDeltas is set when asked for: executions whose score changed, the
	// largest drops first (at most CompareOptions.CaseLimit of them).
	CaseDeltas []CaseDelta
	// CasesChanged counts the paired executions whose score or success
	// changed, whether listed or not.
	CasesChanged int
	// BaselineFile is the baseline file A was read from ("" when A is a
	// stored batch).
	BaselineFile string
}
