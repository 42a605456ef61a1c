// Package store defines WTB's persistence: batch tests, results, checkpoints and
// audit entries, behind repository interfaces implemented once over SQL
// (store/sqlstore) in two dialects: SQLite's (store/sqlite, the embedded
// default) and PostgreSQL's (store/postgres). Every write is idempotent: a result is
// unique per (batch, execution key) and a checkpoint per id, so a retry or a
// resume never stores a row twice.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrSchemaTooNew is returned when the database was migrated by a newer wtb.
var ErrSchemaTooNew = errors.New("database schema is newer than this wtb")

// Batch statuses.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Result statuses.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
)

// Batch is a stored batch test.
type Batch struct {
	ID         string
	Name       string
	File       string
	Status     string
	Spec       json.RawMessage
	SpecHash   string
	ParentID   string
	ForkNode   string
	Runner     string
	Total      int
	Host       string
	Version    string
	Summary    json.RawMessage
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt *time.Time
	// Owner is the process running the batch ("" when none) and LeaseLive
	// whether its lease is still renewed: a running batch whose lease has run
	// out lost its owner (killed, or its machine went away).
	Owner     string
	LeaseLive bool
	// Lineage says how the batch came from ParentID: LineageFork or
	// LineageRescore ("" for a batch without a parent).
	Lineage string
	// Decisions say why combinations stopped before their planned
	// executions (adaptive repeats, racing).
	Decisions []Decision
	// CancelRequestedBy and CancelRequestedAt say who asked the batch's
	// owner to stop (`wtb cancel`) and when; empty when nobody has since the
	// owner took it.
	CancelRequestedBy string
	CancelRequestedAt *time.Time
	// CasesHash is the content hash of the cases the batch ran ("" for a
	// batch stored before it was recorded). GitCommit, GitBranch and
	// GitDirty are the git state of the bench file's directory when the
	// batch started ("" and false outside a repository).
	CasesHash string
	GitCommit string
	GitBranch string
	GitDirty  bool
}

// Decision is why a combination stopped early, with the evidence.
type Decision struct {
	Combination string `json:"combination"`
	// Kind is DecisionConverged, DecisionMaxRepeats or DecisionPruned.
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	// Repeats the combination completed on every case when it stopped.
	Repeats int `json:"repeats"`
	// CIHalfWidth is its 95 % CI half-width then (adaptive repeats).
	CIHalfWidth float64 `json:"ci_half_width,omitempty"`
	// Racing: the combination it lost to, the test, its p-value and the
	// upper bound of the mean difference, on how many shared cases.
	Best      string  `json:"best,omitempty"`
	Test      string  `json:"test,omitempty"`
	PValue    float64 `json:"p_value,omitempty"`
	Bound     float64 `json:"bound,omitempty"`
	CasesSeen int     `json:"cases_seen,omitempty"`
	// Executions it had stored; Skipped, the planned ones it did not run.
	Executions int       `json:"executions"`
	Skipped    int       `json:"skipped"`
	At         time.Time `json:"at"`
}

// Decision kinds.
const (
	DecisionConverged  = "converged"   // adaptive repeats: its CI is narrow enough
	DecisionMaxRepeats = "max_repeats" // adaptive repeats: it reached max
	DecisionPruned     = "pruned"      // racing: worse than the best with the confidence asked
)

// Lineages of a batch with a parent.
const (
	LineageFork    = "fork"
	LineageRescore = "rescore"
)

// Orphaned says the batch is marked running but its owner's lease has run
// out, so nobody is running it.
func (b *Batch) Orphaned() bool { return b.Status == StatusRunning && !b.LeaseLive }

// ErrLeaseLost is returned when renewing a lease another process has taken.
var ErrLeaseLost = errors.New("another process took over the batch")

// LeaseHeldError says another process owns the batch.
type LeaseHeldError struct {
	Batch, Owner string
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("batch %s is being run by %s", e.Batch, e.Owner)
}

// Result is the outcome of one execution.
type Result struct {
	BatchID           string
	ExecutionKey      string
	ExecutionID       string
	Combination       string
	Variants          map[string]string
	CaseID            string
	Repeat            int
	Status            string // succeeded, failed
	Success           bool
	Error             string
	FailedNode        string
	FailureKind       string
	Metrics           map[string]float64
	Scores            map[string]float64
	OverallScore      float64
	Passed            bool
	DurationMs        float64
	WorkerID          string
	Attempts          int
	FinalCheckpointID string
	CreatedAt         time.Time
	// Notes say why an evaluator gave less than a full score.
	Notes map[string]string
	// Logs are the failed node's log lines and the runner's lines about the
	// execution (a successful node's lines are on its checkpoint).
	Logs []LogLine
}

