package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/wtbench/wtb/host/internal/store"
)

type modelCalls struct{ db *sql.DB }

func (s *Store) ModelCalls() store.ModelCallRepository { return modelCalls{s.db} }

func (r modelCalls) ForRuns(ctx context.Context, runKeys []string) (map[string][]store.ModelCall, error) {
	out := map[string][]store.ModelCall{}
	for _, key := range runKeys {
		if key == "" {
			continue
		}
		var batch, run string
		err := r.db.QueryRowContext(ctx, `SELECT batch_test_id, run_id FROM wtb_model_calls
			WHERE run_key = ? AND outcome = 'ran' ORDER BY created_at DESC, rowid DESC LIMIT 1`, key).Scan(&batch, &run)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up recordings: %w", err)
		}
		calls, err := all(ctx, r.db, store.ModelCalls, nil, "WHERE batch_test_id = ? AND run_id = ? ORDER BY ordinal", batch, run)
		if err != nil {
			return nil, fmt.Errorf("reading recordings: %w", err)
		}
		out[key] = calls
	}
	return out, nil
}

func (r modelCalls) Nearest(ctx context.Context, node string) ([]store.ModelCall, error) {
	var batch, run string
	err := r.db.QueryRowContext(ctx, `SELECT batch_test_id, run_id FROM wtb_model_calls
		WHERE node = ? AND outcome = 'ran' ORDER BY created_at DESC, rowid DESC LIMIT 1`, node).Scan(&batch, &run)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up recordings of node %s: %w", node, err)
	}
	return all(ctx, r.db, store.ModelCalls, nil, "WHERE batch_test_id = ? AND run_id = ? ORDER BY ordinal", batch, run)
}

func (r modelCalls) ListByRuns(ctx context.Context, batchID string, runIDs []string) ([]store.ModelCall, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	args := []any{batchID}
	for _, id := range runIDs {
		args = append(args, id)
	}
	calls, err := all(ctx, r.db, store.ModelCalls, nil, "WHERE batch_test_id = ? AND run_id IN (?"+
		strings.Repeat(",?", len(runIDs)-1)+") ORDER BY run_id, ordinal", args...)
	if err != nil {
		return nil, fmt.Errorf("listing model calls: %w", err)
	}
	return calls, nil
}

func (r modelCalls) Each(ctx context.Context, batchID string, fn func(*store.ModelCall) error) error {
	if err := each(ctx, r.db, store.ModelCalls, nil, "WHERE batch_test_id = ? ORDER BY run_id, ordinal", []any{batchID}, fn); err != nil {
		return fmt.Errorf("reading model calls: %w", err)
	}
	return nil
}

func (r modelCalls) Count(ctx context.Context, batchID string) (map[string]int, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT source, count(*) FROM wtb_model_calls WHERE batch_test_id = ? GROUP BY source`, batchID)
	if err != nil {
		return nil, fmt.Errorf("counting model calls: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var src string
		var n int
		if err := rows.Scan(&src, &n); err != nil {
			return nil, err
		}
		out[src] = n
	}
	return out, rows.Err()
}
