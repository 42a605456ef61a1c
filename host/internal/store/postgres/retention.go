package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
)

// Cancel requests and retention: deleting batches with their rows.

// clearCancel is the SET clause that drops a cancel request: a new owner
// starts with none.
const clearCancel = ", cancel_requested_by = '', cancel_requested_at = NULL"

func (r batches) RequestCancel(ctx context.Context, id string, req store.CancelRequest) (*store.CancelRequest, error) {
	n, err := r.exec(ctx, `UPDATE wtb_batch_tests SET cancel_requested_by = $1, cancel_requested_at = $2
		WHERE id = $3 AND status = 'running' AND owner <> '' AND lease_until > now() AND cancel_requested_at IS NULL`,
		req.By, req.At, id)
	if err != nil {
		return nil, fmt.Errorf("requesting the cancel of batch %s: %w", id, err)
	}
	if n == 1 {
		return &req, nil
	}
	b, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.Status == store.StatusRunning && b.LeaseLive && b.CancelRequestedAt != nil {
		return &store.CancelRequest{By: b.CancelRequestedBy, At: *b.CancelRequestedAt}, nil
	}
	return nil, fmt.Errorf("batch %s: %w", id, store.ErrNotRunning)
}

func (r batches) CancelRequest(ctx context.Context, id string) (*store.CancelRequest, error) {
	var by string
	var at *time.Time
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		return r.s.pool.QueryRow(ctx, `SELECT cancel_requested_by, cancel_requested_at FROM wtb_batch_tests WHERE id = $1`, id).Scan(&by, &at)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("reading the cancel request of batch %s: %w", id, err)
	case at == nil:
		return nil, nil
	}
	return &store.CancelRequest{By: by, At: *at}, nil
}

// Retention is the store's retention repository.
func (s *Store) Retention() store.RetentionRepository { return retention{s} }

type retention struct{ s *Store }

// lightBatch reads a batch without the columns retention does not need.
var lightBatch = map[string]string{"spec": "'{}'::jsonb", "summary": "NULL::jsonb", "decisions": "'[]'::jsonb"}

func (r retention) All(ctx context.Context) ([]store.Batch, error) {
	out, err := all(ctx, r.s, store.Batches, lightBatch, "ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	return out, nil
}

// batchTablesSQL lists the tables that hold rows of batches: every table of
// the schema with a batch_test_id column (a partitioned table once, not each
// partition), so a table a later migration adds is covered without a change
// here.
const batchTablesSQL = `SELECT c.relname::text FROM pg_attribute a
	JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE a.attname = 'batch_test_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
	AND n.nspname = current_schema() AND c.relname <> 'wtb_batch_tests' ORDER BY 1`

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func batchTables(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.Query(ctx, batchTablesSQL)
	if err != nil {
		return nil, fmt.Errorf("listing the tables of batches: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (r retention) Count(ctx context.Context, id string) (store.RowCounts, error) {
	var out store.RowCounts
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		tables, err := batchTables(ctx, r.s.pool)
		if err != nil {
			return err
		}
		out = store.RowCounts{}
		for _, t := range tables {
			var n int64
			if err := r.s.pool.QueryRow(ctx, "SELECT COUNT(*) FROM "+pgx.Identifier{t}.Sanitize()+" WHERE batch_test_id = $1", id).Scan(&n); err != nil {
				return fmt.Errorf("counting the rows of batch %s in %s: %w", id, t, err)
			}
			out[t] = n
		}
		return nil
	})
	return out, err
}

// Delete runs in one transaction, retried whole on transient errors. The
// batch row is locked first (FOR UPDATE): a lease cannot be taken, a write
// of rows (which locks the row FOR KEY SHARE, see lockBatches) cannot start
// and a fork or rescore of it cannot be created until the deletion commits,
// after which they find no batch. Readers see the batch whole or not at all.
//
// One transaction rather than chunks, even for a million results: a batch
// never shows half deleted (a leaderboard of part of its rows, a checkpoint
// chain with holes), an interrupted deletion leaves it whole, and PostgreSQL
// deletes millions of rows in one transaction without lock escalation; the
// cost is WAL volume and dead rows for autovacuum either way.
func (r retention) Delete(ctx context.Context, id string, o store.DeleteOptions) (store.RowCounts, error) {
	var out store.RowCounts
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, r.s.pool, func(tx pgx.Tx) error {
			var owner string
			var live bool
			err := tx.QueryRow(ctx, `SELECT owner, COALESCE(lease_until > now(), false) FROM wtb_batch_tests WHERE id = $1 FOR UPDATE`, id).Scan(&owner, &live)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			if live && owner != "" && owner != o.DeadOwner {
				return &store.BatchRunningError{Batch: id, Owner: owner}
			}
			rows, err := tx.Query(ctx, `SELECT id FROM wtb_batch_tests WHERE parent_batch_id = $1 AND lineage = $2 ORDER BY created_at`, id, store.LineageRescore)
			if err != nil {
				return err
			}
			deps, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if len(deps) > 0 {
				return &store.DependentsError{Batch: id, Dependents: deps}
			}
			if _, err := tx.Exec(ctx, `UPDATE wtb_batch_tests SET parent_batch_id = NULL WHERE parent_batch_id = $1`, id); err != nil {
				return fmt.Errorf("detaching the forks of batch %s: %w", id, err)
			}
			tables, err := batchTables(ctx, tx)
			if err != nil {
				return err
			}
			out = store.RowCounts{}
			for _, t := range tables {
				tag, err := tx.Exec(ctx, "DELETE FROM "+pgx.Identifier{t}.Sanitize()+" WHERE batch_test_id = $1", id)
				if err != nil {
					return fmt.Errorf("deleting the rows of batch %s from %s: %w", id, t, err)
				}
				out[t] = tag.RowsAffected()
			}
			_, err = tx.Exec(ctx, `DELETE FROM wtb_batch_tests WHERE id = $1`, id)
			return err
		})
	})
	if err != nil {
		var running *store.BatchRunningError
		var deps *store.DependentsError
		if errors.As(err, &running) || errors.As(err, &deps) || errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("deleting batch %s: %w", id, err)
	}
	return out, nil
}

// Reclaim: PostgreSQL keeps the space of deleted rows for new ones
// (autovacuum marks it free); its files shrink only when a table's free
// pages are at its end (VACUUM truncates those) or with VACUUM FULL, which
// locks each table while it rewrites it and is left to an administrator.
// vacuum runs a plain VACUUM of the tables of batches now, rather than
// waiting for autovacuum: it blocks no reader or writer.
func (r retention) Reclaim(ctx context.Context, vacuum bool) (store.Reclaimed, error) {
	size := func() int64 {
		var n int64
		_ = r.s.pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
		return n
	}
	out := store.Reclaimed{Before: size()}
	out.Note = "PostgreSQL reuses the space of deleted rows for new ones (autovacuum); VACUUM FULL would give it back to the file system, locking each table while it rewrites it"
	if vacuum {
		tables, err := batchTables(ctx, r.s.pool)
		if err != nil {
			return out, err
		}
		for _, t := range append([]string{"wtb_batch_tests"}, tables...) {
			// VACUUM cannot run in a transaction block: one statement
			// each, which PgBouncer's transaction pooling passes as is.
			if _, err := r.s.pool.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize()); err != nil {
				return out, fmt.Errorf("VACUUM %s: %w", t, err)
			}
		}
		out.Note = "ran VACUUM on the tables of batches: their free space is reusable now and empty pages at their ends went back to the file system; " +
			"VACUUM FULL would give back the rest, locking each table while it rewrites it"
	}
	out.After = size()
	return out, nil
}
