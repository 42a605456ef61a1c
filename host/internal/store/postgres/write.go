package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
)

// table describes how rows of one table are bulk-written.
type table struct {
	name     string
	columns  []string
	conflict string          // the ON CONFLICT target
	jsonCols map[string]bool // JSONB columns: their text parameters need a cast
}

// placeholders returns "$1, $2::jsonb, ..." for one row.
func (t table) placeholders() string {
	ph := make([]string, len(t.columns))
	for i, c := range t.columns {
		ph[i] = fmt.Sprintf("$%d", i+1)
		if t.jsonCols[c] {
			ph[i] += "::jsonb"
		}
	}
	return strings.Join(ph, ", ")
}

var (
	checkpointTable = table{"wtb_checkpoints", []string{"id", "batch_test_id", "parent_id", "node", "position", "variant",
		"config_hash", "cache_key", "source", "segment_key", "state", "output", "metrics", "duration_ms", "worker_id", "created_at"}, "(id)",
		map[string]bool{"state": true, "output": true, "metrics": true}}
	resultTable = table{"wtb_batch_test_results", []string{"batch_test_id", "execution_key", "execution_id", "combination_name",
		"variant_config", "case_id", "repeat_index", "status", "success", "error", "failed_node", "failure_kind", "metrics",
		"scores", "overall_score", "passed", "duration_ms", "worker_id", "attempts", "final_checkpoint_id", "created_at"},
		"(batch_test_id, execution_key)", map[string]bool{"variant_config": true, "metrics": true, "scores": true}}
	auditTable = table{"wtb_audit_log", []string{"id", "batch_test_id", "ts", "severity", "event_type", "message",
		"execution_key", "node", "details"}, "(id)", map[string]bool{"details": true}}
)

func checkpointRow(c store.Checkpoint) []any {
	return []any{c.ID, c.BatchID, c.ParentID, c.Node, c.Position, c.Variant, c.ConfigHash, c.CacheKey, c.Source,
		c.SegmentKey, jsonb(c.State), jsonb(c.Output), jsonb(c.Metrics), c.DurationMs, c.WorkerID, c.CreatedAt}
}

func resultRow(r store.Result) []any {
	return []any{r.BatchID, r.ExecutionKey, r.ExecutionID, r.Combination, jsonb(r.Variants), r.CaseID, r.Repeat,
		r.Status, r.Success, r.Error, r.FailedNode, r.FailureKind, jsonb(r.Metrics), jsonb(r.Scores), r.OverallScore,
		r.Passed, r.DurationMs, r.WorkerID, r.Attempts, r.FinalCheckpointID, r.CreatedAt}
}

func auditRow(e store.AuditEntry) []any {
	return []any{e.ID, e.BatchID, e.Time, e.Severity, e.EventType, e.Message, e.ExecutionKey, e.Node, jsonb(e.Details)}
}

// copyThreshold is the row count from which COPY beats batched INSERTs.
const copyThreshold = 64

// insert writes rows idempotently inside tx: a pipelined batch of INSERT ...
// ON CONFLICT DO NOTHING for a few rows, COPY into a temporary table and one
// INSERT ... SELECT ... ON CONFLICT DO NOTHING for many.
func (t table) insert(ctx context.Context, tx pgx.Tx, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	cols := strings.Join(t.columns, ", ")
	if len(rows) < copyThreshold {
		sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT %s DO NOTHING", t.name, cols, t.placeholders(), t.conflict)
		var b pgx.Batch
		for _, r := range rows {
			b.Queue(sql, r...)
		}
		return tx.SendBatch(ctx, &b).Close()
	}
	tmp := "wtb_tmp_" + strings.TrimPrefix(t.name, "wtb_")
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP", tmp, t.name)); err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tmp}, t.columns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copying into %s: %w", tmp, err)
	}
	_, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT %s DO NOTHING", t.name, cols, cols, tmp, t.conflict))
	return err
}

// Write stores checkpoints and results in one transaction, retrying the whole
// transaction on transient errors.
func (s *Store) Write(ctx context.Context, w store.WriteSet) error {
	if len(w.Checkpoints) == 0 && len(w.Results) == 0 {
		return nil
	}
	cps := make([][]any, len(w.Checkpoints))
	for i, c := range w.Checkpoints {
		cps[i] = checkpointRow(c)
	}
	rs := make([][]any, len(w.Results))
	for i, r := range w.Results {
		rs[i] = resultRow(r)
	}
	err := s.retries.do(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := checkpointTable.insert(ctx, tx, cps); err != nil {
				return fmt.Errorf("storing checkpoints: %w", err)
			}
			if err := resultTable.insert(ctx, tx, rs); err != nil {
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

// WriteResultsOneByOne is the slow baseline of the write benchmark: one
// INSERT per row, each its own round trip, in one transaction.
func (s *Store) WriteResultsOneByOne(ctx context.Context, rs []store.Result) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT %s DO NOTHING", resultTable.name,
			strings.Join(resultTable.columns, ", "), resultTable.placeholders(), resultTable.conflict)
		for _, r := range rs {
			if _, err := tx.Exec(ctx, sql, resultRow(r)...); err != nil {
				return err
			}
		}
		return nil
	})
}
