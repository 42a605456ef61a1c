package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/wtbench/wtb/host/internal/store"
)

type batches struct{ s *Store }

func (r batches) Create(ctx context.Context, b *store.Batch) error {
	attempt := 0
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		attempt++
		_, err := r.s.pool.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", store.Batches.Name, store.Batches.Names(),
			placeholders(store.Batches)), rowArgs(store.Batches, b)...)
		// A retry after a commit whose reply was lost finds its own row.
		var pgErr *pgconn.PgError
		if attempt > 1 && errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("creating batch %s: %w", b.ID, err)
	}
	r.s.ensurePartitions(ctx, b.ID)
	return nil
}

func (r batches) Get(ctx context.Context, id string) (*store.Batch, error) {
	b, err := one(ctx, r.s, store.Batches, "WHERE id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", id, err)
	}
	return b, nil
}

func (r batches) Latest(ctx context.Context) (*store.Batch, error) {
	b, err := one(ctx, r.s, store.Batches, "ORDER BY created_at DESC, id DESC LIMIT 1")
	if err != nil {
		return nil, fmt.Errorf("latest batch: %w", err)
	}
	return b, nil
}

func (r batches) List(ctx context.Context, limit int) ([]store.Batch, error) {
	if limit <= 0 {
		limit = 50
	}
	out, err := all(ctx, r.s, store.Batches, nil, "ORDER BY created_at DESC, id DESC LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	return out, nil
}

// exec runs a statement (retried on transient errors) and returns the number
// of rows it touched.
func (r batches) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		tag, err := r.s.pool.Exec(ctx, sql, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// exactlyOne runs an UPDATE of one batch and returns notFound (wrapped) when
// it touched none.
func (r batches) exactlyOne(ctx context.Context, id, what string, notFound error, query string, args ...any) error {
	n, err := r.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("batch %s: %w", id, notFound)
	}
	return nil
}

func (r batches) SetStatus(ctx context.Context, id, status string, finished *time.Time, summary json.RawMessage) error {
	var sum any
	if len(summary) > 0 {
		sum = string(summary)
	}
	return r.exactlyOne(ctx, id, "updating batch "+id, store.ErrNotFound,
		`UPDATE wtb_batch_tests SET status = $1, finished_at = $2, summary = COALESCE($3::jsonb, summary) WHERE id = $4`,
		status, finished, sum, id)
}

func (r batches) SetDecisions(ctx context.Context, id string, ds []store.Decision) error {
	return r.exactlyOne(ctx, id, "storing the decisions of batch "+id, store.ErrNotFound,
		`UPDATE wtb_batch_tests SET decisions = $1::jsonb WHERE id = $2`, store.JSONText(ds), id)
}

// errHeld marks an ownership update that touched no row.
var errHeld = errors.New("held by another owner")

func (r batches) Acquire(ctx context.Context, id, owner string, ttl time.Duration) error {
	err := r.exactlyOne(ctx, id, "taking ownership of batch "+id, errHeld,
		`UPDATE wtb_batch_tests SET owner = $1, lease_until = now() + make_interval(secs => $2)`+clearCancel+`
		WHERE id = $3 AND (owner = '' OR owner = $1 OR lease_until IS NULL OR lease_until <= now())`,
		owner, ttl.Seconds(), id)
	if !errors.Is(err, errHeld) {
		return err
	}
	b, err := r.Get(ctx, id)
	if err != nil {
		return err
	}
	return &store.LeaseHeldError{Batch: id, Owner: b.Owner}
}

func (r batches) Renew(ctx context.Context, id, owner string, ttl time.Duration) error {
	return r.exactlyOne(ctx, id, "renewing the lease on batch "+id, store.ErrLeaseLost,
		`UPDATE wtb_batch_tests SET lease_until = now() + make_interval(secs => $1) WHERE id = $2 AND owner = $3`,
		ttl.Seconds(), id, owner)
}

func (r batches) Takeover(ctx context.Context, id, dead, owner string, ttl time.Duration) error {
	err := r.exactlyOne(ctx, id, "taking over batch "+id, errHeld,
		`UPDATE wtb_batch_tests SET owner = $1, lease_until = now() + make_interval(secs => $2)`+clearCancel+` WHERE id = $3 AND owner = $4`,
		owner, ttl.Seconds(), id, dead)
	if errors.Is(err, errHeld) {
		return r.Acquire(ctx, id, owner, ttl) // released or taken meanwhile
	}
	return err
}

func (r batches) Release(ctx context.Context, id, owner string) error {
	if _, err := r.exec(ctx, `UPDATE wtb_batch_tests SET owner = '', lease_until = NULL WHERE id = $1 AND owner = $2`, id, owner); err != nil {
		return fmt.Errorf("releasing batch %s: %w", id, err)
	}
	return nil
}

type results struct{ s *Store }

func (r results) Each(ctx context.Context, batchID string, fn func(*store.Result) error) error {
	if err := each(ctx, r.s, store.Results, "WHERE batch_test_id = $1 ORDER BY execution_key", []any{batchID}, fn); err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	return nil
}

func (r results) EachScored(ctx context.Context, batchID string, fn func(*store.Result) error) error {
	if err := eachWith(ctx, r.s, store.Results, store.ScoredOnly, "WHERE batch_test_id = $1 ORDER BY execution_key", []any{batchID}, fn); err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	return nil
}

func (r results) List(ctx context.Context, batchID string) ([]store.Result, error) {
	out, err := all(ctx, r.s, store.Results, nil, "WHERE batch_test_id = $1 ORDER BY id", batchID)
	if err != nil {
		return nil, fmt.Errorf("listing results: %w", err)
	}
	return out, nil
}

func (r results) Query(ctx context.Context, batchID string, q store.ResultQuery) ([]store.Result, int, error) {
	order, err := q.OrderBy(` COLLATE "C"`)
	if err != nil {
		return nil, 0, err
	}
	cond, extra := q.Where(func(n int) string { return fmt.Sprintf("$%d", n) })
	args := append([]any{batchID}, extra...)
	total := -1
	if !q.NoTotal {
		err := r.s.retries.do(ctx, func(ctx context.Context) error {
			return r.s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM wtb_batch_test_results WHERE batch_test_id = $1`+cond, args...).Scan(&total)
		})
		if err != nil {
			return nil, 0, fmt.Errorf("counting results: %w", err)
		}
	}
	page := fmt.Sprintf(" ORDER BY %s OFFSET %d", order, max(q.Offset, 0))
	if q.Limit > 0 {
		page += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	out, err := all(ctx, r.s, store.Results, nil, "WHERE batch_test_id = $1"+cond+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("querying results: %w", err)
	}
	return out, total, nil
}

func (r results) EachKey(ctx context.Context, batchID string, fn func(string)) error {
	return eachString(ctx, r.s, fn, `SELECT execution_key FROM wtb_batch_test_results WHERE batch_test_id = $1`, batchID)
}

// eachString calls fn with the single text column of each row of a query.
func eachString(ctx context.Context, s *Store, fn func(string), query string, args ...any) error {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	var v string
	_, err = pgx.ForEachRow(rows, []any{&v}, func() error { fn(v); return nil })
	return err
}

func (r results) Get(ctx context.Context, batchID, key string) (*store.Result, error) {
	res, err := one(ctx, r.s, store.Results, "WHERE batch_test_id = $1 AND execution_key = $2", batchID, key)
	if err != nil {
		return nil, fmt.Errorf("result %s: %w", key, err)
	}
	return res, nil
}

func (r results) Count(ctx context.Context, batchID string) (int, error) {
	var n int
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		return r.s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM wtb_batch_test_results WHERE batch_test_id = $1`, batchID).Scan(&n)
	})
	return n, err
}

type checkpoints struct{ s *Store }

func (r checkpoints) Get(ctx context.Context, id string) (*store.Checkpoint, error) {
	c, err := one(ctx, r.s, store.Checkpoints, "WHERE id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	return c, nil
}

func (r checkpoints) EachID(ctx context.Context, batchID string, fn func(string)) error {
	return eachString(ctx, r.s, fn, `SELECT id FROM wtb_checkpoints WHERE batch_test_id = $1`, batchID)
}

func (r checkpoints) ListByBatch(ctx context.Context, batchID string) ([]store.Checkpoint, error) {
	out, err := all(ctx, r.s, store.Checkpoints, map[string]string{"state": "'{}'::jsonb"}, "WHERE batch_test_id = $1 ORDER BY created_at, id", batchID)
	if err != nil {
		return nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	return out, nil
}

func (r checkpoints) FindCached(ctx context.Context, key string) (*store.Checkpoint, error) {
	return one(ctx, r.s, store.Checkpoints, "WHERE cache_key = $1 AND source = 'ran' ORDER BY created_at LIMIT 1", key)
}

func (r checkpoints) CacheStats(ctx context.Context) (store.CacheStats, error) {
	var s store.CacheStats
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		return r.s.pool.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(pg_column_size(state)), 0), COUNT(DISTINCT batch_test_id)
			FROM wtb_checkpoints WHERE cache_key <> '' AND source = 'ran'`).Scan(&s.Entries, &s.Bytes, &s.Batches)
	})
	return s, err
}

func (r checkpoints) ClearCache(ctx context.Context) (int, error) {
	var n int64
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		tag, err := r.s.pool.Exec(ctx, `UPDATE wtb_checkpoints SET cache_key = '' WHERE cache_key <> ''`)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("clearing the cache: %w", err)
	}
	return int(n), nil
}

type audit struct{ s *Store }

func (r audit) Append(ctx context.Context, entries []store.AuditEntry) error {
	return r.s.retries.do(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, r.s.pool, func(tx pgx.Tx) error { return insert(ctx, tx, store.Audit, entries) })
	})
}

func (r audit) List(ctx context.Context, batchID string, f store.AuditFilter) ([]store.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1 << 30
	}
	// The severity filter is part of the query, so a limit counts entries that
	// pass it.
	out, err := all(ctx, r.s, store.Audit, nil, `WHERE batch_test_id = $1 AND ($2 = '' OR event_type = $2) AND severity = ANY($4)
		AND ts >= $5 AND ($6 = '' OR execution_key = $6) ORDER BY ts, id LIMIT $3`, batchID, f.EventType, limit, store.SeveritiesAtLeast(f.MinSeverity), f.Since, f.ExecutionKey)
	if err != nil {
		return nil, fmt.Errorf("listing audit entries: %w", err)
	}
	return out, nil
}
