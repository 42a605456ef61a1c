package store

import (
	"encoding/json"
	"strings"
)

// Kind says how a column's value travels between a Go field and a database
// column. Each backend's dialect (sqlstore.Dialect) knows how to encode and
// decode each kind (SQLite keeps times and JSON as text, PostgreSQL as
// timestamptz and JSONB); the tables below say which columns there are, once
// for both, and sqlstore's repositories read and write them.
type Kind int

// Column kinds.
const (
	Text      Kind = iota // *string
	OptText               // *string, NULL when empty (a foreign key)
	Int                   // *int
	Float                 // *float64
	Bool                  // *bool
	Time                  // *time.Time
	OptTime               // **time.Time, NULL when nil
	JSON                  // *json.RawMessage, {} when empty
	OptJSON               // *json.RawMessage, NULL when empty
	StringMap             // *map[string]string as a JSON object
	FloatMap              // *map[string]float64 as a JSON object
	Logs                  // *[]LogLine as a JSON array, [] when empty
	List                  // any other slice as a JSON array, [] when empty
	Computed              // read only: a backend-specific expression (see Column.Name)
)

// Column maps one column of a table onto a field of T: Field returns a pointer
// to the field, which writes read and reads fill.
type Column[T any] struct {
	Name  string
	Kind  Kind
	Field func(*T) any
}

// Table describes one table: its name, its columns in order, and the key a
// write conflicts on (writes are idempotent: a row already there is kept).
type Table[T any] struct {
	Name     string
	Columns  []Column[T]
	Conflict string
}

