package postgres

import (
	"context"
	"fmt"

	"github.com/wtbench/wtb/host/internal/store"
)

type spans struct{ s *Store }

func (s *Store) Spans() store.SpanRepository { return spans{s} }

func (r spans) ListByRuns(ctx context.Context, batchID string, runIDs []string) ([]store.NodeSpans, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	out, err := all(ctx, r.s, store.Spans, nil, "WHERE batch_test_id = $1 AND run_id = ANY($2) ORDER BY run_id", batchID, runIDs)
	if err != nil {
		return nil, fmt.Errorf("listing spans: %w", err)
	}
	return out, nil
}
