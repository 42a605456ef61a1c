// Package sqlite is WTB's embedded store: a single SQLite file in WAL mode,
// through the pure-Go modernc.org/sqlite driver (no cgo, so the host and its
// plugins cross-compile).
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/migrations"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Store is the SQLite store.
type Store struct {
	db       *sql.DB
	path     string
	readOnly bool
}

var _ store.Store = (*Store)(nil)

// ErrNoDatabase is returned when a read finds no database file.
var ErrNoDatabase = errors.New("no database")

// Open opens (creating if needed) the database file at path for reading and
// writing, and brings its schema up to date. A file migrated by a newer wtb is
// refused.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the directory of %s: %w", path, err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&"+commonPragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db, path: absPath(path)}
	if err := s.migrate(ctx, true); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// OpenReadOnly opens an existing database for reading. It never creates a file
// or directory and never writes — except to upgrade an older schema, once,
// when the user may write the file (a user who may not gets a clear error).
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s (run a batch first, or point --db at an existing database)", ErrNoDatabase, path)
		}
		return nil, err
	}
	// mode=ro needs the WAL index (-shm) to exist or be creatable; a reader
	// who may not write the directory opens the file as immutable instead
	// (safe: with no -shm file there is no writer).
	var lastErr error
	for _, extra := range []string{"mode=ro", "mode=ro&immutable=1"} {
		db, err := sql.Open("sqlite", "file:"+path+"?"+extra+"&"+commonPragmas)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		db.SetMaxOpenConns(4)
		s := &Store{db: db, path: absPath(path), readOnly: true}
		if lastErr = s.migrate(ctx, false); lastErr == nil {
			return s, nil
		}
		_ = db.Close()
		if errors.Is(lastErr, store.ErrSchemaTooNew) || errors.Is(lastErr, errNeedsUpgrade) {
			return nil, lastErr
		}
	}
	return nil, lastErr
}

const commonPragmas = "_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=cache_size(-16384)"

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

var errNeedsUpgrade = errors.New("the database schema is older than this wtb")

// migrate brings the schema up to date. Nothing is written when it already
// is; otherwise the database file itself is locked (flock, which does not
// interfere with SQLite's own locks) so only one process migrates it.
func (s *Store) migrate(ctx context.Context, writable bool) error {
	sub, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	var know int64
	for _, src := range p.ListSources() {
		know = max(know, src.Version)
	}
	have, err := s.schemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version of %s: %w", s.path, err)
	}
	switch {
	case have > know:
		return store.SchemaError(s.path, have, know)
	case have == know:
		return nil
	}
	if !writable {
		// The one write a reader makes: upgrading an older schema, through a
		// connection of its own, when the user may write the file.
		w, err := Open(ctx, s.path)
		if err != nil {
			return fmt.Errorf("%w (version %d, this wtb needs %d) and upgrading it failed: %v; run wtb once as a user who may write %s",
				errNeedsUpgrade, have, know, err, s.path)
		}
		return w.Close()
	}
	unlock, err := lockFile(s.path)
	if err != nil {
		return fmt.Errorf("locking %s for migration: %w", s.path, err)
	}
	defer unlock()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	return nil
}

// schemaVersion reads goose's version table without creating it (goose's own
// GetDBVersion creates the table, which is a write).
func (s *Store) schemaVersion(ctx context.Context) (int64, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v)
	return v.Int64, err
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Describe names the database.
func (s *Store) Describe() string { return "sqlite://" + s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the handle to tests and benchmarks.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) Batches() store.BatchRepository          { return batches{s.db} }
func (s *Store) Results() store.ResultRepository         { return results{s.db} }
func (s *Store) Checkpoints() store.CheckpointRepository { return checkpoints{s.db} }
func (s *Store) Audit() store.AuditRepository            { return audit{s.db} }