// LogLine is one line a node wrote to stderr or a runner logged, kept with
// the node run (the last MaxLogBytes of each run).
type LogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"` // stderr, runner, or wtb (a note from wtb itself)
	Line   string    `json:"line"`
}

// Log streams.
const (
	StreamStderr = "stderr"
	StreamRunner = "runner"
	StreamWTB    = "wtb"
)

// Checkpoint sources.
const (
	SourceRoot   = "root"
	SourceRan    = "ran"
	SourceCached = "cached"
	SourceForked = "forked"
)

// Checkpoint is the state after a node (or, for the root, the case input).
type Checkpoint struct {
	ID         string
	BatchID    string
	ParentID   string
	Node       string
	Position   int
	Variant    string
	ConfigHash string
	CacheKey   string
	Source     string
	SegmentKey string
	State      json.RawMessage
	Output     json.RawMessage
	Metrics    map[string]float64
	DurationMs float64
	WorkerID   string
	CreatedAt  time.Time
	// Logs are the node run's stderr and runner log lines.
	Logs []LogLine
}

// AuditEntry is one line of a batch's audit trail.
type AuditEntry struct {
	ID           string
	BatchID      string
	Time         time.Time
	Severity     string
	EventType    string
	Message      string
	ExecutionKey string
	Node         string
	Details      json.RawMessage
}

// AuditFilter narrows an audit listing.
type AuditFilter struct {
	MinSeverity string // DEBUG < INFO < SUCCESS < WARNING < ERROR
	EventType   string
	// ExecutionKey keeps the entries of one execution ("" all).
	ExecutionKey string
	Limit        int
	// Since keeps entries at or after this time (zero: all); a follower
	// passes the last time it printed and skips what it has seen.
	Since time.Time
}

// WriteSet is written in one transaction: checkpoints first, then results that
// refer to them.
type WriteSet struct {
	Checkpoints []Checkpoint
	Results     []Result
	// ModelCalls are the calls of the node runs written (or failed).
	ModelCalls []ModelCall
	// Spans are the spans of the node runs written (or failed).
	Spans []NodeSpans
}

// Empty says there is nothing to write.
func (w WriteSet) Empty() bool {
	return len(w.Checkpoints) == 0 && len(w.Results) == 0 && len(w.ModelCalls) == 0 && len(w.Spans) == 0
}

// CacheStats summarises the node cache.
type CacheStats struct {
	Entries int
	Bytes   int64
	Batches int
}

// BatchRepository stores batch tests.
type BatchRepository interface {
	Create(ctx context.Context, b *Batch) error
	Get(ctx context.Context, id string) (*Batch, error)
	// Latest returns the most recently created batch.
	Latest(ctx context.Context) (*Batch, error)
	List(ctx context.Context, limit int) ([]Batch, error)
	SetStatus(ctx context.Context, id, status string, finished *time.Time, summary json.RawMessage) error
	// SetDecisions stores why combinations stopped early (all of them: it
	// replaces what was stored).
	SetDecisions(ctx context.Context, id string, ds []Decision) error
	// Acquire makes owner the batch's owner for ttl, unless another owner's
	// lease is still live (*LeaseHeldError). The database's clock decides.
	Acquire(ctx context.Context, id, owner string, ttl time.Duration) error
	// Renew extends owner's lease, or returns ErrLeaseLost.
	Renew(ctx context.Context, id, owner string, ttl time.Duration) error
	// Release gives the batch up.
	Release(ctx context.Context, id, owner string) error
	// Takeover makes owner the batch's owner if dead still holds it: for a
	// successor that knows the holder died (same machine, process gone).
	Takeover(ctx context.Context, id, dead, owner string, ttl time.Duration) error
	// Acquire and Takeover clear any cancel request: a new owner starts
	// with none. RequestCancel and CancelRequest are in cancel.go.
	CancelRequests
}

