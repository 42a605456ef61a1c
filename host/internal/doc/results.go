package doc

import (
	"github.com/wtbench/wtb/host/internal/bench"
	"github.com/wtbench/wtb/host/internal/report"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// Batches lists stored batches, newest first (wtb results --list).
type Batches struct {
	Header
	Batches []Batch `json:"batches"`
}

// BatchesOf lists recs.
func BatchesOf(recs []store.Batch) Batches {
	d := Batches{Header: header(KindBatches), Batches: []Batch{}}
	for i := range recs {
		d.Batches = append(d.Batches, BatchOf(&recs[i]))
	}
	return d
}

// Leaderboard is a batch's ranked combinations and verdict (wtb results,
// wtb run --format json).
type Leaderboard struct {
	Header
	BatchID    string      `json:"batch_id"`
	Name       string      `json:"name"`
	Batch      Batch       `json:"batch"`
	Summary    Summary     `json:"summary"`
	Evaluators []Evaluator `json:"evaluators"`
	Thresholds Thresholds  `json:"thresholds"`
	PassScore  float64     `json:"pass_score"`
	// Failures are the first failed executions by key.
	Failures []Execution `json:"failures"`
}

// Summary is the verdict and the leaderboard.
type Summary struct {
	Total         int     `json:"total"`
	Stored        int     `json:"stored"`
	Succeeded     int     `json:"succeeded"`
	Failed        int     `json:"failed"`
	HasThresholds bool    `json:"has_thresholds"`
	ThresholdsMet bool    `json:"thresholds_met"`
	Verdict       string  `json:"verdict"`
	Leaderboard   []Combo `json:"leaderboard"`
}

// Combo is one combination's line on the leaderboard.
type Combo struct {
	Rank            int                `json:"rank"`
	Combination     string             `json:"combination"`
	Variants        map[string]string  `json:"variants"`
	Executions      int                `json:"executions"`
	Succeeded       int                `json:"succeeded"`
	Failed          int                `json:"failed"`
	MeanScore       float64            `json:"mean_score"`
	StdDev          float64            `json:"stddev"`
	CI95            *[2]float64        `json:"ci95"` // null with fewer than two executions
	PassRate        float64            `json:"pass_rate"`
	P50Ms           float64            `json:"p50_ms"`
	P95Ms           float64            `json:"p95_ms"`
	EvaluatorMeans  map[string]float64 `json:"evaluator_means"`
	MeetsThresholds bool               `json:"meets_thresholds"`
	Misses          []string           `json:"misses"`
	Scores          report.Histogram   `json:"score_histogram"`
	Latency         report.Histogram   `json:"latency_histogram_ms"`
}

// Evaluator is how executions are scored.
type Evaluator struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Weight float64 `json:"weight"`
}

// Thresholds are what the batch must meet (null: not set).
type Thresholds struct {
	OverallScore *float64           `json:"overall_score"`
	PassRate     *float64           `json:"pass_rate"`
	Evaluators   map[string]float64 `json:"evaluators"`
	AppliesTo    string             `json:"applies_to"`
}

// SummaryOf converts a report summary.
func SummaryOf(s report.Summary) Summary {
	out := Summary{Total: s.Total, Stored: s.Stored, Succeeded: s.Succeeded, Failed: s.Failed,
		HasThresholds: s.Thresholds, ThresholdsMet: s.Passed, Verdict: s.Verdict, Leaderboard: []Combo{}}
	for _, c := range s.Combos {
		out.Leaderboard = append(out.Leaderboard, Combo{Rank: c.Rank, Combination: c.Combination, Variants: orEmpty(c.Variants),
			Executions: c.Executions, Succeeded: c.Succeeded, Failed: c.Failed, MeanScore: c.Mean, StdDev: c.StdDev,
			CI95: c.CI95, PassRate: c.PassRate, P50Ms: c.P50Ms, P95Ms: c.P95Ms, EvaluatorMeans: orEmpty(c.Evaluators),
			MeetsThresholds: c.MeetsThresh, Misses: list(c.Misses), Scores: c.Scores, Latency: c.Latency})
	}
	return out
}

// LeaderboardOf describes a leaderboard.
func LeaderboardOf(board *bench.Board) Leaderboard {
	b := board.Spec
	red := b.Redactor()
	d := Leaderboard{Header: header(KindLeaderboard), BatchID: board.Batch.ID, Name: b.Name, Batch: BatchOf(board.Batch),
		Summary: SummaryOf(board.Summary), Evaluators: []Evaluator{}, PassScore: b.PassScore, Failures: []Execution{},
		Thresholds: Thresholds{OverallScore: b.Thresholds.OverallScore, PassRate: b.Thresholds.PassRate,
			Evaluators: orEmpty(b.Thresholds.Evaluators), AppliesTo: b.Thresholds.AppliesTo}}
	for _, ev := range b.Evaluators {
		d.Evaluators = append(d.Evaluators, Evaluator{Name: ev.Name, Type: ev.Type, Weight: ev.Weight})
	}
	for i := range board.Failures {
		d.Failures = append(d.Failures, ExecutionOf(&board.Failures[i], red))
	}
	return d
}

// Executions lists a batch's executions (wtb results --executions).
type Executions struct {
	Header
	BatchID string `json:"batch_id"`
	// Total counts the executions that match, Offset is where this page starts.
	Total      int         `json:"total"`
	Offset     int         `json:"offset"`
	Executions []Execution `json:"executions"`
}

// ExecutionsOf lists rows (one page of total matches, starting at offset).
func ExecutionsOf(batchID string, rows []store.Result, total, offset int, b *spec.Batch) Executions {
	red := b.Redactor()
	d := Executions{Header: header(KindExecutions), BatchID: batchID, Total: total, Offset: offset, Executions: []Execution{}}
	for i := range rows {
		d.Executions = append(d.Executions, ExecutionOf(&rows[i], red))
	}
	return d
}
