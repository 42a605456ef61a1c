package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// Rowset is rows of one table to insert, as the dialect's Insert takes them:
// the table's description without its Go type.
type Rowset struct {
	Table    string
	Names    string       // the writable columns, comma-separated
	Columns  []ColumnInfo // the writable columns
	Conflict string       // the key a row already stored conflicts on
	Len      int
	// Args appends the arguments of row i, one per column, to dst.
	Args func(dst []any, i int) []any
}

// ColumnInfo is a column's name and kind.
type ColumnInfo struct {
	Name string
	Kind store.Kind
}

// IsJSON reports a kind stored as JSON.
func IsJSON(k store.Kind) bool {
	return k == store.JSON || k == store.OptJSON || k == store.StringMap || k == store.FloatMap || k == store.Logs || k == store.List
}

// RowsOf is rows of table t as a Rowset.
func RowsOf[T any](d Dialect, t store.Table[T], rows []T) Rowset {
	cols := t.Writable()
	info := make([]ColumnInfo, len(cols))
	for i, c := range cols {
		info[i] = ColumnInfo{c.Name, c.Kind}
	}
	return Rowset{Table: t.Name, Names: t.Names(), Columns: info, Conflict: t.Conflict, Len: len(rows),
		Args: func(dst []any, i int) []any {
			for _, c := range cols {
				dst = append(dst, Arg(d, c, &rows[i]))
			}
			return dst
		}}
}

func insert[T any](ctx context.Context, d Dialect, tx Conn, t store.Table[T], rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	return d.Insert(ctx, tx, RowsOf(d, t, rows))
}

// Arg is a column's value of row as a query argument.
func Arg[T any](d Dialect, c store.Column[T], row *T) any {
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
		return d.Bool(*f)
	case *time.Time:
		return d.Time(*f)
	case **time.Time:
		if *f == nil {
			return nil
		}
		return d.Time(**f)
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

// scanRow reads one row into a T through the table's columns. Extra
// destinations after the table's columns take the query's further columns.
func scanRow[T any](d Dialect, t store.Table[T], sc interface{ Scan(...any) error }, extra ...any) (*T, error) {
	var row T
	dests := make([]any, len(t.Columns), len(t.Columns)+len(extra))
	for i, c := range t.Columns {
		dests[i] = d.Dest(c.Kind, c.Field(&row))
	}
	if err := sc.Scan(append(dests, extra...)...); err != nil {
		if errors.Is(err, ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	for i, c := range t.Columns {
		d.Fill(c.Kind, c.Field(&row), dests[i])
	}
	return &row, nil
}

// selectList is a table's SELECT list, with overrides for columns a query
// reads differently (a checkpoint listing without states, say).
func selectList[T any](d Dialect, t store.Table[T], override map[string]string) string {
	return t.Select(func(c store.Column[T]) string {
		if e, ok := override[c.Name]; ok {
			return e
		}
		switch {
		case c.Name == store.LeaseLive:
			return "COALESCE(lease_until > " + d.Now() + ", " + d.False() + ")"
		case c.Kind == store.OptText:
			return "COALESCE(" + c.Name + ", '')"
		}
		return c.Name
	})
}

func selectFrom[T any](d Dialect, t store.Table[T], override map[string]string, rest string) string {
	return "SELECT " + selectList(d, t, override) + " FROM " + t.Name + " " + rest
}

// each streams the rows of a query over table t to fn (rest is WHERE …
// ORDER BY …). It is not retried: fn may have seen rows already when the
// connection breaks.
func each[T any](ctx context.Context, s *Store, t store.Table[T], override map[string]string, rest string, args []any, fn func(*T) error) error {
	rows, err := s.db.Query(ctx, selectFrom(s.d, t, override, rest), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		row, err := scanRow(s.d, t, rows)
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// all collects the rows of a query over table t (retried).
func all[T any](ctx context.Context, s *Store, t store.Table[T], override map[string]string, rest string, args ...any) ([]T, error) {
	var out []T
	err := s.d.Retry(ctx, func(ctx context.Context) error {
		out = nil
		return each(ctx, s, t, override, rest, args, func(row *T) error {
			out = append(out, *row)
			return nil
		})
	})
	return out, err
}

// one reads the single row of a query over table t, or store.ErrNotFound.
func one[T any](ctx context.Context, s *Store, t store.Table[T], rest string, args ...any) (*T, error) {
	var out *T
	err := s.d.Retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = scanRow(s.d, t, s.db.QueryRow(ctx, selectFrom(s.d, t, nil, rest), args...))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachString calls fn with the single text column of each row of a query.
func eachString(ctx context.Context, c Conn, fn func(string), query string, args ...any) error {
	rows, err := c.Query(ctx, query, args...)
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

// strings collects the single text column of a query's rows.
func column(ctx context.Context, c Conn, query string, args ...any) ([]string, error) {
	var out []string
	err := eachString(ctx, c, func(s string) { out = append(out, s) }, query, args...)
	return out, err
}

// params numbers a query's parameters ($N) in the order they are added,
// wherever the query's text names them.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return fmt.Sprintf("$%d", len(*p))
}
