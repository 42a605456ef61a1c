package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// The repositories: batches, results, checkpoints and the audit trail, each
// a view of the store's one database handle.

type batches struct{ db *sql.DB }

func (r batches) Create(ctx context.Context, b *store.Batch) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating batch %s: %w", b.ID, err)
	}
	defer func() { _ = tx.Rollback() }()
	// INSERT OR IGNORE would hide a duplicate id; a batch id is new or wrong.
	if _, err := tx.ExecContext(ctx, "INSERT INTO wtb_batch_tests ("+store.Batches.Names()+") VALUES (?"+
		strings.Repeat(",?", len(store.Batches.Writable())-1)+")", batchArgs(b)...); err != nil {
		return fmt.Errorf("creating batch %s: %w", b.ID, err)
	}
	return tx.Commit()
}

func batchArgs(b *store.Batch) []any {
	var args []any
	for _, c := range store.Batches.Writable() {
		args = append(args, encode(c, b))
	}
	return args
}

func (r batches) Get(ctx context.Context, id string) (*store.Batch, error) {
	b, err := one(ctx, r.db, store.Batches, "WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", id, err)
	}
	return b, nil
}

func (r batches) Latest(ctx context.Context) (*store.Batch, error) {
	b, err := one(ctx, r.db, store.Batches, "ORDER BY created_at DESC, rowid DESC LIMIT 1")
	if err != nil {
		return nil, fmt.Errorf("latest batch: %w", err)
	}
	return b, nil
}

func (r batches) List(ctx context.Context, limit int) ([]store.Batch, error) {
	if limit <= 0 {
		limit = 50
	}
	out, err := all(ctx, r.db, store.Batches, nil, "ORDER BY created_at DESC, rowid DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	return out, nil
}

func (r batches) SetStatus(ctx context.Context, id, status string, finished *time.Time, summary json.RawMessage) error {
	var fin, sum any
	if finished != nil {
		fin = ts(*finished)
	}
	if len(summary) > 0 {
		sum = string(summary)
	}
	return r.exactlyOne(ctx, id, "updating batch "+id, store.ErrNotFound,
		`UPDATE wtb_batch_tests SET status = ?, finished_at = ?, summary = COALESCE(?, summary) WHERE id = ?`, status, fin, sum, id)
}

func (r batches) SetDecisions(ctx context.Context, id string, ds []store.Decision) error {
	return r.exactlyOne(ctx, id, "storing the decisions of batch "+id, store.ErrNotFound,
		`UPDATE wtb_batch_tests SET decisions = ? WHERE id = ?`, store.JSONText(ds), id)
}

// exactlyOne runs an UPDATE of one batch and returns notFound (wrapped) when
// it touched none.
func (r batches) exactlyOne(ctx context.Context, id, what string, notFound error, query string, args ...any) error {
	res, err := r.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("batch %s: %w", id, notFound)
	}
	return nil
}

func (r batches) Acquire(ctx context.Context, id, owner string, ttl time.Duration) error {
	err := r.exactlyOne(ctx, id, "taking ownership of batch "+id, errHeld,
		`UPDATE wtb_batch_tests SET owner = ?, lease_until = julianday('now') + ? / 86400.0`+clearCancel+`
		WHERE id = ? AND (owner = '' OR owner = ? OR lease_until IS NULL OR lease_until <= julianday('now'))`,
		owner, ttl.Seconds(), id, owner)
	if !errors.Is(err, errHeld) {
		return err
	}
	b, err := r.Get(ctx, id)
	if err != nil {
		return err
	}
	return &store.LeaseHeldError{Batch: id, Owner: b.Owner}
}

// errHeld marks an ownership update that touched no row.
var errHeld = errors.New("held by another owner")

func (r batches) Renew(ctx context.Context, id, owner string, ttl time.Duration) error {
	return r.exactlyOne(ctx, id, "renewing the lease on batch "+id, store.ErrLeaseLost,
		`UPDATE wtb_batch_tests SET lease_until = julianday('now') + ? / 86400.0 WHERE id = ? AND owner = ?`, ttl.Seconds(), id, owner)
}

func (r batches) Takeover(ctx context.Context, id, dead, owner string, ttl time.Duration) error {
	err := r.exactlyOne(ctx, id, "taking over batch "+id, errHeld,
		`UPDATE wtb_batch_tests SET owner = ?, lease_until = julianday('now') + ? / 86400.0`+clearCancel+` WHERE id = ? AND owner = ?`,
		owner, ttl.Seconds(), id, dead)
	if errors.Is(err, errHeld) {
		return r.Acquire(ctx, id, owner, ttl) // released or taken meanwhile
	}
	return err
}

