package doc

import (
	"encoding/json"
	"time"

	"github.com/wtbench/wtb/host/internal/bench"
	"github.com/wtbench/wtb/host/internal/store"
)

// Compare is batch B against batch A (wtb compare).
type Compare struct {
	Header
	A            Batch        `json:"a"`
	B            Batch        `json:"b"`
	Tolerance    float64      `json:"tolerance"`
	Alpha        float64      `json:"alpha"`
	Test         string       `json:"test"`
	Regressions  int          `json:"regressions"`
	Combinations []ComboDelta `json:"combinations"`
	// Cases lists executions whose score changed (with --cases; else []).
	Cases []CaseDelta `json:"cases"`
}

// ComboDelta is one combination in both batches; a mean is null where the
// combination is missing from that batch.
type ComboDelta struct {
	Combination string   `json:"combination"`
	MeanA       *float64 `json:"mean_a"`
	MeanB       *float64 `json:"mean_b"`
	Delta       float64  `json:"delta"`
	PassRateA   float64  `json:"pass_rate_a"`
	PassRateB   float64  `json:"pass_rate_b"`
	// The paired test on the executions both batches ran: how many pairs,
	// the mean difference B − A with its 95 % interval (null below two
	// pairs), both tests' p-values and the one the verdict used.
	Pairs       int         `json:"pairs"`
	MeanDiff    float64     `json:"paired_mean_diff"`
	DiffCI95    *[2]float64 `json:"paired_diff_ci95"`
	PT          float64     `json:"p_t"`
	PWilcoxon   float64     `json:"p_wilcoxon"`
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
func CompareOf(c *bench.Comparison, redA, redB func(json.RawMessage) json.RawMessage) Compare {
	d := Compare{Header: header(KindCompare), A: BatchOf(c.A), B: BatchOf(c.B), Tolerance: c.Tolerance, Alpha: c.Alpha, Test: c.Test,
		Regressions: c.Regressions, Combinations: []ComboDelta{}, Cases: []CaseDelta{}}
	for _, x := range c.Combinations {
		cd := ComboDelta{Combination: x.Combination, MeanA: x.MeanA, MeanB: x.MeanB,
			Delta: x.Delta, PassRateA: x.PassA, PassRateB: x.PassB, Pairs: x.Paired.N, MeanDiff: x.Paired.MeanDiff,
			PT: x.Paired.PT, PWilcoxon: x.Paired.PW, P: x.P, Significant: x.Significant, Regression: x.Regression}
		if x.Paired.N >= 2 {
			cd.DiffCI95 = &[2]float64{x.Paired.CI.Lo, x.Paired.CI.Hi}
		}
		d.Combinations = append(d.Combinations, cd)
	}
	for _, x := range c.Cases {
		d.Cases = append(d.Cases, CaseDelta{ExecutionKey: x.ExecutionKey, Combination: x.Combination, CaseID: x.CaseID,
			ScoreA: x.ScoreA, ScoreB: x.ScoreB, Delta: x.Delta, StatusA: x.StatusA, StatusB: x.StatusB, Node: x.Node,
			Detail: x.Detail, OutputA: orNull(redA(x.OutputA)), OutputB: orNull(redB(x.OutputB))})
	}
	return d
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
