package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/wtbench/wtb/host/internal/store"
)

// How the store's column kinds travel in PostgreSQL: native booleans,
// numbers and timestamptz; JSON as JSONB, sent as text with a ::jsonb cast
// (in the exec query mode parameter types come from Go types, and text is
// what PostgreSQL accepts for JSONB; COPY knows the column types).

// encode is a column's value of row as a PostgreSQL parameter.
func encode[T any](c store.Column[T], row *T) any {
	switch f := c.Field(row).(type) {
	case *string:
		if c.Kind == store.OptText && *f == "" {
			return nil
		}
		return *f
	case *int:
		return *f
	case *float64:
		return *f
	case *bool:
		return *f
	case *time.Time:
		return *f
	case **time.Time:
		return *f
	case *json.RawMessage:
		if c.Kind == store.OptJSON && len(*f) == 0 {
			return nil
		}
		return store.JSONText(*f)
	case *map[string]string:
		return store.JSONText(*f)
	case *map[string]float64:
		return store.JSONText(*f)
	case *[]store.LogLine:
		return store.JSONText(*f)
	case *[]store.Decision:
		return store.JSONText(*f)
	}
	panic(fmt.Sprintf("store: column %s has an unknown field type", c.Name))
}

func isJSON(k store.Kind) bool {
	return k == store.JSON || k == store.OptJSON || k == store.StringMap || k == store.FloatMap || k == store.Logs || k == store.List
}

// rowOf is a RowToFunc for pgx's collectors: one row into a T through the
// table's columns.
func rowOf[T any](t store.Table[T]) pgx.RowToFunc[T] { return rowWith(t) }

// rowWith is rowOf for a query with further columns after the table's, which
// extra destinations take.
func rowWith[T any](t store.Table[T], extra ...any) pgx.RowToFunc[T] {
	return func(r pgx.CollectableRow) (T, error) {
		var row T
		dests := make([]any, len(t.Columns))
		raw := make([][]byte, len(t.Columns))
		texts := make([]*string, len(t.Columns))
		for i, c := range t.Columns {
			field := c.Field(&row)
			switch {
			case isJSON(c.Kind):
				dests[i] = &raw[i]
			case c.Kind == store.OptText:
				dests[i] = &texts[i]
			default:
				dests[i] = field
			}
		}
		if err := r.Scan(append(dests, extra...)...); err != nil {
			return row, err
		}
		for i, c := range t.Columns {
			switch {
			case isJSON(c.Kind):
				store.Decode(c.Kind, c.Field(&row), raw[i])
			case c.Kind == store.OptText && texts[i] != nil:
				*c.Field(&row).(*string) = *texts[i]
			}
		}
		return row, nil
	}
}

// selectList is a table's SELECT list in PostgreSQL, with overrides.
func selectList[T any](t store.Table[T], override map[string]string) string {
	return t.Select(func(c store.Column[T]) string {
		if e, ok := override[c.Name]; ok {
			return e
		}
		if c.Name == store.LeaseLive {
			return "COALESCE(lease_until > now(), false)"
		}
		return c.Name
	})
}

func selectFrom[T any](t store.Table[T], override map[string]string, rest string) string {
	return "SELECT " + selectList(t, override) + " FROM " + t.Name + " " + rest
}

// all collects the rows of a query over table t (retried on transient errors).
func all[T any](ctx context.Context, s *Store, t store.Table[T], override map[string]string, rest string, args ...any) ([]T, error) {
	var out []T
	err := s.retries.do(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, selectFrom(t, override, rest), args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, rowOf(t))
		return err
	})
	return out, err
}

// each streams the rows of a query over table t to fn. It is not retried:
// fn may have seen rows already when the connection breaks.
func each[T any](ctx context.Context, s *Store, t store.Table[T], rest string, args []any, fn func(*T) error) error {
	return eachWith(ctx, s, t, nil, rest, args, fn)
}

