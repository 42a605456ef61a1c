package store

import (
	"context"
	"encoding/json"
	"time"
)

// NodeSpans are the spans of one node run: one row of wtb_spans. Like model
// calls, they are kept under the node run (RunID: its checkpoint id, or the
// failed attempt).
type NodeSpans struct {
	BatchID      string
	RunID        string
	Node         string
	ExecutionKey string
	// Outcome is OutcomeRan or OutcomeFailed.
	Outcome string
	// Spans is a JSON array of spans (sdk.Span's JSON form).
	Spans json.RawMessage
	// Dropped counts the spans past the node run's bound, not kept.
	Dropped   int
	CreatedAt time.Time
}

// Spans is the wtb_spans table.
var Spans = Table[NodeSpans]{Name: "wtb_spans", Conflict: "(batch_test_id, run_id)", Columns: []Column[NodeSpans]{
	{"batch_test_id", Text, func(s *NodeSpans) any { return &s.BatchID }},
	{"run_id", Text, func(s *NodeSpans) any { return &s.RunID }},
	{"node", Text, func(s *NodeSpans) any { return &s.Node }},
	{"execution_key", Text, func(s *NodeSpans) any { return &s.ExecutionKey }},
	{"outcome", Text, func(s *NodeSpans) any { return &s.Outcome }},
	{"spans", JSON, func(s *NodeSpans) any { return &s.Spans }},
	{"dropped", Int, func(s *NodeSpans) any { return &s.Dropped }},
	{"created_at", Time, func(s *NodeSpans) any { return &s.CreatedAt }},
}}

// SpanRepository reads stored spans (they are written with the checkpoints
// of a WriteSet).
type SpanRepository interface {
	// ListByRuns returns the spans of a batch's node runs, by run id.
	ListByRuns(ctx context.Context, batchID string, runIDs []string) ([]NodeSpans, error)
}
