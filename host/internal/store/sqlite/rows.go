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

// How the store's column kinds travel in SQLite: times as RFC 3339 text with
// nanoseconds (sortable), booleans as 0/1, JSON as text.

const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTS(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// encode is a column's value of row as an SQLite parameter.
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
		return boolInt(*f)
	case *time.Time:
		return ts(*f)
	case **time.Time:
		if *f == nil {
			return nil
		}
		return ts(**f)
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

// scanInto reads one row into a T through the table's columns.
// Extra destinations after the table's columns take the query's further
// columns.
func scanInto[T any](t store.Table[T], sc interface{ Scan(...any) error }, extra ...any) (*T, error) {
	var row T
	dests := make([]any, len(t.Columns))
	texts := make([]sql.NullString, len(t.Columns))
	nums := make([]sql.NullFloat64, len(t.Columns))
	for i, c := range t.Columns {
		switch c.Field(&row).(type) {
		case *int, *bool:
			dests[i] = &nums[i]
		case *float64:
			dests[i] = &nums[i]
		default:
			dests[i] = &texts[i]
		}
	}
	if err := sc.Scan(append(dests, extra...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	for i, c := range t.Columns {
		switch f := c.Field(&row).(type) {
		case *string:
			*f = texts[i].String
		case *int:
			*f = int(nums[i].Float64)
		case *float64:
			*f = nums[i].Float64
		case *bool:
			*f = nums[i].Float64 != 0
		case *time.Time:
			*f = parseTS(texts[i].String)
		case **time.Time:
			if texts[i].Valid && texts[i].String != "" {
				t := parseTS(texts[i].String)
				*f = &t
			}
		default:
			if texts[i].Valid {
				store.Decode(c.Kind, f, []byte(texts[i].String))
			} else {
				store.Decode(c.Kind, f, nil)
			}
		}
	}
	return &row, nil
}

// selectList is a table's SELECT list in SQLite, with overrides for columns
// a query reads differently (a checkpoint listing without states, say).
func selectList[T any](t store.Table[T], override map[string]string) string {
	return t.Select(func(c store.Column[T]) string {
		if e, ok := override[c.Name]; ok {
			return e
		}
		switch {
		case c.Name == store.LeaseLive:
			return "COALESCE(lease_until > julianday('now'), 0)"
		case c.Kind == store.OptText:
			return "COALESCE(" + c.Name + ", '')"
		}
		return c.Name
	})
}

// each runs a query over table t and calls fn with each row; the query's
// SELECT list is the table's (rest is FROM … WHERE … ORDER BY …).
func each[T any](ctx context.Context, db *sql.DB, t store.Table[T], override map[string]string, rest string, args []any, fn func(*T) error) error {
	rows, err := db.QueryContext(ctx, "SELECT "+selectList(t, override)+" FROM "+t.Name+" "+rest, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		row, err := scanInto(t, rows)
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// all collects the rows of a query over table t.
func all[T any](ctx context.Context, db *sql.DB, t store.Table[T], override map[string]string, rest string, args ...any) ([]T, error) {
	var out []T
	err := each(ctx, db, t, override, rest, args, func(row *T) error {
		out = append(out, *row)
		return nil
	})
	return out, err
}

// one reads the single row of a query over table t, or store.ErrNotFound.
func one[T any](ctx context.Context, db *sql.DB, t store.Table[T], rest string, args ...any) (*T, error) {
	return scanInto(t, db.QueryRowContext(ctx, "SELECT "+selectList(t, nil)+" FROM "+t.Name+" "+rest, args...))
}

// rowsPerStatement is how many rows one multi-row INSERT carries: fewer
// statements are much cheaper than one per row through database/sql.
const rowsPerStatement = 64

// insert writes rows into table t idempotently (INSERT OR IGNORE), many rows
// per statement.
func insert[T any](ctx context.Context, tx *sql.Tx, t store.Table[T], rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	cols := t.Writable()
	prefix := "INSERT OR IGNORE INTO " + t.Name + " (" + t.Names() + ") VALUES "
	one := "(?" + strings.Repeat(",?", len(cols)-1) + ")"
	perStmt := min(rowsPerStatement, max(1, 32766/len(cols))) // SQLite's parameter limit
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, len(cols)*perStmt)
	for start := 0; start < len(rows); start += perStmt {
		n := min(perStmt, len(rows)-start)
		args = args[:0]
		for i := start; i < start+n; i++ {
			for _, c := range cols {
				args = append(args, encode(c, &rows[i]))
			}
		}
		stmt := full
		if n != perStmt || stmt == nil {
			var err error
			stmt, err = tx.PrepareContext(ctx, prefix+one+strings.Repeat(","+one, n-1))
			if err != nil {
				return err
			}
			if n == perStmt {
				full = stmt
			} else {
				defer stmt.Close()
			}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}
