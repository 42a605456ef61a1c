package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
)

// Retention: reclaiming the space of deleted batches.

// retention is the part of the retention repository that is the backend's
// own (see sqlstore.Space).
type retention struct{ s *Store }

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
