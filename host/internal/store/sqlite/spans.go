package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/wtbench/wtb/host/internal/store"
)

type spans struct{ s *Store }

func (s *Store) Spans() store.SpanRepository { return spans{s} }

func (r spans) ListByRuns(ctx context.Context, batchID string, runIDs []string) ([]store.NodeSpans, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	args := []any{batchID}
	for _, id := range runIDs {
		args = append(args, id)
	}
	out, err := all(ctx, r.s.db, store.Spans, nil, "WHERE batch_test_id = ? AND run_id IN (?"+
		strings.Repeat(",?", len(runIDs)-1)+") ORDER BY run_id", args...)
	if err != nil {
		return nil, fmt.Errorf("listing spans: %w", err)
	}
	return out, nil
}
