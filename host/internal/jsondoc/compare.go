package jsondoc

import (
	"encoding/json"
	"time"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/stats"
	"github.com/wtbench/wtb/host/internal/store"
)

// Compare is batch B against batch A (wtb compare).
type Compare struct {
	Header
	A           Batch   `json:"a"`
	B           Batch   `json:"b"`
	Tolerance   float64 `json:"tolerance"`
	Alpha       float64 `json:"alpha"`
	Test        string  `json:"test"`
	Regressions int     `json:"regressions"`
	// OverallComparable: A and B computed the overall score from the same
	// evaluators, settings and weights. When false, a combination's verdict
	// comes from the evaluators scored alike (evaluators[].comparable).
	OverallComparable bool                `json:"overall_comparable"`
	Evaluators        []EvaluatorCompared `json:"evaluators"`
	PassScoreA        float64             `json:"pass_score_a"`
	PassScoreB        float64             `json:"pass_score_b"`
	CaseSets          CaseSets            `json:"case_sets"`
	Combinations      []ComboDelta        `json:"combinations"`
	// Cases lists executions whose score changed (with --cases; else []),
	// the largest drops first; CasesChanged counts them all, listed or not.
	Cases        []CaseDelta `json:"cases"`
	CasesChanged int         `json:"cases_changed"`
	// BaselineFile is the baseline file A was read from ("" when A is a
	// stored batch).
	BaselineFile string `json:"baseline_file"`
}

// EvaluatorCompared is one evaluator of A or B: in both alike ("same"), in
// both with other settings or weight ("changed", with what changed), or in
// one only ("only_a", "only_b"). Comparable: in both with the same settings,
// the weight aside, so its scores are paired and tested.
type EvaluatorCompared struct {
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	Comparable bool       `json:"comparable"`
	Changes    []string   `json:"changes"`
	A          *Evaluator `json:"a"`
	B          *Evaluator `json:"b"`
}

// CaseSets counts the cases both batches ran alike (same id, input and
// expectations), those only one ran, and those whose input or expectations
// changed; only executions of common cases are paired.
type CaseSets struct {
	Common  int `json:"common"`
	OnlyA   int `json:"only_a"`
	OnlyB   int `json:"only_b"`
	Changed int `json:"changed"`
}

// ComboDelta is one combination in both batches; a mean, a pass rate and the
// delta are null where the combination is missing from a batch.
type ComboDelta struct {
	Combination string   `json:"combination"`
	Verdict     string   `json:"verdict"`
	MeanA       *float64 `json:"mean_a"`
	MeanB       *float64 `json:"mean_b"`
	Delta       *float64 `json:"delta"`
	PassRateA   *float64 `json:"pass_rate_a"`
	PassRateB   *float64 `json:"pass_rate_b"`
	// The paired test on the executions both batches ran: how many pairs,
	// the mean difference B − A with its 95 % interval (null below two
	// pairs), both tests' p-values and the one the verdict used. significant
	// is false when the overall scores do not compare (overall_comparable);
	// regression is the combination's verdict (see verdict).
	Pairs       int         `json:"pairs"`
	MeanDiff    float64     `json:"paired_mean_diff"`
	DiffCI95    *[2]float64 `json:"paired_diff_ci95"`
	PT          float64     `json:"p_t"`
	PWilcoxon   float64     `json:"p_wilcoxon"`
	P           float64     `json:"p_value"`
	Significant bool        `json:"significant"`
	Regression  bool        `json:"regression"`
	// Evaluators are the per-evaluator figures, in the order of the
	// document's evaluators.
	Evaluators []EvaluatorDelta `json:"evaluators"`
	// Latency: each batch's p50 and p95 of the combination's successful
	// executions (null where it has none) and B − A.
	P50A     *float64 `json:"p50_ms_a"`
	P50B     *float64 `json:"p50_ms_b"`
	P50Delta *float64 `json:"p50_delta_ms"`
	P95A     *float64 `json:"p95_ms_a"`
	P95B     *float64 `json:"p95_ms_b"`
	P95Delta *float64 `json:"p95_delta_ms"`
	// Cost: the combination's mean cost per execution in each batch, null
	// when unknown — no model calls there, calls it could not price
	// (unpriced_calls_a/b; never $0), or A is a baseline file, which records
	// no cost — and B − A when both are known; cost_delta_reason says why
	// there is none (application.CostCompared). Tokens: the mean tokens per
	// execution (null: no model calls, or not recorded) and B − A.
	CostA           *float64 `json:"cost_a"`
	CostB           *float64 `json:"cost_b"`
	CostDelta       *float64 `json:"cost_delta"`
	CostDeltaReason *string  `json:"cost_delta_reason"`
	UnpricedA       int      `json:"unpriced_calls_a"`
	UnpricedB       int      `json:"unpriced_calls_b"`
	TokensA         *float64 `json:"tokens_a"`
	TokensB         *float64 `json:"tokens_b"`
	TokensDelta     *float64 `json:"tokens_delta"`
}

// EvaluatorDelta is one evaluator's means in A and B for a combination and,
// when it is comparable and the batches share executions (tested), the
// paired test of its scores.
type EvaluatorDelta struct {
	Name        string      `json:"name"`
	MeanA       *float64    `json:"mean_a"`
	MeanB       *float64    `json:"mean_b"`
	Delta       *float64    `json:"delta"`
	Tested      bool        `json:"tested"`
	Pairs       int         `json:"pairs"`
	MeanDiff    float64     `json:"paired_mean_diff"`
	DiffCI95    *[2]float64 `json:"paired_diff_ci95"`
	P           float64     `json:"p_value"`
	Significant bool        `json:"significant"`
	Regression  bool        `json:"regression"`
}

