package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/wtbench/wtb/host/internal/store"
)

// Space is what a backend adds to the retention queries, which are the same
// SQL on every backend (listing batches, counting and deleting their rows):
// how it gives space back, and its partitions.
type Space interface {
	Reclaim(ctx context.Context, vacuum bool) (store.Reclaimed, error)
	Partitions(ctx context.Context) ([]store.Partition, error)
	DropPartition(ctx context.Context, p store.Partition, o store.DeleteOptions) (store.RowCounts, error)
}

// Retention is the retention repository: the shared queries and the
// backend's Space.
func (s *Store) Retention() store.RetentionRepository {
	return struct {
		retention
		Space
	}{retention{s}, s.space}
}

type retention struct{ s *Store }

// lightBatch reads a batch without the columns retention does not need.
var lightBatch = map[string]string{"spec": "'{}'", "summary": "NULL", "decisions": "'[]'"}

func (r retention) All(ctx context.Context) ([]store.Batch, error) {
	d := r.s.d
	light := map[string]string{}
	for k, v := range lightBatch {
		light[k] = d.JSON(v)
	}
	out, err := all(ctx, r.s, store.Batches, light, "ORDER BY created_at, "+d.TieBreak("id"))
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	return out, nil
}

// batchTables lists the tables that hold rows of batches, read from the
// schema, so a table a later migration adds is covered without a change here.
func (r retention) batchTables(ctx context.Context, c Conn) ([]string, error) {
	out, err := column(ctx, c, r.s.d.BatchTables())
	if err != nil {
		return nil, fmt.Errorf("listing the tables of batches: %w", err)
	}
	return out, nil
}

func (r retention) Count(ctx context.Context, id string) (store.RowCounts, error) {
	var out store.RowCounts
	err := r.s.d.Retry(ctx, func(ctx context.Context) error {
		tables, err := r.batchTables(ctx, r.s.db)
		if err != nil {
			return err
		}
		out = store.RowCounts{}
		for _, t := range tables {
			var n int64
			if err := r.s.db.QueryRow(ctx, "SELECT COUNT(*) FROM "+r.s.d.Ident(t)+" WHERE batch_test_id = $1", id).Scan(&n); err != nil {
				return fmt.Errorf("counting the rows of batch %s in %s: %w", id, t, err)
			}
			out[t] = n
		}
		return nil
	})
	return out, err
}

// Delete runs in one transaction, retried whole. The batch row is locked
// first (SQLite's write transactions lock the database, PostgreSQL's take
// the row FOR UPDATE): a lease cannot be taken, a write of rows cannot start
// and a fork or rescore of it cannot be created until the deletion commits,
// after which they find no batch. Readers see the batch whole or not at all.
//
// One transaction rather than chunks, even for a million results: a batch
// never shows half deleted (a leaderboard of part of its rows, a checkpoint
// chain with holes), and an interrupted deletion leaves it whole.
func (r retention) Delete(ctx context.Context, id string, o store.DeleteOptions) (store.RowCounts, error) {
	d := r.s.d
	var out store.RowCounts
	err := d.Retry(ctx, func(ctx context.Context) error {
		return r.s.db.InTx(ctx, func(tx Conn) error {
			var owner string
			var live bool
			err := tx.QueryRow(ctx, `SELECT owner, COALESCE(lease_until > `+d.Now()+`, `+d.False()+`) FROM wtb_batch_tests WHERE id = $1`+d.LockForUpdate(), id).
				Scan(&owner, &live)
			if errors.Is(err, ErrNoRows) {
				return fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			if live && owner != "" && owner != o.DeadOwner {
				return &store.BatchRunningError{Batch: id, Owner: owner}
			}
			deps, err := column(ctx, tx, `SELECT id FROM wtb_batch_tests WHERE parent_batch_id = $1 AND lineage = $2 ORDER BY created_at`, id, store.LineageRescore)
			if err != nil {
				return err
			}
			if len(deps) > 0 {
				return &store.DependentsError{Batch: id, Dependents: deps}
			}
			if _, err := tx.Exec(ctx, `UPDATE wtb_batch_tests SET parent_batch_id = NULL WHERE parent_batch_id = $1`, id); err != nil {
				return fmt.Errorf("detaching the forks of batch %s: %w", id, err)
			}
			tables, err := r.batchTables(ctx, tx)
			if err != nil {
				return err
			}
			out = store.RowCounts{}
			for _, t := range tables {
				n, err := tx.Exec(ctx, "DELETE FROM "+d.Ident(t)+" WHERE batch_test_id = $1", id)
				if err != nil {
					return fmt.Errorf("deleting the rows of batch %s from %s: %w", id, t, err)
				}
				out[t] = n
			}
			_, err = tx.Exec(ctx, `DELETE FROM wtb_batch_tests WHERE id = $1`, id)
			return err
		})
	})
	if err != nil {
		var running *store.BatchRunningError
		var deps *store.DependentsError
		if errors.As(err, &running) || errors.As(err, &deps) || errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("deleting batch %s: %w", id, err)
	}
	d.AfterWrite(ctx)
	return out, nil
}