const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTS(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

// jsonText encodes a value for a JSON TEXT column.
func jsonText(v any) string { return store.JSONText(v) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const resultInsert = `INSERT OR IGNORE INTO wtb_batch_test_results
	(batch_test_id, execution_key, execution_id, combination_name, variant_config, case_id, repeat_index,
	 status, success, error, failed_node, failure_kind, metrics, scores, overall_score, passed, duration_ms,
	 worker_id, attempts, final_checkpoint_id, created_at) VALUES `

// rowsPerStatement is how many rows one multi-row INSERT carries: fewer
// statements are much cheaper than one per row through database/sql.
const rowsPerStatement = 64

// insertRows inserts n rows of width columns with multi-row INSERT statements.
func insertRows(ctx context.Context, tx *sql.Tx, prefix string, width, n int, row func(i int, args []any) []any) error {
	var full *sql.Stmt
	args := make([]any, 0, width*rowsPerStatement)
	for start := 0; start < n; start += rowsPerStatement {
		count := min(rowsPerStatement, n-start)
		args = args[:0]
		for i := start; i < start+count; i++ {
			args = row(i, args)
		}
		stmt := full
		if count != rowsPerStatement || stmt == nil {
			var err error
			stmt, err = tx.PrepareContext(ctx, prefix+placeholders(width, count))
			if err != nil {
				return err
			}
			if count == rowsPerStatement {
				full = stmt
			} else {
				defer stmt.Close()
			}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	if full != nil {
		full.Close()
	}
	return nil
}

func placeholders(width, rows int) string {
	one := "(?" + strings.Repeat(",?", width-1) + ")"
	return one + strings.Repeat(","+one, rows-1)
}

// Write stores a write set in one transaction. INSERT OR IGNORE makes it
// idempotent: rows already stored (by an earlier attempt, or before a crash and
// resume) are left as they are.
func (s *Store) Write(ctx context.Context, w store.WriteSet) error {
	if len(w.Checkpoints) == 0 && len(w.Results) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a write: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if len(w.Checkpoints) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO wtb_checkpoints
			(id, batch_test_id, parent_id, node, position, variant, config_hash, cache_key, source, segment_key,
			 state, output, metrics, duration_ms, worker_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("preparing checkpoint insert: %w", err)
		}
		for _, c := range w.Checkpoints {
			if _, err := stmt.ExecContext(ctx, c.ID, c.BatchID, c.ParentID, c.Node, c.Position, c.Variant, c.ConfigHash,
				c.CacheKey, c.Source, c.SegmentKey, jsonText(c.State), jsonText(c.Output), jsonText(c.Metrics),
				c.DurationMs, c.WorkerID, ts(c.CreatedAt)); err != nil {
				return fmt.Errorf("storing checkpoint %s: %w", c.ID, err)
			}
		}
		_ = stmt.Close()
	}
	if err := insertRows(ctx, tx, resultInsert, 21, len(w.Results), func(i int, args []any) []any {
		r := w.Results[i]
		return append(args, r.BatchID, r.ExecutionKey, r.ExecutionID, r.Combination, jsonText(r.Variants),
			r.CaseID, r.Repeat, r.Status, boolInt(r.Success), r.Error, r.FailedNode, r.FailureKind, jsonText(r.Metrics),
			jsonText(r.Scores), r.OverallScore, boolInt(r.Passed), r.DurationMs, r.WorkerID, r.Attempts,
			r.FinalCheckpointID, ts(r.CreatedAt))
	}); err != nil {
		return fmt.Errorf("storing results: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing %d results and %d checkpoints: %w", len(w.Results), len(w.Checkpoints), err)
	}
	return nil
}

type batches struct{ db *sql.DB }

func (r batches) Create(ctx context.Context, b *store.Batch) error {
	var parent any
	if b.ParentID != "" {
		parent = b.ParentID
	}
	_, err := r.db.ExecContext(ctx, `INSERT INTO wtb_batch_tests
		(id, name, file, status, spec, spec_hash, parent_batch_id, fork_node, runner, total_executions, host,
		 wtb_version, created_at, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.Name, b.File, b.Status, string(b.Spec), b.SpecHash, parent, b.ForkNode, b.Runner, b.Total, b.Host,
		b.Version, ts(b.CreatedAt), ts(b.StartedAt))
	if err != nil {
		return fmt.Errorf("creating batch %s: %w", b.ID, err)
	}
	return nil
}

const batchColumns = `id, name, file, status, spec, spec_hash, COALESCE(parent_batch_id, ''), fork_node, runner,
	total_executions, host, wtb_version, COALESCE(summary, ''), created_at, started_at, COALESCE(finished_at, ''),
	owner, COALESCE(lease_until > julianday('now'), 0)`

func scanBatch(row interface{ Scan(...any) error }) (*store.Batch, error) {
	var b store.Batch
	var spec, summary, created, started, finished string
	if err := row.Scan(&b.ID, &b.Name, &b.File, &b.Status, &spec, &b.SpecHash, &b.ParentID, &b.ForkNode, &b.Runner,
		&b.Total, &b.Host, &b.Version, &summary, &created, &started, &finished, &b.Owner, &b.LeaseLive); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	b.Spec = json.RawMessage(spec)
	if summary != "" {
		b.Summary = json.RawMessage(summary)
	}
	b.CreatedAt, b.StartedAt = parseTS(created), parseTS(started)
	if finished != "" {
		t := parseTS(finished)
		b.FinishedAt = &t
	}
	return &b, nil
}

func (r batches) Get(ctx context.Context, id string) (*store.Batch, error) {
	b, err := scanBatch(r.db.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM wtb_batch_tests WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", id, err)
	}
	return b, nil
}

func (r batches) Latest(ctx context.Context) (*store.Batch, error) {
	b, err := scanBatch(r.db.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM wtb_batch_tests ORDER BY created_at DESC, rowid DESC LIMIT 1`))
	if err != nil {
		return nil, fmt.Errorf("latest batch: %w", err)
	}
	return b, nil
}

func (r batches) List(ctx context.Context, limit int) ([]store.Batch, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := r.db.QueryContext(ctx, `SELECT `+batchColumns+` FROM wtb_batch_tests ORDER BY created_at DESC, rowid DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	defer rows.Close()
	var out []store.Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

func (r batches) SetStatus(ctx context.Context, id, status string, finished *time.Time, summary json.RawMessage) error {
	var fin, sum any
	if finished != nil {
		fin = ts(*finished)
	}
	if len(summary) > 0 {
		sum = string(summary)
	}
	res, err := r.db.ExecContext(ctx, `UPDATE wtb_batch_tests SET status = ?, finished_at = ?, summary = COALESCE(?, summary) WHERE id = ?`,
		status, fin, sum, id)
	if err != nil {
		return fmt.Errorf("updating batch %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
	}
	return nil
}

func (r batches) Acquire(ctx context.Context, id, owner string, ttl time.Duration) error {
	res, err := r.db.ExecContext(ctx, `UPDATE wtb_batch_tests SET owner = ?, lease_until = julianday('now') + ? / 86400.0
		WHERE id = ? AND (owner = '' OR owner = ? OR lease_until IS NULL OR lease_until <= julianday('now'))`,
		owner, ttl.Seconds(), id, owner)
	if err != nil {
		return fmt.Errorf("taking ownership of batch %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	b, err := r.Get(ctx, id)
	if err != nil {
		return err
	}
	return &store.LeaseHeldError{Batch: id, Owner: b.Owner}
}

func (r batches) Renew(ctx context.Context, id, owner string, ttl time.Duration) error {
	res, err := r.db.ExecContext(ctx, `UPDATE wtb_batch_tests SET lease_until = julianday('now') + ? / 86400.0 WHERE id = ? AND owner = ?`,
		ttl.Seconds(), id, owner)
	if err != nil {
		return fmt.Errorf("renewing the lease on batch %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("batch %s: %w", id, store.ErrLeaseLost)
	}
	return nil
}

func (r batches) Takeover(ctx context.Context, id, dead, owner string, ttl time.Duration) error {
	res, err := r.db.ExecContext(ctx, `UPDATE wtb_batch_tests SET owner = ?, lease_until = julianday('now') + ? / 86400.0 WHERE id = ? AND owner = ?`,
		owner, ttl.Seconds(), id, dead)
	if err != nil {
		return fmt.Errorf("taking over batch %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return r.Acquire(ctx, id, owner, ttl) // released or taken meanwhile
	}
	return nil
}

func (r batches) Release(ctx context.Context, id, owner string) error {
	if _, err := r.db.ExecContext(ctx, `UPDATE wtb_batch_tests SET owner = '', lease_until = NULL WHERE id = ? AND owner = ?`, id, owner); err != nil {
		return fmt.Errorf("releasing batch %s: %w", id, err)
	}
	return nil
}

type results struct{ db *sql.DB }

func (r results) Keys(ctx context.Context, batchID string) (map[string]bool, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT execution_key FROM wtb_batch_test_results WHERE batch_test_id = ?`, batchID)
	if err != nil {
		return nil, fmt.Errorf("listing stored executions: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

const resultColumns = `batch_test_id, execution_key, execution_id, combination_name, variant_config, case_id, repeat_index,
	status, success, error, failed_node, failure_kind, metrics, scores, overall_score, passed, duration_ms, worker_id,
	attempts, final_checkpoint_id, created_at`

func scanResult(row interface{ Scan(...any) error }) (*store.Result, error) {
	var r store.Result
	var variants, metrics, scores, created string
	var success, passed int
	if err := row.Scan(&r.BatchID, &r.ExecutionKey, &r.ExecutionID, &r.Combination, &variants, &r.CaseID, &r.Repeat,
		&r.Status, &success, &r.Error, &r.FailedNode, &r.FailureKind, &metrics, &scores, &r.OverallScore, &passed,
		&r.DurationMs, &r.WorkerID, &r.Attempts, &r.FinalCheckpointID, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	r.Success, r.Passed = success != 0, passed != 0
	_ = json.Unmarshal([]byte(variants), &r.Variants)
	_ = json.Unmarshal([]byte(metrics), &r.Metrics)
	_ = json.Unmarshal([]byte(scores), &r.Scores)
	r.CreatedAt = parseTS(created)
	return &r, nil
}

func (r results) List(ctx context.Context, batchID string) ([]store.Result, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+resultColumns+` FROM wtb_batch_test_results WHERE batch_test_id = ? ORDER BY id`, batchID)
	if err != nil {
		return nil, fmt.Errorf("listing results: %w", err)
	}
	defer rows.Close()
	var out []store.Result
	for rows.Next() {
		res, err := scanResult(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *res)
	}
	return out, rows.Err()
}

func (r results) Get(ctx context.Context, batchID, key string) (*store.Result, error) {
	res, err := scanResult(r.db.QueryRowContext(ctx, `SELECT `+resultColumns+` FROM wtb_batch_test_results WHERE batch_test_id = ? AND execution_key = ?`, batchID, key))
	if err != nil {
		return nil, fmt.Errorf("result %s: %w", key, err)
	}
	return res, nil
}

func (r results) Count(ctx context.Context, batchID string) (int, error) {
	var n int
	err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM wtb_batch_test_results WHERE batch_test_id = ?`, batchID).Scan(&n)
	return n, err
}

type checkpoints struct{ db *sql.DB }

const checkpointColumns = `id, batch_test_id, parent_id, node, position, variant, config_hash, cache_key, source, segment_key,
	state, output, metrics, duration_ms, worker_id, created_at`

func scanCheckpoint(row interface{ Scan(...any) error }) (*store.Checkpoint, error) {
	var c store.Checkpoint
	var state, output, metrics, created string
	if err := row.Scan(&c.ID, &c.BatchID, &c.ParentID, &c.Node, &c.Position, &c.Variant, &c.ConfigHash, &c.CacheKey,
		&c.Source, &c.SegmentKey, &state, &output, &metrics, &c.DurationMs, &c.WorkerID, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	c.State, c.Output = json.RawMessage(state), json.RawMessage(output)
	_ = json.Unmarshal([]byte(metrics), &c.Metrics)
	c.CreatedAt = parseTS(created)
	return &c, nil
}

func (r checkpoints) Get(ctx context.Context, id string) (*store.Checkpoint, error) {
	c, err := scanCheckpoint(r.db.QueryRowContext(ctx, `SELECT `+checkpointColumns+` FROM wtb_checkpoints WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	return c, nil
}

func (r checkpoints) Existing(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := r.db.QueryContext(ctx, `SELECT id FROM wtb_checkpoints WHERE id IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("looking up checkpoints: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = true
		}
		rows.Close()
	}
	return out, nil
}

func (r checkpoints) ListByBatch(ctx context.Context, batchID string) ([]store.Checkpoint, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT id, batch_test_id, parent_id, node, position, variant, config_hash, cache_key,
		source, segment_key, '{}', output, metrics, duration_ms, worker_id, created_at
		FROM wtb_checkpoints WHERE batch_test_id = ? ORDER BY created_at, id`, batchID)
	if err != nil {
		return nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	defer rows.Close()
	var out []store.Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

func (r checkpoints) FindCached(ctx context.Context, key string) (*store.Checkpoint, error) {
	c, err := scanCheckpoint(r.db.QueryRowContext(ctx, `SELECT `+checkpointColumns+` FROM wtb_checkpoints
		WHERE cache_key = ? AND source = 'ran' ORDER BY created_at LIMIT 1`, key))
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (r checkpoints) CacheStats(ctx context.Context) (store.CacheStats, error) {
	var s store.CacheStats
	err := r.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(LENGTH(state)), 0), COUNT(DISTINCT batch_test_id)
		FROM wtb_checkpoints WHERE cache_key <> '' AND source = 'ran'`).Scan(&s.Entries, &s.Bytes, &s.Batches)
	return s, err
}

func (r checkpoints) ClearCache(ctx context.Context) (int, error) {
	res, err := r.db.ExecContext(ctx, `UPDATE wtb_checkpoints SET cache_key = '' WHERE cache_key <> ''`)
	if err != nil {
		return 0, fmt.Errorf("clearing the cache: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

type audit struct{ db *sql.DB }

func (r audit) Append(ctx context.Context, entries []store.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning audit write: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO wtb_audit_log
		(id, batch_test_id, ts, severity, event_type, message, execution_key, node, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := stmt.ExecContext(ctx, e.ID, e.BatchID, ts(e.Time), e.Severity, e.EventType, e.Message,
			e.ExecutionKey, e.Node, jsonText(e.Details)); err != nil {
			return fmt.Errorf("storing audit entry: %w", err)
		}
	}
	_ = stmt.Close()
	return tx.Commit()
}

func (r audit) List(ctx context.Context, batchID string, f store.AuditFilter) ([]store.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1 << 30
	}
	// The severity filter is part of the query, so a limit counts entries that
	// pass it.
	sev := store.SeveritiesAtLeast(f.MinSeverity)
	args := []any{batchID, f.EventType, f.EventType}
	for _, s := range sev {
		args = append(args, s)
	}
	args = append(args, limit)
	rows, err := r.db.QueryContext(ctx, `SELECT id, batch_test_id, ts, severity, event_type, message, execution_key, node, details
		FROM wtb_audit_log WHERE batch_test_id = ? AND (? = '' OR event_type = ?) AND severity IN (?`+strings.Repeat(",?", len(sev)-1)+`)
		ORDER BY ts, rowid LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing audit entries: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var t, details string
		if err := rows.Scan(&e.ID, &e.BatchID, &t, &e.Severity, &e.EventType, &e.Message, &e.ExecutionKey, &e.Node, &details); err != nil {
			return nil, err
		}
		e.Time, e.Details = parseTS(t), json.RawMessage(details)
		out = append(out, e)
	}
	return out, rows.Err()
}
