package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/wtbench/wtb/host/internal/store"
)

// Cancel requests and retention: deleting batches with their rows, and
// giving the space back.

// clearCancel is the SET clause that drops a cancel request: a new owner
// starts with none.
const clearCancel = ", cancel_requested_by = '', cancel_requested_at = NULL"

func (r batches) RequestCancel(ctx context.Context, id string, req store.CancelRequest) (*store.CancelRequest, error) {
	res, err := r.db.ExecContext(ctx, `UPDATE wtb_batch_tests SET cancel_requested_by = ?, cancel_requested_at = ?
		WHERE id = ? AND status = 'running' AND owner <> '' AND lease_until > julianday('now') AND cancel_requested_at IS NULL`,
		req.By, ts(req.At), id)
	if err != nil {
		return nil, fmt.Errorf("requesting the cancel of batch %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
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
	var at sql.NullString
	err := r.db.QueryRowContext(ctx, `SELECT cancel_requested_by, cancel_requested_at FROM wtb_batch_tests WHERE id = ?`, id).Scan(&by, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("reading the cancel request of batch %s: %w", id, err)
	case !at.Valid:
		return nil, nil
	}
	return &store.CancelRequest{By: by, At: parseTS(at.String)}, nil
}

// Retention is the store's retention repository.
func (s *Store) Retention() store.RetentionRepository { return retention{s} }

type retention struct{ s *Store }

// lightBatch reads a batch without the columns retention does not need.
var lightBatch = map[string]string{"spec": "'{}'", "summary": "NULL", "decisions": "'[]'"}

func (r retention) All(ctx context.Context) ([]store.Batch, error) {
	out, err := all(ctx, r.s.db, store.Batches, lightBatch, "ORDER BY created_at, rowid")
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	return out, nil
}

// batchTables lists the tables that hold rows of batches: every table with
// a batch_test_id column, read from the schema, so a table a later migration
// adds is covered without a change here.
func batchTables(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND p.name = 'batch_test_id' AND m.name <> 'wtb_batch_tests' ORDER BY m.name`)
	if err != nil {
		return nil, fmt.Errorf("listing the tables of batches: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (r retention) Count(ctx context.Context, id string) (store.RowCounts, error) {
	tables, err := batchTables(ctx, r.s.db)
	if err != nil {
		return nil, err
	}
	out := store.RowCounts{}
	for _, t := range tables {
		var n int64
		if err := r.s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t+" WHERE batch_test_id = ?", id).Scan(&n); err != nil {
			return nil, fmt.Errorf("counting the rows of batch %s in %s: %w", id, t, err)
		}
		out[t] = n
	}
	return out, nil
}

// Delete runs in one write transaction (BEGIN IMMEDIATE): the lease it checks
// cannot be taken before the rows are gone, and readers see the batch whole
// or not at all.
func (r retention) Delete(ctx context.Context, id string, o store.DeleteOptions) (store.RowCounts, error) {
	tx, err := r.s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("deleting batch %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	var owner string
	var live bool
	err = tx.QueryRowContext(ctx, `SELECT owner, COALESCE(lease_until > julianday('now'), 0) FROM wtb_batch_tests WHERE id = ?`, id).Scan(&owner, &live)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("deleting batch %s: %w", id, err)
	}
	if live && owner != "" && owner != o.DeadOwner {
		return nil, &store.BatchRunningError{Batch: id, Owner: owner}
	}
	deps, err := column(ctx, tx, `SELECT id FROM wtb_batch_tests WHERE parent_batch_id = ? AND lineage = ? ORDER BY created_at`, id, store.LineageRescore)
	if err != nil {
		return nil, fmt.Errorf("deleting batch %s: %w", id, err)
	}
	if len(deps) > 0 {
		return nil, &store.DependentsError{Batch: id, Dependents: deps}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE wtb_batch_tests SET parent_batch_id = NULL WHERE parent_batch_id = ?`, id); err != nil {
		return nil, fmt.Errorf("detaching the forks of batch %s: %w", id, err)
	}
	tables, err := batchTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := store.RowCounts{}
	for _, t := range tables {
		res, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE batch_test_id = ?", id)
		if err != nil {
			return nil, fmt.Errorf("deleting the rows of batch %s from %s: %w", id, t, err)
		}
		out[t], _ = res.RowsAffected()
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM wtb_batch_tests WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("deleting batch %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("deleting batch %s: %w", id, err)
	}
	r.s.boundWAL(ctx)
	return out, nil
}

// column collects the single text column of a query's rows.
func column(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SQLite's auto_vacuum modes.
const (
	autoVacuumNone        = 0
	autoVacuumFull        = 1
	autoVacuumIncremental = 2
)

// vacuumStep is how many pages one incremental_vacuum gives back: each step
// is a short write transaction, so a batch writing meanwhile waits
// milliseconds, not for the whole file.
const vacuumStep = 2048

// Reclaim gives free pages back to the file system. A database created by
// this wtb uses incremental auto-vacuum: free pages are released in short
// steps while other clients read and write. An older one (auto_vacuum none)
// keeps them for later rows unless vacuum asks for a VACUUM, which rewrites
// the file once — writers wait for it, readers (a viewer) go on reading — and
// switches it to incremental auto-vacuum. Either way the write-ahead log is
// checkpointed and truncated so that its pages are given back too.
func (r retention) Reclaim(ctx context.Context, vacuum bool) (store.Reclaimed, error) {
	db := r.s.db
	out := store.Reclaimed{Before: r.s.diskSize()}
	var mode, pageSize, free int64
	if err := db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return out, fmt.Errorf("reading auto_vacuum: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return out, fmt.Errorf("reading page_size: %w", err)
	}
	freePages := func() (int64, error) {
		err := db.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free)
		return free, err
	}
	switch {
	case mode == autoVacuumIncremental:
		for last := int64(-1); ; {
			n, err := freePages()
			if err != nil {
				return out, fmt.Errorf("reading freelist_count: %w", err)
			}
			if n == 0 || n == last {
				break
			}
			last = n
			if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", vacuumStep)); err != nil {
				return out, fmt.Errorf("incremental vacuum: %w", err)
			}
		}
		out.Note = "incremental auto-vacuum gave the free pages back"
	case vacuum:
		// The connection's auto_vacuum setting (incremental, from the
		// store's DSN) takes effect with the rewrite.
		if _, err := db.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return out, fmt.Errorf("setting auto_vacuum: %w", err)
		}
		if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
			return out, fmt.Errorf("VACUUM: %w", err)
		}
		out.Note = "rewrote the database (VACUUM) and switched it to incremental auto-vacuum: from now on deletions give space back on their own"
	case mode == autoVacuumFull:
		out.Note = "full auto-vacuum gave the free pages back at each deletion"
	default:
		out.Note = "this database was created before wtb used incremental auto-vacuum: its free pages stay inside the file and later batches reuse them; " +
			"`wtb gc --vacuum` rewrites it once (writers wait meanwhile: run it when no batch is running) so that deletions give space back from then on"
	}
	r.s.checkpointWAL(ctx)
	if _, err := freePages(); err == nil {
		out.Free = free * pageSize
	}
	out.After = r.s.diskSize()
	return out, nil
}

// checkpointWAL copies the write-ahead log into the database and truncates
// it, waiting for readers up to the busy timeout; if a reader keeps it
// busy, the next write's boundWAL tries again.
func (s *Store) checkpointWAL(ctx context.Context) {
	_, _ = s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
}

// diskSize is the size of the database file and its write-ahead log. It
// stats the files (a stat opens no descriptor, see package dbfiles).
func (s *Store) diskSize() int64 {
	var n int64
	for _, p := range []string{s.path, s.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Partitions: SQLite has none; retention deletes row by row.
func (r retention) Partitions(context.Context) ([]store.Partition, error) { return nil, nil }

// DropPartition is never called on SQLite (Partitions lists none).
func (r retention) DropPartition(_ context.Context, p store.Partition, _ store.DeleteOptions) (store.RowCounts, error) {
	return nil, fmt.Errorf("partition %s: SQLite has no partitions: %w", p.Month, store.ErrPartitionChanged)
}
