package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/wtbench/wtb/host/internal/store"
)

type modelCalls struct{ s *Store }

// latestRun finds the most recent finished node run whose column col is arg.
func (r modelCalls) latestRun(ctx context.Context, col string, arg any) (batch, run string, found bool, err error) {
	err = r.s.d.Retry(ctx, func(ctx context.Context) error {
		e := r.s.db.QueryRow(ctx, `SELECT batch_test_id, run_id FROM wtb_model_calls
			WHERE `+col+` = $1 AND outcome = 'ran' ORDER BY created_at DESC, `+r.s.d.TieBreak("run_id")+` DESC LIMIT 1`, arg).Scan(&batch, &run)
		if errors.Is(e, ErrNoRows) {
			return nil
		}
		found = e == nil
		return e
	})
	return batch, run, found, err
}

func (r modelCalls) ForRuns(ctx context.Context, runKeys []string) (map[string][]store.ModelCall, error) {
	out := map[string][]store.ModelCall{}
	for _, key := range runKeys {
		if key == "" {
			continue
		}
		batch, run, found, err := r.latestRun(ctx, "run_key", key)
		if err != nil {
			return nil, fmt.Errorf("looking up recordings: %w", err)
		}
		if !found {
			continue
		}
		calls, err := all(ctx, r.s, store.ModelCalls, nil, "WHERE batch_test_id = $1 AND run_id = $2 ORDER BY ordinal", batch, run)
		if err != nil {
			return nil, fmt.Errorf("reading recordings: %w", err)
		}
		out[key] = calls
	}
	return out, nil
}

func (r modelCalls) Nearest(ctx context.Context, node string) ([]store.ModelCall, error) {
	batch, run, found, err := r.latestRun(ctx, "node", node)
	if err != nil {
		return nil, fmt.Errorf("looking up recordings of node %s: %w", node, err)
	}
	if !found {
		return nil, nil
	}
	return all(ctx, r.s, store.ModelCalls, nil, "WHERE batch_test_id = $1 AND run_id = $2 ORDER BY ordinal", batch, run)
}

func (r modelCalls) ListByRuns(ctx context.Context, batchID string, runIDs []string) ([]store.ModelCall, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	calls, err := all(ctx, r.s, store.ModelCalls, nil, "WHERE batch_test_id = $1 AND "+r.s.d.In("run_id", "$2")+" ORDER BY run_id, ordinal",
		batchID, r.s.d.List(runIDs))
	if err != nil {
		return nil, fmt.Errorf("listing model calls: %w", err)
	}
	return calls, nil
}

func (r modelCalls) Each(ctx context.Context, batchID string, fn func(*store.ModelCall) error) error {
	if err := each(ctx, r.s, store.ModelCalls, nil, "WHERE batch_test_id = $1 ORDER BY run_id, ordinal", []any{batchID}, fn); err != nil {
		return fmt.Errorf("reading model calls: %w", err)
	}
	return nil
}

func (r modelCalls) Count(ctx context.Context, batchID string) (map[string]int, error) {
	out := map[string]int{}
	err := r.s.d.Retry(ctx, func(ctx context.Context) error {
		clear(out)
		rows, err := r.s.db.Query(ctx, `SELECT source, count(*) FROM wtb_model_calls WHERE batch_test_id = $1 GROUP BY source`, batchID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var src string
			var n int
			if err := rows.Scan(&src, &n); err != nil {
				return err
			}
			out[src] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("counting model calls: %w", err)
	}
	return out, nil
}

type spans struct{ s *Store }

func (r spans) ListByRuns(ctx context.Context, batchID string, runIDs []string) ([]store.NodeSpans, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	out, err := all(ctx, r.s, store.Spans, nil, "WHERE batch_test_id = $1 AND "+r.s.d.In("run_id", "$2")+" ORDER BY run_id",
		batchID, r.s.d.List(runIDs))
	if err != nil {
		return nil, fmt.Errorf("listing spans: %w", err)
	}
	return out, nil
}