// ResultRepository stores execution results.
type ResultRepository interface {
	// Each calls fn with each result of a batch, one at a time, in the
	// order of the (batch, execution key) index: a summary of a million
	// results holds neither them nor a sort of them (an ORDER BY the index
	// does not give makes SQLite sort in memory, 1 KiB a row on the host).
	Each(ctx context.Context, batchID string, fn func(*Result) error) error
	// EachScored is Each with only what summaries and comparisons read —
	// key, combination, case, repeat, status, success, passed, scores,
	// overall score, duration, failed node, failure kind and final checkpoint;
	// the other fields (variants, error, metrics, worker, notes, logs) are
	// empty, which saves decoding them.
	EachScored(ctx context.Context, batchID string, fn func(*Result) error) error
	// EachKey calls fn with the execution key of each stored result.
	EachKey(ctx context.Context, batchID string, fn func(string)) error
	List(ctx context.Context, batchID string) ([]Result, error)
	// Query returns one page of the results q selects, in execution key
	// order, and how many it selects in all.
	Query(ctx context.Context, batchID string, q ResultQuery) ([]Result, int, error)
	Get(ctx context.Context, batchID, executionKey string) (*Result, error)
	Count(ctx context.Context, batchID string) (int, error)
	// Cases returns one page of the batch's cases that q selects, in q's
	// order, and how many it selects in all: one query, grouped in the
	// database.
	Cases(ctx context.Context, batchID string, q CaseQuery) ([]CaseSummary, int, error)
	// Outputs returns the stored results among keys, ordered by case,
	// combination and repeat, each with the value at path in its final state
	// (nil path: the output of the node that produced it) cut at maxLen
	// characters. Variants, metrics, worker and logs are left empty.
	Outputs(ctx context.Context, batchID string, keys []string, path Path, maxLen int) ([]ResultOutput, error)
}

// Stall is a wait on the database: an operation retried after transient
// errors (a lost connection, a server restarting, a pooler's retry window).
type Stall struct {
	Op       string // what waited: "write", "query"
	Attempts int
	Waited   time.Duration
	// Ongoing is set on the first retry, while the wait goes on; the report
	// when it ends has Err set if the operation gave up.
	Ongoing bool
	Err     error
}

// StallReporter is implemented by stores that retry on their own: the
// handler hears of each stall (from the goroutine that waited).
type StallReporter interface {
	SetStallHandler(func(Stall))
}

// CheckpointRepository stores checkpoints.
type CheckpointRepository interface {
	Get(ctx context.Context, id string) (*Checkpoint, error)
	// EachID calls fn with the id of each checkpoint stored for a batch.
	EachID(ctx context.Context, batchID string, fn func(string)) error
	// ListByBatch returns a batch's checkpoints without their states.
	ListByBatch(ctx context.Context, batchID string) ([]Checkpoint, error)
	// FindCached returns a stored node run with this cache key, from any batch.
	FindCached(ctx context.Context, cacheKey string) (*Checkpoint, error)
	CacheStats(ctx context.Context) (CacheStats, error)
	// ClearCache forgets cache keys (the checkpoints stay, for inspection).
	ClearCache(ctx context.Context) (int, error)
}

// AuditRepository stores audit entries.
type AuditRepository interface {
	Append(ctx context.Context, entries []AuditEntry) error
	List(ctx context.Context, batchID string, f AuditFilter) ([]AuditEntry, error)
}

// Store is a database holding WTB's data.
type Store interface {
	Batches() BatchRepository
	Results() ResultRepository
	Checkpoints() CheckpointRepository
	Audit() AuditRepository
	ModelCalls() ModelCallRepository
	Spans() SpanRepository
	// Retention deletes batches with everything that belongs to them.
	Retention() RetentionRepository
	// Write stores checkpoints, results and model calls atomically and
	// idempotently.
	Write(ctx context.Context, w WriteSet) error
	// Describe names the database for messages, without credentials.
	Describe() string
	Close() error
}

// Audit severities, lowest first.
var severities = []string{"DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"}

// SeverityRank orders audit severities for filtering.
func SeverityRank(s string) int {
	for i, name := range severities {
		if strings.EqualFold(s, name) {
			return i
		}
	}
	return 1
}

// SeveritiesAtLeast lists the severities ranked at or above min ("" means all):
// what a listing filters on in SQL, before any limit applies.
func SeveritiesAtLeast(min string) []string {
	if min == "" {
		return severities
	}
	return severities[SeverityRank(min):]
}

// Redact removes the password from a database URL for display.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if err != nil && strings.Contains(raw, "@") {
			return "<database url>"
		}
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// SchemaError explains a schema version the binary does not know.
func SchemaError(db string, have, know int64) error {
	return fmt.Errorf("%w: %s has schema version %d but this wtb knows versions up to %d; upgrade wtb (it never downgrades or writes to a newer schema)",
		ErrSchemaTooNew, db, have, know)
}
