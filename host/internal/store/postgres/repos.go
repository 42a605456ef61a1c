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
	var parent any
	if b.ParentID != "" {
		parent = b.ParentID
	}
	attempt := 0
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		attempt++
		_, err := r.s.pool.Exec(ctx, `INSERT INTO wtb_batch_tests
			(id, name, file, status, spec, spec_hash, parent_batch_id, fork_node, runner, total_executions, host,
			 wtb_version, created_at, started_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			b.ID, b.Name, b.File, b.Status, string(b.Spec), b.SpecHash, parent, b.ForkNode, b.Runner, b.Total, b.Host,
			b.Version, b.CreatedAt, b.StartedAt)
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
	return nil
}

const batchColumns = `id, name, file, status, spec, spec_hash, COALESCE(parent_batch_id, ''), fork_node, runner,
	total_executions, host, wtb_version, summary, created_at, started_at, finished_at,
	owner, COALESCE(lease_until > now(), false)`

func scanBatch(row pgx.Row) (*store.Batch, error) {
	var b store.Batch
	var spec, summary []byte
	if err := row.Scan(&b.ID, &b.Name, &b.File, &b.Status, &spec, &b.SpecHash, &b.ParentID, &b.ForkNode, &b.Runner,
		&b.Total, &b.Host, &b.Version, &summary, &b.CreatedAt, &b.StartedAt, &b.FinishedAt, &b.Owner, &b.LeaseLive); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	b.Spec = spec
	if len(summary) > 0 {
		b.Summary = summary
	}
	return &b, nil
}

func (r batches) one(ctx context.Context, query string, args ...any) (*store.Batch, error) {
	var b *store.Batch
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		var err error
		b, err = scanBatch(r.s.pool.QueryRow(ctx, query, args...))
		return err
	})
	return b, err
}

func (r batches) Get(ctx context.Context, id string) (*store.Batch, error) {
	b, err := r.one(ctx, `SELECT `+batchColumns+` FROM wtb_batch_tests WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", id, err)
	}
	return b, nil
}

