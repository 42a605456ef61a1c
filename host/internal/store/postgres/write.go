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
	if len(w.Checkpoints) == 0 && len(w.Results) == 0 {
		return nil
	}
	err := s.retries.do(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := insert(ctx, tx, store.Checkpoints, w.Checkpoints); err != nil {
				return fmt.Errorf("storing checkpoints: %w", err)
			}
			if err := insert(ctx, tx, store.Results, w.Results); err != nil {
				return fmt.Errorf("storing results: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("writing %d results and %d checkpoints: %w", len(w.Results), len(w.Checkpoints), err)
	}
	return nil
}
