package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlstore"
)

// WriteResultsOneByOne is the slow baseline of the write benchmark: one
// INSERT per row, each its own round trip, in one transaction.
func (s *Store) WriteResultsOneByOne(ctx context.Context, rs []store.Result) error {
	t := store.Results
	rows := sqlstore.RowsOf(dialect{s}, t, rs)
	sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT %s DO NOTHING", t.Name, t.Names(), placeholders(rows), t.Conflict)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i := range rs {
			if _, err := tx.Exec(ctx, sql, rows.Args(nil, i)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Pool exposes the connection pool to tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// OpenAsIs opens a database without migrating it: the benchmarks compare
// the schema before partitions (version 11) with the one after.
func OpenAsIs(ctx context.Context, url string) (*Store, error) {
	return open(ctx, url, Options{}, false)
}
