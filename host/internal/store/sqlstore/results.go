package sqlstore

import (
	"context"
	"fmt"

	"github.com/wtbench/wtb/host/internal/store"
)

type results struct{ s *Store }

func (r results) Each(ctx context.Context, batchID string, fn func(*store.Result) error) error {
	if err := each(ctx, r.s, store.Results, nil, "WHERE batch_test_id = $1 ORDER BY execution_key", []any{batchID}, fn); err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	return nil
}

func (r results) EachScored(ctx context.Context, batchID string, fn func(*store.Result) error) error {
	if err := each(ctx, r.s, store.Results, store.ScoredOnly, "WHERE batch_test_id = $1 ORDER BY execution_key", []any{batchID}, fn); err != nil {
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
	order, err := q.OrderBy(r.s.d.Collate())
	if err != nil {
		return nil, 0, err
	}
	cond, extra := q.Where(func(n int) string { return fmt.Sprintf("$%d", n) })
	args := append([]any{batchID}, extra...)
	total := -1
	if !q.NoTotal {
		err := r.s.d.Retry(ctx, func(ctx context.Context) error {
			return r.s.db.QueryRow(ctx, `SELECT COUNT(*) FROM wtb_batch_test_results WHERE batch_test_id = $1`+cond, args...).Scan(&total)
		})
		if err != nil {
			return nil, 0, fmt.Errorf("counting results: %w", err)
		}
	}
	out, err := all(ctx, r.s, store.Results, nil, "WHERE batch_test_id = $1"+cond+" ORDER BY "+order+r.s.d.Page(q.Limit, q.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("querying results: %w", err)
	}
	return out, total, nil
}

func (r results) EachKey(ctx context.Context, batchID string, fn func(string)) error {
	return eachString(ctx, r.s.db, fn, `SELECT execution_key FROM wtb_batch_test_results WHERE batch_test_id = $1`, batchID)
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
	err := r.s.d.Retry(ctx, func(ctx context.Context) error {
		return r.s.db.QueryRow(ctx, `SELECT COUNT(*) FROM wtb_batch_test_results WHERE batch_test_id = $1`, batchID).Scan(&n)
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
	return eachString(ctx, r.s.db, fn, `SELECT id FROM wtb_checkpoints WHERE batch_test_id = $1`, batchID)
}

func (r checkpoints) ListByBatch(ctx context.Context, batchID string) ([]store.Checkpoint, error) {
	out, err := all(ctx, r.s, store.Checkpoints, map[string]string{"state": r.s.d.JSON("'{}'")}, "WHERE batch_test_id = $1 ORDER BY created_at, id", batchID)
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
	err := r.s.d.Retry(ctx, func(ctx context.Context) error {
		return r.s.db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(`+r.s.d.SizeOf("state")+`), 0), COUNT(DISTINCT batch_test_id)
			FROM wtb_checkpoints WHERE cache_key <> '' AND source = 'ran'`).Scan(&s.Entries, &s.Bytes, &s.Batches)
	})
	return s, err
}

func (r checkpoints) ClearCache(ctx context.Context) (int, error) {
	n, err := r.s.exec(ctx, `UPDATE wtb_checkpoints SET cache_key = '' WHERE cache_key <> ''`)
	if err != nil {
		return 0, fmt.Errorf("clearing the cache: %w", err)
	}
	return int(n), nil
}

type audit struct{ s *Store }

func (r audit) Append(ctx context.Context, entries []store.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := r.s.d.Retry(ctx, func(ctx context.Context) error {
		return r.s.db.InTx(ctx, func(tx Conn) error { return insert(ctx, r.s.d, tx, store.Audit, entries) })
	})
	if err != nil {
		return fmt.Errorf("storing audit entries: %w", err)
	}
	return nil
}

func (r audit) List(ctx context.Context, batchID string, f store.AuditFilter) ([]store.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1 << 30
	}
	// The severity filter is part of the query, so a limit counts entries that
	// pass it.
	d := r.s.d
	out, err := all(ctx, r.s, store.Audit, nil, `WHERE batch_test_id = $1 AND ($2 = '' OR event_type = $2) AND `+d.In("severity", "$4")+`
		AND ts >= $5 AND ($6 = '' OR execution_key = $6) ORDER BY ts, `+d.TieBreak("id")+` LIMIT $3`,
		batchID, f.EventType, limit, d.List(store.SeveritiesAtLeast(f.MinSeverity)), d.Time(f.Since), f.ExecutionKey)
	if err != nil {
		return nil, fmt.Errorf("listing audit entries: %w", err)
	}
	return out, nil
}