func (r batches) Release(ctx context.Context, id, owner string) error {
	if _, err := r.db.ExecContext(ctx, `UPDATE wtb_batch_tests SET owner = '', lease_until = NULL WHERE id = ? AND owner = ?`, id, owner); err != nil {
		return fmt.Errorf("releasing batch %s: %w", id, err)
	}
	return nil
}

type results struct{ db *sql.DB }

func (r results) Each(ctx context.Context, batchID string, fn func(*store.Result) error) error {
	if err := each(ctx, r.db, store.Results, nil, "WHERE batch_test_id = ? ORDER BY execution_key", []any{batchID}, fn); err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	return nil
}

func (r results) EachScored(ctx context.Context, batchID string, fn func(*store.Result) error) error {
	if err := each(ctx, r.db, store.Results, store.ScoredOnly, "WHERE batch_test_id = ? ORDER BY execution_key", []any{batchID}, fn); err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	return nil
}

func (r results) List(ctx context.Context, batchID string) ([]store.Result, error) {
	out, err := all(ctx, r.db, store.Results, nil, "WHERE batch_test_id = ? ORDER BY id", batchID)
	if err != nil {
		return nil, fmt.Errorf("listing results: %w", err)
	}
	return out, nil
}

func (r results) Query(ctx context.Context, batchID string, q store.ResultQuery) ([]store.Result, int, error) {
	order, err := q.OrderBy("")
	if err != nil {
		return nil, 0, err
	}
	cond, extra := q.Where(func(int) string { return "?" })
	args := append([]any{batchID}, extra...)
	total := -1
	if !q.NoTotal {
		if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM wtb_batch_test_results WHERE batch_test_id = ?`+cond, args...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("counting results: %w", err)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	out, err := all(ctx, r.db, store.Results, nil, "WHERE batch_test_id = ?"+cond+" ORDER BY "+order+" LIMIT ? OFFSET ?",
		append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("querying results: %w", err)
	}
	return out, total, nil
}

func (r results) EachKey(ctx context.Context, batchID string, fn func(string)) error {
	return eachString(ctx, r.db, fn, `SELECT execution_key FROM wtb_batch_test_results WHERE batch_test_id = ?`, batchID)
}

// eachString calls fn with the single text column of each row of a query.
func eachString(ctx context.Context, db *sql.DB, fn func(string), query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		fn(s)
	}
	return rows.Err()
}

func (r results) Get(ctx context.Context, batchID, key string) (*store.Result, error) {
	res, err := one(ctx, r.db, store.Results, "WHERE batch_test_id = ? AND execution_key = ?", batchID, key)
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

func (r checkpoints) Get(ctx context.Context, id string) (*store.Checkpoint, error) {
	c, err := one(ctx, r.db, store.Checkpoints, "WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	return c, nil
}

func (r checkpoints) EachID(ctx context.Context, batchID string, fn func(string)) error {
	return eachString(ctx, r.db, fn, `SELECT id FROM wtb_checkpoints WHERE batch_test_id = ?`, batchID)
}

func (r checkpoints) ListByBatch(ctx context.Context, batchID string) ([]store.Checkpoint, error) {
	out, err := all(ctx, r.db, store.Checkpoints, map[string]string{"state": "'{}'"}, "WHERE batch_test_id = ? ORDER BY created_at, id", batchID)
	if err != nil {
		return nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	return out, nil
}

func (r checkpoints) FindCached(ctx context.Context, key string) (*store.Checkpoint, error) {
	return one(ctx, r.db, store.Checkpoints, "WHERE cache_key = ? AND source = 'ran' ORDER BY created_at LIMIT 1", key)
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
	if err := insert(ctx, tx, store.Audit, entries); err != nil {
		return fmt.Errorf("storing audit entries: %w", err)
	}
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
	args := []any{batchID, f.EventType, f.EventType, f.ExecutionKey, f.ExecutionKey}
	for _, s := range sev {
		args = append(args, s)
	}
	args = append(args, ts(f.Since), limit)
	out, err := all(ctx, r.db, store.Audit, nil, `WHERE batch_test_id = ? AND (? = '' OR event_type = ?) AND (? = '' OR execution_key = ?)
		AND severity IN (?`+strings.Repeat(",?", len(sev)-1)+`) AND ts >= ? ORDER BY ts, rowid LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing audit entries: %w", err)
	}
	return out, nil
}
