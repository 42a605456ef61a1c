// Package jsondoc is WTB's machine-readable output: one JSON document type per
// command that prints data (`--format json`), the viewer's API and the HTML
// report all serve the same documents. Every document carries format_version
// and kind, uses snake_case names, prints empty lists as [] (never null), and
// has a JSON Schema under schemas/ that a test holds the output to.
package jsondoc

import (
	"encoding/json"
	"io"
	"time"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// FormatVersion is bumped when a document changes incompatibly (a field
// removed, renamed or retyped); new fields do not bump it.
const FormatVersion = 1

// Document kinds: each names its schema, schemas/KIND.schema.json.
const (
	KindVersion      = "version"
	KindPlugins      = "plugins"
	KindPluginSchema = "plugin_schema"
	KindValidate     = "validate"
	KindPlan         = "plan"
	KindBatches      = "batches"
	KindLeaderboard  = "leaderboard"
	KindExecutions   = "executions"
	KindExecution    = "execution"
	KindAudit        = "audit"
	KindCompare      = "compare"
	KindCacheStats   = "cache_stats"
	KindCacheCleared = "cache_cleared"
	KindParity       = "parity"
	KindCases        = "cases"
	// KindSpans is a page of a node run's spans (the viewer's API).
	KindSpans = "spans"
	// KindBaseline is not printed by --format json: it is the file `wtb
	// export --baseline` writes and compare reads.
	KindBaseline = application.BaselineKind
)

// Kinds lists every document kind.
var Kinds = []string{KindVersion, KindPlugins, KindPluginSchema, KindValidate, KindPlan, KindBatches,
	KindLeaderboard, KindExecutions, KindExecution, KindAudit, KindCompare, KindCacheStats, KindCacheCleared, KindParity, KindCases,
	KindSpans, KindBaseline}

// Header starts every document.
type Header struct {
	FormatVersion int    `json:"format_version"`
	Kind          string `json:"kind"`
}

func header(kind string) Header { return Header{FormatVersion: FormatVersion, Kind: kind} }

// Write prints a document as indented JSON.
func Write(w io.Writer, d any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// Batch describes a stored batch.
type Batch struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	File     string `json:"file"`
	Status   string `json:"status"`
	Runner   string `json:"runner"`
	ParentID string `json:"parent_id"`
	ForkNode string `json:"fork_node"`
	// Lineage is how the batch came from its parent: fork, rescore, or "".
	Lineage    string     `json:"lineage"`
	Total      int        `json:"total_executions"`
	Host       string     `json:"host"`
	Version    string     `json:"wtb_version"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Stored, Succeeded, Failed and Verdict come from the summary stored when
	// the batch ended (null and "" before); a reader may count Stored itself.
	Stored    *int   `json:"stored"`
	Succeeded *int   `json:"succeeded"`
	Failed    *int   `json:"failed"`
	Verdict   string `json:"verdict"`
	// CancelRequested is who asked the batch to stop (`wtb cancel`) and
	// when, or null: while the batch is running it is stopping; once it is
	// cancelled, this is why.
	CancelRequested *CancelRequested `json:"cancel_requested"`
	// Dataset is what the batch ran: its cases hash and git state.
	Dataset Dataset `json:"dataset"`
}

// Dataset is a batch's dataset version: the content hash of its cases and
// the git state of its bench file's directory when it started (null outside
// a repository, and for batches stored before it was recorded).
type Dataset struct {
	CasesHash string       `json:"cases_hash"`
	Git       *dataset.Git `json:"git"`
}

// DatasetOf is rec's dataset version.
func DatasetOf(rec *store.Batch) Dataset {
	d := Dataset{CasesHash: rec.CasesHash}
	if rec.GitCommit != "" {
		d.Git = &dataset.Git{Commit: rec.GitCommit, Branch: rec.GitBranch, Dirty: rec.GitDirty}
	}
	return d
}

// CancelRequested is a request that a batch stop.
type CancelRequested struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// BatchOf describes rec; its status says "interrupted" for a batch whose
// owner is gone.
func BatchOf(rec *store.Batch) Batch {
	b := Batch{ID: rec.ID, Name: rec.Name, File: rec.File, Status: application.DisplayStatus(rec), Runner: rec.Runner,
		ParentID: rec.ParentID, ForkNode: rec.ForkNode, Lineage: lineageOf(rec), Total: rec.Total, Host: rec.Host, Version: rec.Version,
		StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt, Dataset: DatasetOf(rec)}
	var sum struct {
		Stored, Succeeded, Failed *int
		Verdict                   string
	}
	if len(rec.Summary) > 0 && json.Unmarshal(rec.Summary, &sum) == nil {
		b.Stored, b.Succeeded, b.Failed, b.Verdict = sum.Stored, sum.Succeeded, sum.Failed, sum.Verdict
	}
	if rec.CancelRequestedAt != nil {
		b.CancelRequested = &CancelRequested{By: rec.CancelRequestedBy, At: *rec.CancelRequestedAt}
	}
	return b
}

// lineageOf names how rec came from its parent; forks stored before the
// lineage column say nothing, but have a fork node.
func lineageOf(rec *store.Batch) string {
	if rec.Lineage == "" && rec.ParentID != "" {
		return store.LineageFork
	}
	return rec.Lineage
}

// Execution is one execution's result.
type Execution struct {
	ExecutionKey string             `json:"execution_key"`
	Combination  string             `json:"combination"`
	Variants     map[string]string  `json:"variants"`
	CaseID       string             `json:"case_id"`
	Repeat       int                `json:"repeat"`
	Status       string             `json:"status"`
	Success      bool               `json:"success"`
	Passed       bool               `json:"passed"`
	OverallScore float64            `json:"overall_score"`
	Scores       map[string]float64 `json:"scores"`
	Notes        map[string]string  `json:"notes"`
	Metrics      map[string]float64 `json:"metrics"`
	Error        string             `json:"error"`
	FailedNode   string             `json:"failed_node"`
	FailureKind  string             `json:"failure_kind"`
	DurationMs   float64            `json:"duration_ms"`
	Attempts     int                `json:"attempts"`
	WorkerID     string             `json:"worker_id"`
	CreatedAt    time.Time          `json:"created_at"`
}

// ExecutionOf describes a result, masking sensitive values in its texts.
func ExecutionOf(r *store.Result, red *spec.Redactor) Execution {
	notes := make(map[string]string, len(r.Notes))
	for k, v := range r.Notes {
		notes[k] = red.String(v)
	}
	return Execution{ExecutionKey: r.ExecutionKey, Combination: r.Combination, Variants: orEmpty(r.Variants),
		CaseID: r.CaseID, Repeat: r.Repeat, Status: r.Status, Success: r.Success, Passed: r.Passed,
		OverallScore: r.OverallScore, Scores: orEmpty(r.Scores), Notes: notes, Metrics: orEmpty(r.Metrics),
		Error: red.String(r.Error), FailedNode: r.FailedNode, FailureKind: r.FailureKind, DurationMs: r.DurationMs,
		Attempts: r.Attempts, WorkerID: r.WorkerID, CreatedAt: r.CreatedAt}
}

// LogLine is one stored log line.
type LogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
}

func logsOf(lines []store.LogLine, red *spec.Redactor) []LogLine {
	out := make([]LogLine, len(lines))
	for i, l := range lines {
		out[i] = LogLine{Time: l.Time, Stream: l.Stream, Line: red.String(l.Line)}
	}
	return out
}

// orEmpty makes a nil map an empty one, so it prints {} and not null.
func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// list makes a nil slice an empty one, so it prints [] and not null.
func list[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
