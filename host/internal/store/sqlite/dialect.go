package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlstore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is how the store's queries and column kinds travel in SQLite:
// times as RFC 3339 text with nanoseconds (sortable) and leases as Julian
// days, booleans as 0/1, JSON as text, lists as JSON arrays read with
// json_each. Nothing is retried: a connection waits for SQLite's locks
// itself (busy_timeout).
type dialect struct{ s *Store }

var _ sqlstore.Dialect = dialect{}

const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTS(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

func (dialect) Time(t time.Time) any { return ts(t) }

func (dialect) Bool(b bool) any {
	if b {
		return 1
	}
	return 0
}

// Dest scans numbers and booleans as numbers, everything else as text, each
// possibly NULL.
func (dialect) Dest(_ store.Kind, field any) any {
	switch field.(type) {
	case *int, *bool, *float64:
		return new(sql.NullFloat64)
	}
	return new(sql.NullString)
}

func (dialect) Fill(kind store.Kind, field, dest any) {
	switch f := field.(type) {
	case *string:
		*f = dest.(*sql.NullString).String
	case *int:
		*f = int(dest.(*sql.NullFloat64).Float64)
	case *float64:
		*f = dest.(*sql.NullFloat64).Float64
	case *bool:
		*f = dest.(*sql.NullFloat64).Float64 != 0
	case *time.Time:
		*f = parseTS(dest.(*sql.NullString).String)
	case **time.Time:
		if t := dest.(*sql.NullString); t.Valid && t.String != "" {
			v := parseTS(t.String)
			*f = &v
		}
	default:
		if t := dest.(*sql.NullString); t.Valid {
			store.Decode(kind, f, []byte(t.String))
		} else {
			store.Decode(kind, f, nil)
		}
	}
}

func (dialect) Now() string                { return "julianday('now')" }
func (dialect) NowPlus(secs string) string { return "julianday('now') + " + secs + " / 86400.0" }
func (dialect) False() string              { return "0" }
func (dialect) JSON(expr string) string    { return expr }
func (dialect) In(col, param string) string {
	return col + " IN (SELECT value FROM json_each(" + param + "))"
}
func (dialect) List(values []string) any { return store.JSONText(values) }

func (dialect) Page(limit, offset int) string {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, max(offset, 0))
}

func (dialect) Collate() string        { return "" }
func (dialect) TieBreak(string) string { return "rowid" }

// Contains is LIKE, which ignores the case of ASCII letters only.
func (dialect) Contains(text, param string) string { return text + " LIKE " + param + ` ESCAPE '\'` }

// JSONAt: SQLite's -> gives a value's JSON (minified), or NULL when the path
// leads nowhere.
func (dialect) JSONAt(col string, path store.Path, param func(any) string) string {
	if path == nil {
		return "(" + col + " -> '$')"
	}
	return "(" + col + " -> " + param(path.SQLitePath()) + ")"
}

func (dialect) SizeOf(col string) string { return "LENGTH(" + col + ")" }
func (dialect) LockForUpdate() string    { return "" }
func (dialect) Ident(name string) string { return name }

func (dialect) BatchTables() string {
	return `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND p.name = 'batch_test_id' AND m.name <> 'wtb_batch_tests' ORDER BY m.name`
}

func (dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func (dialect) Retry(ctx context.Context, op func(ctx context.Context) error) error { return op(ctx) }

func (dialect) Insert(ctx context.Context, tx sqlstore.Conn, rows sqlstore.Rowset) error {
	return insert(ctx, tx.(txConn).tx, rows)
}

func (dialect) BeforeWrite(context.Context, sqlstore.Conn, store.WriteSet) error { return nil }

// AfterWrite keeps the write-ahead log bounded (see boundWAL).
func (d dialect) AfterWrite(ctx context.Context) { d.s.boundWAL(ctx) }

func (dialect) BatchCreated(context.Context, string) {}

// rowsPerStatement is how many rows one multi-row INSERT carries: fewer
// statements are much cheaper than one per row through database/sql.
const rowsPerStatement = 64

// insert writes rows idempotently (INSERT OR IGNORE), many rows per
// statement.
func insert(ctx context.Context, tx *sql.Tx, rs sqlstore.Rowset) error {
	if rs.Len == 0 {
		return nil
	}
	ncol := len(rs.Columns)
	prefix := "INSERT OR IGNORE INTO " + rs.Table + " (" + rs.Names + ") VALUES "
	one := "(?" + strings.Repeat(",?", ncol-1) + ")"
	perStmt := min(rowsPerStatement, max(1, 32766/ncol)) // SQLite's parameter limit
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, ncol*perStmt)
	for start := 0; start < rs.Len; start += perStmt {
		n := min(perStmt, rs.Len-start)
		args = args[:0]
		for i := start; i < start+n; i++ {
			args = rs.Args(args, i)
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
