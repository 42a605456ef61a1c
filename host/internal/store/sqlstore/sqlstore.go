// Package sqlstore is the one implementation of the store's repositories
// (batches, results, checkpoints, the audit trail, cases, model calls, spans
// and retention) over any SQL database: the queries are written once, with
// PostgreSQL's $N placeholders, against a small connection interface, and a
// Dialect holds what really differs between the backends — how times,
// booleans, JSON and lists travel, a few SQL spellings, retries, bulk writes
// and hooks. The backend packages (store/sqlite, store/postgres) open their
// database, adapt its driver to DB and supply a Dialect.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// Conn runs statements: a database or one of its transactions. Queries are
// written with $1, $2, … placeholders; a driver that spells them otherwise
// rewrites them (see Rebind).
type Conn interface {
	// Exec runs a statement and returns the number of rows it touched.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow's Scan returns ErrNoRows when the query has no row.
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows are the rows of a query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is the first row of a query.
type Row interface {
	Scan(dest ...any) error
}

// ErrNoRows is what a Row's Scan returns when the query found no row,
// whatever the driver's own error for it.
var ErrNoRows = errors.New("no rows in result set")

// DB is a database: statements, and transactions.
type DB interface {
	Conn
	// InTx runs fn in one transaction, committed when fn returns nil and
	// rolled back otherwise.
	InTx(ctx context.Context, fn func(tx Conn) error) error
}

// Dialect is what differs between the backends.
type Dialect interface {
	// Time and Bool are a time and a boolean as query arguments.
	Time(t time.Time) any
	Bool(b bool) any
	// Dest is where Scan puts a column of this kind whose field (a pointer
	// from store.Column.Field) is field; Fill moves the scanned value into
	// the field. Dest may return field itself, Fill then does nothing.
	Dest(kind store.Kind, field any) any
	Fill(kind store.Kind, field, dest any)

	// Now is the SQL expression of the current time as lease_until holds it;
	// NowPlus adds the seconds of a parameter to it.
	Now() string
	NowPlus(seconds string) string
	// False is the literal a boolean expression falls back to.
	False() string
	// JSON casts a parameter or literal to the JSON column type.
	JSON(expr string) string
	// In is "col is one of the list in parameter param", and List the
	// argument that parameter takes.
	In(col, param string) string
	List(values []string) any
	// Page is the LIMIT and OFFSET clause (limit ≤ 0: none).
	Page(limit, offset int) string
	// Collate makes text sort bytewise ("" where it already does).
	Collate() string
	// TieBreak is the column that orders rows of the same instant: key (a
	// unique column of the table), or the order of insertion where the
	// database keeps one.
	TieBreak(key string) string
	// Contains is "text contains the LIKE pattern in param, ignoring case".
	Contains(text, param string) string
	// JSONAt is the JSON text of the value at path in col (NULL when there
	// is none), and the argument its parameter takes; a nil path is the
	// whole of col.
	JSONAt(col string, path store.Path, param func(any) string) string
	// SizeOf is the stored size of a column's value in bytes.
	SizeOf(col string) string
	// LockForUpdate follows a SELECT of the one row a transaction changes
	// ("" where a write transaction locks the database anyway).
	LockForUpdate() string
	// Ident quotes a table name read from the schema.
	Ident(name string) string
	// BatchTables is the query listing the tables that hold rows of
	// batches: every table with a batch_test_id column but wtb_batch_tests.
	BatchTables() string
	// IsUniqueViolation reports a row that is already stored.
	IsUniqueViolation(err error) bool

	// Retry runs op, again on errors worth retrying (every write is
	// idempotent).
	Retry(ctx context.Context, op func(ctx context.Context) error) error
	// Insert writes rows into a table idempotently (a row already stored is
	// kept) inside the transaction tx.
	Insert(ctx context.Context, tx Conn, rows Rowset) error

	// BeforeWrite runs first in the transaction of a write set, AfterWrite
	// after it committed (and after a deletion of a batch), BatchCreated
	// after a new batch is stored.
	BeforeWrite(ctx context.Context, tx Conn, w store.WriteSet) error
	AfterWrite(ctx context.Context)
	BatchCreated(ctx context.Context, id string)
}

// Store holds the repositories over one database. A backend's store embeds
// it and adds what is its own (opening, closing, reclaiming space).
type Store struct {
	db    DB
	d     Dialect
	space Space
}

// New is the repositories over db in dialect d, with the backend's own part
// of retention.
func New(db DB, d Dialect, space Space) *Store { return &Store{db: db, d: d, space: space} }

func (s *Store) Batches() store.BatchRepository          { return batches{s} }
func (s *Store) Results() store.ResultRepository         { return results{s} }
func (s *Store) Checkpoints() store.CheckpointRepository { return checkpoints{s} }
func (s *Store) Audit() store.AuditRepository            { return audit{s} }
func (s *Store) ModelCalls() store.ModelCallRepository   { return modelCalls{s} }
func (s *Store) Spans() store.SpanRepository             { return spans{s} }

// Write stores a write set in one transaction, retried whole on the errors
// the dialect retries: every insert is idempotent, so rows already stored
// (by an earlier attempt, or before a crash and resume) are left as they are.
func (s *Store) Write(ctx context.Context, w store.WriteSet) error {
	if w.Empty() {
		return nil
	}
	err := s.d.Retry(ctx, func(ctx context.Context) error {
		return s.db.InTx(ctx, func(tx Conn) error {
			if err := s.d.BeforeWrite(ctx, tx, w); err != nil {
				return err
			}
			if err := insert(ctx, s.d, tx, store.Checkpoints, w.Checkpoints); err != nil {
				return fmt.Errorf("storing checkpoints: %w", err)
			}
			if err := insert(ctx, s.d, tx, store.Results, w.Results); err != nil {
				return fmt.Errorf("storing results: %w", err)
			}
			if err := insert(ctx, s.d, tx, store.ModelCalls, w.ModelCalls); err != nil {
				return fmt.Errorf("storing model calls: %w", err)
			}
			if err := insert(ctx, s.d, tx, store.Spans, w.Spans); err != nil {
				return fmt.Errorf("storing spans: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("writing %d results and %d checkpoints: %w", len(w.Results), len(w.Checkpoints), err)
	}
	s.d.AfterWrite(ctx)
	return nil
}