// Names lists the column names, comma-separated, for an INSERT (computed
// columns are not written).
func (t Table[T]) Names() string {
	var names []string
	for _, c := range t.Writable() {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// Writable are the columns a write sets.
func (t Table[T]) Writable() []Column[T] {
	out := make([]Column[T], 0, len(t.Columns))
	for _, c := range t.Columns {
		if c.Kind != Computed {
			out = append(out, c)
		}
	}
	return out
}

// Select lists the column expressions of a SELECT; expr turns a computed
// column (and any other the backend wants to rewrite) into its expression.
func (t Table[T]) Select(expr func(Column[T]) string) string {
	parts := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		parts[i] = expr(c)
	}
	return strings.Join(parts, ", ")
}

// LeaseLive is the computed column saying a batch's lease is still renewed.
const LeaseLive = "lease_live"

// Batches is the wtb_batch_tests table.
var Batches = Table[Batch]{Name: "wtb_batch_tests", Conflict: "(id)", Columns: []Column[Batch]{
	{"id", Text, func(b *Batch) any { return &b.ID }},
	{"name", Text, func(b *Batch) any { return &b.Name }},
	{"file", Text, func(b *Batch) any { return &b.File }},
	{"status", Text, func(b *Batch) any { return &b.Status }},
	{"spec", JSON, func(b *Batch) any { return &b.Spec }},
	{"spec_hash", Text, func(b *Batch) any { return &b.SpecHash }},
	{"parent_batch_id", OptText, func(b *Batch) any { return &b.ParentID }},
	{"fork_node", Text, func(b *Batch) any { return &b.ForkNode }},
	{"runner", Text, func(b *Batch) any { return &b.Runner }},
	{"total_executions", Int, func(b *Batch) any { return &b.Total }},
	{"host", Text, func(b *Batch) any { return &b.Host }},
	{"wtb_version", Text, func(b *Batch) any { return &b.Version }},
	{"summary", OptJSON, func(b *Batch) any { return &b.Summary }},
	{"created_at", Time, func(b *Batch) any { return &b.CreatedAt }},
	{"started_at", Time, func(b *Batch) any { return &b.StartedAt }},
	{"finished_at", OptTime, func(b *Batch) any { return &b.FinishedAt }},
	{"owner", Text, func(b *Batch) any { return &b.Owner }},
	{"lineage", Text, func(b *Batch) any { return &b.Lineage }},
	{"decisions", List, func(b *Batch) any { return &b.Decisions }},
	{"cancel_requested_by", Text, func(b *Batch) any { return &b.CancelRequestedBy }},
	{"cancel_requested_at", OptTime, func(b *Batch) any { return &b.CancelRequestedAt }},
	{"cases_hash", Text, func(b *Batch) any { return &b.CasesHash }},
	{"git_commit", Text, func(b *Batch) any { return &b.GitCommit }},
	{"git_branch", Text, func(b *Batch) any { return &b.GitBranch }},
	{"git_dirty", Bool, func(b *Batch) any { return &b.GitDirty }},
	{LeaseLive, Computed, func(b *Batch) any { return &b.LeaseLive }},
}}

// Results is the wtb_batch_test_results table.
var Results = Table[Result]{Name: "wtb_batch_test_results", Conflict: "(batch_test_id, execution_key)", Columns: []Column[Result]{
	{"batch_test_id", Text, func(r *Result) any { return &r.BatchID }},
	{"execution_key", Text, func(r *Result) any { return &r.ExecutionKey }},
	{"execution_id", Text, func(r *Result) any { return &r.ExecutionID }},
	{"combination_name", Text, func(r *Result) any { return &r.Combination }},
	{"variant_config", StringMap, func(r *Result) any { return &r.Variants }},
	{"case_id", Text, func(r *Result) any { return &r.CaseID }},
	{"repeat_index", Int, func(r *Result) any { return &r.Repeat }},
	{"status", Text, func(r *Result) any { return &r.Status }},
	{"success", Bool, func(r *Result) any { return &r.Success }},
	{"error", Text, func(r *Result) any { return &r.Error }},
	{"failed_node", Text, func(r *Result) any { return &r.FailedNode }},
	{"failure_kind", Text, func(r *Result) any { return &r.FailureKind }},
	{"metrics", FloatMap, func(r *Result) any { return &r.Metrics }},
	{"scores", FloatMap, func(r *Result) any { return &r.Scores }},
	{"overall_score", Float, func(r *Result) any { return &r.OverallScore }},
	{"passed", Bool, func(r *Result) any { return &r.Passed }},
	{"duration_ms", Float, func(r *Result) any { return &r.DurationMs }},
	{"worker_id", Text, func(r *Result) any { return &r.WorkerID }},
	{"attempts", Int, func(r *Result) any { return &r.Attempts }},
	{"final_checkpoint_id", Text, func(r *Result) any { return &r.FinalCheckpointID }},
	{"created_at", Time, func(r *Result) any { return &r.CreatedAt }},
	{"notes", StringMap, func(r *Result) any { return &r.Notes }},
	{"logs", Logs, func(r *Result) any { return &r.Logs }},
}}

// Checkpoints is the wtb_checkpoints table.
var Checkpoints = Table[Checkpoint]{Name: "wtb_checkpoints", Conflict: "(id)", Columns: []Column[Checkpoint]{
	{"id", Text, func(c *Checkpoint) any { return &c.ID }},
	{"batch_test_id", Text, func(c *Checkpoint) any { return &c.BatchID }},
	{"parent_id", Text, func(c *Checkpoint) any { return &c.ParentID }},
	{"node", Text, func(c *Checkpoint) any { return &c.Node }},
	{"position", Int, func(c *Checkpoint) any { return &c.Position }},
	{"variant", Text, func(c *Checkpoint) any { return &c.Variant }},
	{"config_hash", Text, func(c *Checkpoint) any { return &c.ConfigHash }},
	{"cache_key", Text, func(c *Checkpoint) any { return &c.CacheKey }},
	{"source", Text, func(c *Checkpoint) any { return &c.Source }},
	{"segment_key", Text, func(c *Checkpoint) any { return &c.SegmentKey }},
	{"state", JSON, func(c *Checkpoint) any { return &c.State }},
	{"output", JSON, func(c *Checkpoint) any { return &c.Output }},
	{"metrics", FloatMap, func(c *Checkpoint) any { return &c.Metrics }},
	{"duration_ms", Float, func(c *Checkpoint) any { return &c.DurationMs }},
	{"worker_id", Text, func(c *Checkpoint) any { return &c.WorkerID }},
	{"created_at", Time, func(c *Checkpoint) any { return &c.CreatedAt }},
	{"logs", Logs, func(c *Checkpoint) any { return &c.Logs }},
}}

// Audit is the wtb_audit_log table.
var Audit = Table[AuditEntry]{Name: "wtb_audit_log", Conflict: "(id)", Columns: []Column[AuditEntry]{
	{"id", Text, func(e *AuditEntry) any { return &e.ID }},
	{"batch_test_id", Text, func(e *AuditEntry) any { return &e.BatchID }},
	{"ts", Time, func(e *AuditEntry) any { return &e.Time }},
	{"severity", Text, func(e *AuditEntry) any { return &e.Severity }},
	{"event_type", Text, func(e *AuditEntry) any { return &e.EventType }},
	{"message", Text, func(e *AuditEntry) any { return &e.Message }},
	{"execution_key", Text, func(e *AuditEntry) any { return &e.ExecutionKey }},
	{"node", Text, func(e *AuditEntry) any { return &e.Node }},
	{"details", JSON, func(e *AuditEntry) any { return &e.Details }},
}}

// Decode fills a JSON-kind field from its text.
func Decode(kind Kind, field any, text []byte) {
	switch f := field.(type) {
	case *json.RawMessage:
		if len(text) > 0 {
			*f = json.RawMessage(text)
		} else if kind == JSON {
			*f = json.RawMessage("{}")
		}
	default:
		_ = json.Unmarshal(text, field)
	}
}