// CaseDelta is an execution whose score changed, with the first node whose
// state differs and that node's outputs in both batches.
type CaseDelta struct {
	ExecutionKey string          `json:"execution_key"`
	Combination  string          `json:"combination"`
	CaseID       string          `json:"case_id"`
	ScoreA       float64         `json:"score_a"`
	ScoreB       float64         `json:"score_b"`
	Delta        float64         `json:"score_delta"`
	StatusA      string          `json:"status_a"`
	StatusB      string          `json:"status_b"`
	Node         string          `json:"first_differing_node"`
	Detail       string          `json:"detail"`
	OutputA      json.RawMessage `json:"output_a"`
	OutputB      json.RawMessage `json:"output_b"`
}

// CompareOf describes a comparison; the outputs are masked with the
// sensitive values of both batches' specs.
func CompareOf(c *application.Comparison, redA, redB func(json.RawMessage) json.RawMessage) Compare {
	d := Compare{Header: header(KindCompare), A: BatchOf(c.A), B: BatchOf(c.B), Tolerance: c.Tolerance, Alpha: c.Alpha, Test: c.Test,
		Regressions: c.Regressions, OverallComparable: c.OverallComparable, Evaluators: []EvaluatorCompared{},
		PassScoreA: c.PassScoreA, PassScoreB: c.PassScoreB, CaseSets: CaseSets(c.Cases),
		Combinations: []ComboDelta{}, Cases: []CaseDelta{}, CasesChanged: c.CasesChanged, BaselineFile: c.BaselineFile}
	for _, e := range c.Evaluators {
		d.Evaluators = append(d.Evaluators, EvaluatorCompared{Name: e.Name, Status: e.Status, Comparable: e.Comparable,
			Changes: list(e.Changes), A: evaluatorOf(e.A), B: evaluatorOf(e.B)})
	}
	for i := range c.Combinations {
		x := &c.Combinations[i]
		cd := ComboDelta{Combination: x.Combination, Verdict: x.Verdict(c.OverallComparable), MeanA: x.MeanA, MeanB: x.MeanB,
			Delta: x.Delta, PassRateA: x.PassA, PassRateB: x.PassB, Pairs: x.Paired.N, MeanDiff: x.Paired.MeanDiff,
			DiffCI95: ci95(x.Paired), PT: x.Paired.PT, PWilcoxon: x.Paired.PW, P: x.P, Significant: x.Significant,
			Regression: x.Regression, Evaluators: []EvaluatorDelta{}, P50A: x.P50A, P50B: x.P50B, P50Delta: x.P50Delta,
			P95A: x.P95A, P95B: x.P95B, P95Delta: x.P95Delta,
			CostA: x.CostA, CostB: x.CostB, CostDelta: x.CostDelta, UnpricedA: x.UnpricedA, UnpricedB: x.UnpricedB,
			TokensA: x.TokensA, TokensB: x.TokensB, TokensDelta: x.TokensDelta}
		if why := x.CostCompared(); why != "" {
			cd.CostDeltaReason = &why
		}
		for _, e := range x.Evaluators {
			cd.Evaluators = append(cd.Evaluators, EvaluatorDelta{Name: e.Name, MeanA: e.MeanA, MeanB: e.MeanB, Delta: e.Delta,
				Tested: e.Tested, Pairs: e.Paired.N, MeanDiff: e.Paired.MeanDiff, DiffCI95: ci95(e.Paired), P: e.P,
				Significant: e.Significant, Regression: e.Regression})
		}
		d.Combinations = append(d.Combinations, cd)
	}
	for _, x := range c.CaseDeltas {
		d.Cases = append(d.Cases, CaseDelta{ExecutionKey: x.ExecutionKey, Combination: x.Combination, CaseID: x.CaseID,
			ScoreA: x.ScoreA, ScoreB: x.ScoreB, Delta: x.Delta, StatusA: x.StatusA, StatusB: x.StatusB, Node: x.Node,
			Detail: x.Detail, OutputA: orNull(redA(x.OutputA)), OutputB: orNull(redB(x.OutputB))})
	}
	return d
}

// ci95 is a paired test's interval, null below two pairs.
func ci95(p stats.Paired) *[2]float64 {
	if p.N < 2 {
		return nil
	}
	return &[2]float64{p.CI.Lo, p.CI.Hi}
}

func evaluatorOf(e *spec.Evaluator) *Evaluator {
	if e == nil {
		return nil
	}
	return &Evaluator{Name: e.Name, Type: e.Type, Weight: e.Weight}
}

// Audit is a batch's audit trail (wtb audit).
type Audit struct {
	Header
	BatchID string       `json:"batch_id"`
	Entries []AuditEntry `json:"entries"`
}

// AuditEntry is one line of the trail.
type AuditEntry struct {
	Time         time.Time       `json:"time"`
	Severity     string          `json:"severity"`
	EventType    string          `json:"event_type"`
	Message      string          `json:"message"`
	ExecutionKey string          `json:"execution_key"`
	Node         string          `json:"node"`
	Details      json.RawMessage `json:"details"`
}

// AuditOf describes entries.
func AuditOf(batchID string, entries []store.AuditEntry) Audit {
	d := Audit{Header: header(KindAudit), BatchID: batchID, Entries: []AuditEntry{}}
	for _, e := range entries {
		details := e.Details
		if len(details) == 0 {
			details = json.RawMessage("{}")
		}
		d.Entries = append(d.Entries, AuditEntry{Time: e.Time, Severity: e.Severity, EventType: e.EventType,
			Message: e.Message, ExecutionKey: e.ExecutionKey, Node: e.Node, Details: details})
	}
	return d
}