// eachWith is each with some columns read as other expressions.
func eachWith[T any](ctx context.Context, s *Store, t store.Table[T], override map[string]string, rest string, args []any, fn func(*T) error) error {
	rows, err := s.pool.Query(ctx, selectFrom(t, override, rest), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	to := rowOf(t)
	for rows.Next() {
		row, err := to(rows)
		if err != nil {
			return err
		}
		if err := fn(&row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// one reads the single row of a query over table t, or store.ErrNotFound.
func one[T any](ctx context.Context, s *Store, t store.Table[T], rest string, args ...any) (*T, error) {
	var out T
	err := s.retries.do(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, selectFrom(t, nil, rest), args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, rowOf(t))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// placeholders returns "$1, $2::jsonb, ..." for one row of t.
func placeholders[T any](t store.Table[T]) string {
	cols := t.Writable()
	ph := make([]string, len(cols))
	for i, c := range cols {
		ph[i] = fmt.Sprintf("$%d", i+1)
		if isJSON(c.Kind) {
			ph[i] += "::jsonb"
		}
	}
	return strings.Join(ph, ", ")
}

func rowArgs[T any](t store.Table[T], row *T) []any {
	cols := t.Writable()
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = encode(c, row)
	}
	return args
}

// isUniqueViolation reports a row that is already stored.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// partitionedKeys are the keys writes conflict on in the tables partitioned
// by month (migration 12), where a unique key must hold the partition key,
// the batch id: checkpoints' (id) became (id, batch_test_id), the same key
// since a checkpoint id is a hash of its batch id. Results' key holds the
// batch id already.
var partitionedKeys = map[string]string{store.Checkpoints.Name: "(id, batch_test_id)"}

// conflictKey is the key a write into t conflicts on in PostgreSQL.
func conflictKey[T any](t store.Table[T]) string {
	if k, ok := partitionedKeys[t.Name]; ok {
		return k
	}
	return t.Conflict
}

// copyThreshold is the row count from which COPY beats batched INSERTs.
const copyThreshold = 64

// insert writes rows into table t idempotently inside tx: a pipelined batch
// of INSERT … ON CONFLICT DO NOTHING for a few rows; COPY into a temporary
// table and one INSERT … SELECT … ON CONFLICT DO NOTHING for many.
func insert[T any](ctx context.Context, tx pgx.Tx, t store.Table[T], rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	cols := t.Names()
	if len(rows) < copyThreshold {
		sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT %s DO NOTHING", t.Name, cols, placeholders(t), conflictKey(t))
		var b pgx.Batch
		for i := range rows {
			b.Queue(sql, rowArgs(t, &rows[i])...)
		}
		return tx.SendBatch(ctx, &b).Close()
	}
	names := make([]string, 0, len(t.Columns))
	for _, c := range t.Writable() {
		names = append(names, c.Name)
	}
	source := func() pgx.CopyFromSource {
		i := 0
		return pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(rows) {
				return nil, nil
			}
			i++
			return rowArgs(t, &rows[i-1]), nil
		})
	}
	// Most writes add rows nobody stored yet: COPY them straight into the
	// table, inside a savepoint. A row already there (a write retried after
	// its commit was lost, a resume) fails the whole COPY with a unique
	// violation; then the staged path below stores only the new rows.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := sp.CopyFrom(ctx, pgx.Identifier{t.Name}, names, source()); err == nil {
		return sp.Commit(ctx)
	} else if rerr := sp.Rollback(ctx); rerr != nil || !isUniqueViolation(err) {
		if rerr != nil {
			return rerr
		}
		return fmt.Errorf("copying into %s: %w", t.Name, err)
	}
	tmp := "wtb_tmp_" + strings.TrimPrefix(t.Name, "wtb_")
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP", tmp, t.Name)); err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tmp}, names, source()); err != nil {
		return fmt.Errorf("copying into %s: %w", tmp, err)
	}
	_, err = tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT %s DO NOTHING", t.Name, cols, cols, tmp, conflictKey(t)))
	return err
}
