package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
)

// Write stores checkpoints and results in one transaction, retrying the whole
// transaction on transient errors.
func (s *Store) Write(ctx context.Context, w store.WriteSet) error {
	if w.Empty() {
		return nil
	}
	err := s.retries.do(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := lockBatches(ctx, tx, w); err != nil {
				return err
			}
			if err := insert(ctx, tx, store.Checkpoints, w.Checkpoints); err != nil {
				return fmt.Errorf("storing checkpoints: %w", err)
			}
			if err := insert(ctx, tx, store.Results, w.Results); err != nil {
				return fmt.Errorf("storing results: %w", err)
			}
			if err := insert(ctx, tx, store.ModelCalls, w.ModelCalls); err != nil {
				return fmt.Errorf("storing model calls: %w", err)
			}
			if err := insert(ctx, tx, store.Spans, w.Spans); err != nil {
				return fmt.Errorf("storing spans: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("writing %d results and %d checkpoints: %w", len(w.Results), len(w.Checkpoints), err)
	}
	return nil
}

// lockBatches checks that the batches a write names exist and locks them
// against deletion until it commits: what a foreign key did row by row, once
// per write (migration 5).
func lockBatches(ctx context.Context, tx pgx.Tx, w store.WriteSet) error {
	want := map[string]bool{}
	for i := range w.Checkpoints {
		want[w.Checkpoints[i].BatchID] = true
	}
	for i := range w.Results {
		want[w.Results[i].BatchID] = true
	}
	for i := range w.ModelCalls {
		want[w.ModelCalls[i].BatchID] = true
	}
	for i := range w.Spans {
		want[w.Spans[i].BatchID] = true
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	rows, err := tx.Query(ctx, `SELECT id FROM wtb_batch_tests WHERE id = ANY($1) FOR KEY SHARE`, ids)
	if err != nil {
		return fmt.Errorf("checking the batches written to: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("checking the batches written to: %w", err)
	}
	for _, id := range found {
		delete(want, id)
	}
	for id := range want {
		return fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
	}
	return nil
}
