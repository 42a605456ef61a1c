package jsondoc

import (
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/leaderboard"
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

// Summary is the verdict and the leaderboard: leaderboard.Summary, whose JSON
// is this document's "summary".
type Summary = leaderboard.Summary

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

// SummaryOf is a summary ready to print.
func SummaryOf(s leaderboard.Summary) Summary {
	s.Complete()
	return s
}

// LeaderboardOf describes a leaderboard.
func LeaderboardOf(board *application.Board) Leaderboard {
	b := board.Spec
	red := b.Redactor()
	sum := SummaryOf(board.Summary)
	sum.MarkJudged(b.Thresholds.AppliesTo)
	d := Leaderboard{Header: header(KindLeaderboard), BatchID: board.Batch.ID, Name: b.Name, Batch: BatchOf(board.Batch),
		Summary: sum, Evaluators: []Evaluator{}, PassScore: b.PassScore, Failures: []Execution{},
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
