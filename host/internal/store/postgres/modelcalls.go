package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
)

type modelCalls struct{ s *Store }

func (s *Store) ModelCalls() store.ModelCallRepository { return modelCalls{s} }

// latestRun finds the most recent finished node run matching cond ($1).
func (r modelCalls) latestRun(ctx context.Context, cond string, arg any) (batch, run string, found bool, err error) {
	err = r.s.retries.do(ctx, func(ctx context.Context) error {
		e := r.s.pool.QueryRow(ctx, `SELECT batch_test_id, run_id FROM wtb_model_calls
			WHERE `+cond+` = $1 AND outcome = 'ran' ORDER BY created_at DESC, run_id DESC LIMIT 1`, arg).Scan(&batch, &run)
		if errors.Is(e, pgx.ErrNoRows) {
			return nil
		}
		if e == nil {
			found = true
		}
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
	if err != nil || !found {
		return nil, err
	}
	return all(ctx, r.s, store.ModelCalls, nil, "WHERE batch_test_id = $1 AND run_id = $2 ORDER BY ordinal", batch, run)
}

func (r modelCalls) ListByRuns(ctx context.Context, batchID string, runIDs []string) ([]store.ModelCall, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	calls, err := all(ctx, r.s, store.ModelCalls, nil, "WHERE batch_test_id = $1 AND run_id = ANY($2) ORDER BY run_id, ordinal", batchID, runIDs)
	if err != nil {
		return nil, fmt.Errorf("listing model calls: %w", err)
	}
	return calls, nil
}

func (r modelCalls) Each(ctx context.Context, batchID string, fn func(*store.ModelCall) error) error {
	if err := each(ctx, r.s, store.ModelCalls, "WHERE batch_test_id = $1 ORDER BY run_id, ordinal", []any{batchID}, fn); err != nil {
		return fmt.Errorf("reading model calls: %w", err)
	}
	return nil
}

func (r modelCalls) Count(ctx context.Context, batchID string) (map[string]int, error) {
	out := map[string]int{}
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		clear(out)
		rows, err := r.s.pool.Query(ctx, `SELECT source, count(*) FROM wtb_model_calls WHERE batch_test_id = $1 GROUP BY source`, batchID)
		if err != nil {
			return err
		}
		var src string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&src, &n}, func() error { out[src] = n; return nil })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("counting model calls: %w", err)
	}
	return out, nil
}