func (r batches) Latest(ctx context.Context) (*store.Batch, error) {
	b, err := r.one(ctx, `SELECT `+batchColumns+` FROM wtb_batch_tests ORDER BY created_at DESC, id DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("latest batch: %w", err)
	}
	return b, nil
}

func (r batches) List(ctx context.Context, limit int) ([]store.Batch, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []store.Batch
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		out = nil
		rows, err := r.s.pool.Query(ctx, `SELECT `+batchColumns+` FROM wtb_batch_tests ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBatch(rows)
			if err != nil {
				return err
			}
			out = append(out, *b)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	return out, nil
}

func (r batches) SetStatus(ctx context.Context, id, status string, finished *time.Time, summary json.RawMessage) error {
	var sum any
	if len(summary) > 0 {
		sum = string(summary)
	}
	var n int64
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		tag, err := r.s.pool.Exec(ctx, `UPDATE wtb_batch_tests SET status = $1, finished_at = $2, summary = COALESCE($3::jsonb, summary) WHERE id = $4`,
			status, finished, sum, id)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("updating batch %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
	}
	return nil
}

func (r batches) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		tag, err := r.s.pool.Exec(ctx, sql, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

func (r batches) Acquire(ctx context.Context, id, owner string, ttl time.Duration) error {
	n, err := r.exec(ctx, `UPDATE wtb_batch_tests SET owner = $1, lease_until = now() + make_interval(secs => $2)
		WHERE id = $3 AND (owner = '' OR owner = $1 OR lease_until IS NULL OR lease_until <= now())`,
		owner, ttl.Seconds(), id)
	if err != nil {
		return fmt.Errorf("taking ownership of batch %s: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	b, err := r.Get(ctx, id)
	if err != nil {
		return err
	}
	return &store.LeaseHeldError{Batch: id, Owner: b.Owner}
}

func (r batches) Renew(ctx context.Context, id, owner string, ttl time.Duration) error {
	n, err := r.exec(ctx, `UPDATE wtb_batch_tests SET lease_until = now() + make_interval(secs => $1) WHERE id = $2 AND owner = $3`,
		ttl.Seconds(), id, owner)
	if err != nil {
		return fmt.Errorf("renewing the lease on batch %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("batch %s: %w", id, store.ErrLeaseLost)
	}
	return nil
}

func (r batches) Takeover(ctx context.Context, id, dead, owner string, ttl time.Duration) error {
	n, err := r.exec(ctx, `UPDATE wtb_batch_tests SET owner = $1, lease_until = now() + make_interval(secs => $2) WHERE id = $3 AND owner = $4`,
		owner, ttl.Seconds(), id, dead)
	if err != nil {
		return fmt.Errorf("taking over batch %s: %w", id, err)
	}
	if n == 0 {
		return r.Acquire(ctx, id, owner, ttl) // released or taken meanwhile
	}
	return nil
}

func (r batches) Release(ctx context.Context, id, owner string) error {
	if _, err := r.exec(ctx, `UPDATE wtb_batch_tests SET owner = '', lease_until = NULL WHERE id = $1 AND owner = $2`, id, owner); err != nil {
		return fmt.Errorf("releasing batch %s: %w", id, err)
	}
	return nil
}

type results struct{ s *Store }

func (r results) Keys(ctx context.Context, batchID string) (map[string]bool, error) {
	out := map[string]bool{}
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		clear(out)
		rows, err := r.s.pool.Query(ctx, `SELECT execution_key FROM wtb_batch_test_results WHERE batch_test_id = $1`, batchID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			out[k] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing stored executions: %w", err)
	}
	return out, nil
}

const resultColumns = `batch_test_id, execution_key, execution_id, combination_name, variant_config, case_id, repeat_index,
	status, success, error, failed_node, failure_kind, metrics, scores, overall_score, passed, duration_ms, worker_id,
	attempts, final_checkpoint_id, created_at`

func scanResult(row pgx.Row) (*store.Result, error) {
	var r store.Result
	var variants, metrics, scores []byte
	if err := row.Scan(&r.BatchID, &r.ExecutionKey, &r.ExecutionID, &r.Combination, &variants, &r.CaseID, &r.Repeat,
		&r.Status, &r.Success, &r.Error, &r.FailedNode, &r.FailureKind, &metrics, &scores, &r.OverallScore, &r.Passed,
		&r.DurationMs, &r.WorkerID, &r.Attempts, &r.FinalCheckpointID, &r.CreatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	_ = json.Unmarshal(variants, &r.Variants)
	_ = json.Unmarshal(metrics, &r.Metrics)
	_ = json.Unmarshal(scores, &r.Scores)
	return &r, nil
}

func (r results) List(ctx context.Context, batchID string) ([]store.Result, error) {
	var out []store.Result
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		out = nil
		rows, err := r.s.pool.Query(ctx, `SELECT `+resultColumns+` FROM wtb_batch_test_results WHERE batch_test_id = $1 ORDER BY id`, batchID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			res, err := scanResult(rows)
			if err != nil {
				return err
			}
			out = append(out, *res)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing results: %w", err)
	}
	return out, nil
}

func (r results) Get(ctx context.Context, batchID, key string) (*store.Result, error) {
	var res *store.Result
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = scanResult(r.s.pool.QueryRow(ctx, `SELECT `+resultColumns+` FROM wtb_batch_test_results WHERE batch_test_id = $1 AND execution_key = $2`, batchID, key))
		return err
	})
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

const checkpointColumns = `id, batch_test_id, parent_id, node, position, variant, config_hash, cache_key, source, segment_key,
	state, output, metrics, duration_ms, worker_id, created_at`

func scanCheckpoint(row pgx.Row) (*store.Checkpoint, error) {
	var c store.Checkpoint
	var state, output, metrics []byte
	if err := row.Scan(&c.ID, &c.BatchID, &c.ParentID, &c.Node, &c.Position, &c.Variant, &c.ConfigHash, &c.CacheKey,
		&c.Source, &c.SegmentKey, &state, &output, &metrics, &c.DurationMs, &c.WorkerID, &c.CreatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	c.State, c.Output = state, output
	_ = json.Unmarshal(metrics, &c.Metrics)
	return &c, nil
}

func (r checkpoints) get(ctx context.Context, query string, args ...any) (*store.Checkpoint, error) {
	var c *store.Checkpoint
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		var err error
		c, err = scanCheckpoint(r.s.pool.QueryRow(ctx, query, args...))
		return err
	})
	return c, err
}

func (r checkpoints) Get(ctx context.Context, id string) (*store.Checkpoint, error) {
	c, err := r.get(ctx, `SELECT `+checkpointColumns+` FROM wtb_checkpoints WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	return c, nil
}

func (r checkpoints) Existing(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		clear(out)
		rows, err := r.s.pool.Query(ctx, `SELECT id FROM wtb_checkpoints WHERE id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("looking up checkpoints: %w", err)
	}
	return out, nil
}

func (r checkpoints) ListByBatch(ctx context.Context, batchID string) ([]store.Checkpoint, error) {
	var out []store.Checkpoint
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		out = nil
		rows, err := r.s.pool.Query(ctx, `SELECT id, batch_test_id, parent_id, node, position, variant, config_hash, cache_key,
			source, segment_key, '{}'::jsonb, output, metrics, duration_ms, worker_id, created_at
			FROM wtb_checkpoints WHERE batch_test_id = $1 ORDER BY created_at, id`, batchID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCheckpoint(rows)
			if err != nil {
				return err
			}
			out = append(out, *c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	return out, nil
}

func (r checkpoints) FindCached(ctx context.Context, key string) (*store.Checkpoint, error) {
	return r.get(ctx, `SELECT `+checkpointColumns+` FROM wtb_checkpoints WHERE cache_key = $1 AND source = 'ran' ORDER BY created_at LIMIT 1`, key)
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
	if len(entries) == 0 {
		return nil
	}
	rows := make([][]any, len(entries))
	for i, e := range entries {
		rows[i] = auditRow(e)
	}
	return r.s.retries.do(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, r.s.pool, func(tx pgx.Tx) error { return auditTable.insert(ctx, tx, rows) })
	})
}

func (r audit) List(ctx context.Context, batchID string, f store.AuditFilter) ([]store.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1 << 30
	}
	var out []store.AuditEntry
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		out = nil
		// The severity filter is part of the query, so a limit counts entries
		// that pass it.
		rows, err := r.s.pool.Query(ctx, `SELECT id, batch_test_id, ts, severity, event_type, message, execution_key, node, details
			FROM wtb_audit_log WHERE batch_test_id = $1 AND ($2 = '' OR event_type = $2) AND severity = ANY($4)
			ORDER BY ts, id LIMIT $3`,
			batchID, f.EventType, limit, store.SeveritiesAtLeast(f.MinSeverity))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.AuditEntry
			var details []byte
			if err := rows.Scan(&e.ID, &e.BatchID, &e.Time, &e.Severity, &e.EventType, &e.Message, &e.ExecutionKey, &e.Node, &details); err != nil {
				return err
			}
			e.Details = details
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing audit entries: %w", err)
	}
	return out, nil
}
