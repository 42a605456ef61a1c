package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlstore"
)

// dialect is how the store's queries and column kinds travel in PostgreSQL:
// native booleans, numbers and timestamptz; JSON as JSONB, sent as text with
// a ::jsonb cast (in the exec query mode parameter types come from Go types,
// and text is what PostgreSQL accepts for JSONB; COPY knows the column
// types); lists as text arrays. Operations are retried on transient errors.
type dialect struct{ s *Store }

var _ sqlstore.Dialect = dialect{}

func (dialect) Time(t time.Time) any { return t }
func (dialect) Bool(b bool) any      { return b }

func (dialect) Dest(kind store.Kind, field any) any {
	if sqlstore.IsJSON(kind) {
		return new([]byte)
	}
	return field
}

func (dialect) Fill(kind store.Kind, field, dest any) {
	if sqlstore.IsJSON(kind) {
		store.Decode(kind, field, *dest.(*[]byte))
	}
}

func (dialect) Now() string                { return "now()" }
func (dialect) NowPlus(secs string) string { return "now() + make_interval(secs => " + secs + ")" }
func (dialect) False() string              { return "false" }
func (dialect) JSON(expr string) string    { return expr + "::jsonb" }
func (dialect) In(col, param string) string {
	return col + " = ANY(" + param + "::text[])"
}
func (dialect) List(values []string) any { return values }

func (dialect) Page(limit, offset int) string {
	page := fmt.Sprintf(" OFFSET %d", max(offset, 0))
	if limit > 0 {
		page += fmt.Sprintf(" LIMIT %d", limit)
	}
	return page
}

func (dialect) Collate() string                    { return ` COLLATE "C"` }
func (dialect) TieBreak(key string) string         { return key }
func (dialect) Contains(text, param string) string { return text + " ILIKE " + param }

func (dialect) JSONAt(col string, path store.Path, param func(any) string) string {
	if path == nil {
		return col + "::text"
	}
	return "(" + col + " #> " + param(path.Steps()) + "::text[])::text"
}

func (dialect) SizeOf(col string) string         { return "pg_column_size(" + col + ")" }
func (dialect) LockForUpdate() string            { return " FOR UPDATE" }
func (dialect) Ident(name string) string         { return pgx.Identifier{name}.Sanitize() }
func (dialect) BatchTables() string              { return batchTablesSQL }
func (dialect) IsUniqueViolation(err error) bool { return isUniqueViolation(err) }

func (d dialect) Retry(ctx context.Context, op func(ctx context.Context) error) error {
	return d.s.retries.do(ctx, op)
}

func (dialect) Insert(ctx context.Context, tx sqlstore.Conn, rows sqlstore.Rowset) error {
	return insert(ctx, tx.(txConn).tx, rows)
}

// BeforeWrite locks the batches a write names (see lockBatches).
func (dialect) BeforeWrite(ctx context.Context, tx sqlstore.Conn, w store.WriteSet) error {
	return lockBatches(ctx, tx.(txConn).tx, w)
}

func (dialect) AfterWrite(context.Context) {}

// BatchCreated makes sure of the month partitions of the batch's rows.
func (d dialect) BatchCreated(ctx context.Context, id string) { d.s.ensurePartitions(ctx, id) }

// isUniqueViolation reports a row that is already stored.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
