package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlstore"
)

// Bulk writes: idempotent inserts (ON CONFLICT DO NOTHING), pipelined for a
// few rows, COPY for many.

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

// placeholders returns "$1, $2::jsonb, ..." for one row.
func placeholders(rs sqlstore.Rowset) string {
	ph := make([]string, len(rs.Columns))
	for i, c := range rs.Columns {
		ph[i] = fmt.Sprintf("$%d", i+1)
		if sqlstore.IsJSON(c.Kind) {
			ph[i] += "::jsonb"
		}
	}
	return strings.Join(ph, ", ")
}

// partitionedKeys are the keys writes conflict on in the tables partitioned
// by month (migration 12), where a unique key must hold the partition key,
// the batch id: checkpoints' (id) became (id, batch_test_id), the same key
// since a checkpoint id is a hash of its batch id. Results' key holds the
// batch id already.
var partitionedKeys = map[string]string{store.Checkpoints.Name: "(id, batch_test_id)"}

// conflictKey is the key a write into a table conflicts on in PostgreSQL.
func conflictKey(rs sqlstore.Rowset) string {
	if k, ok := partitionedKeys[rs.Table]; ok {
		return k
	}
	return rs.Conflict
}

// copyThreshold is the row count from which COPY beats batched INSERTs.
const copyThreshold = 64

// insert writes rows idempotently inside tx: a pipelined batch of INSERT …
// ON CONFLICT DO NOTHING for a few rows; COPY for many (see below).
func insert(ctx context.Context, tx pgx.Tx, rs sqlstore.Rowset) error {
	if rs.Len == 0 {
		return nil
	}
	if rs.Len < copyThreshold {
		sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT %s DO NOTHING", rs.Table, rs.Names, placeholders(rs), conflictKey(rs))
		var b pgx.Batch
		for i := range rs.Len {
			b.Queue(sql, rs.Args(make([]any, 0, len(rs.Columns)), i)...)
		}
		return tx.SendBatch(ctx, &b).Close()
	}
	names := make([]string, len(rs.Columns))
	for i, c := range rs.Columns {
		names[i] = c.Name
	}
	source := func() pgx.CopyFromSource {
		i := 0
		return pgx.CopyFromFunc(func() ([]any, error) {
			if i == rs.Len {
				return nil, nil
			}
			i++
			return rs.Args(make([]any, 0, len(rs.Columns)), i-1), nil
		})
	}
	// Most writes add rows nobody stored yet: COPY them straight into the
	// table, inside a savepoint. A row already there (a write retried after
	// its commit was lost, a resume) fails the whole COPY with a unique
	// violation; then the staged path below stores only the new rows.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := sp.CopyFrom(ctx, pgx.Identifier{rs.Table}, names, source()); err == nil {
		return sp.Commit(ctx)
	} else if rerr := sp.Rollback(ctx); rerr != nil || !isUniqueViolation(err) {
		if rerr != nil {
			return rerr
		}
		return fmt.Errorf("copying into %s: %w", rs.Table, err)
	}
	tmp := "wtb_tmp_" + strings.TrimPrefix(rs.Table, "wtb_")
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP", tmp, rs.Table)); err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tmp}, names, source()); err != nil {
		return fmt.Errorf("copying into %s: %w", tmp, err)
	}
	_, err = tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT %s DO NOTHING", rs.Table, rs.Names, rs.Names, tmp, conflictKey(rs)))
	return err
}
