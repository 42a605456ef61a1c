package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/wtbench/wtb/host/internal/store/sqlstore"
)

// rebind spells a query's $N placeholders as SQLite's ?N, which bind the
// Nth argument wherever they stand (SQLite would read $N as a parameter
// named "$N", bound by order of first appearance). Quoted text is left as it
// is ('$' is SQLite's JSON root).
func rebind(query string) string {
	if !strings.Contains(query, "$") {
		return query
	}
	b := []byte(query)
	var quote byte
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '$' && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9':
			b[i] = '?'
		}
	}
	return string(b)
}

// sqlConn is what a database and a transaction have in common.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn is a database or a transaction as a sqlstore.Conn.
type conn struct{ c sqlConn }

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.c.ExecContext(ctx, rebind(query), args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rs, err := c.c.QueryContext(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return rows{rs}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{c.c.QueryRowContext(ctx, rebind(query), args...)}
}

type rows struct{ *sql.Rows }

func (r rows) Close() { _ = r.Rows.Close() }

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}

// db is the database as a sqlstore.DB. Its transactions begin IMMEDIATE (see
// the DSN in Open): a write transaction holds the write lock from its start.
type db struct {
	conn
	db *sql.DB
}

func (d db) InTx(ctx context.Context, fn func(sqlstore.Conn) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(txConn{conn{tx}, tx}); err != nil {
		return err
	}
	return tx.Commit()
}

// txConn is a transaction, which bulk writes prepare statements on.
type txConn struct {
	conn
	tx *sql.Tx
}
