package sqlite

import (
	"context"
	"fmt"
	"os"

	"github.com/wtbench/wtb/host/internal/store"
)

// Retention: reclaiming the space of deleted batches.

// retention is the part of the retention repository that is the backend's
// own (see sqlstore.Space).
type retention struct{ s *Store }

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
