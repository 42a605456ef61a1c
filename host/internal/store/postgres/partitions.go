package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
)

// Partitions by month (migration 12): results and checkpoints are range
// partitioned on the batch id, whose first six characters are the batch's
// UTC start month ("20261203-…" is in 202612). One partition per month and
// table, named TABLE_pYYYYMM, and a DEFAULT partition for the rest.

// partitionedTables are the tables partitioned by month.
var partitionedTables = []string{store.Results.Name, store.Checkpoints.Name}

// monthOf is the month a batch id names ("202612"), or "" for an id that
// does not start with one (its rows go to the default partition).
func monthOf(id string) string {
	if len(id) < 6 {
		return ""
	}
	if _, err := time.Parse("200601", id[:6]); err != nil {
		return ""
	}
	return id[:6]
}

// nextMonth is the month after m (YYYYMM).
func nextMonth(m string) string {
	t, _ := time.Parse("200601", m)
	return t.AddDate(0, 1, 0).Format("200601")
}

// ensurePartitions creates the partitions of the batch's month and the
// next, ahead of its rows, unless this process did already. It never fails
// a batch: without a partition its rows go to the default partition (and
// gc deletes them row by row); the next batch start tries again.
func (s *Store) ensurePartitions(ctx context.Context, batchID string) {
	m := monthOf(batchID)
	if m == "" {
		return
	}
	for _, month := range []string{m, nextMonth(m)} {
		if _, done := s.ensured.Load(month); done {
			continue
		}
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT wtb_ensure_month_partition($1)`, month).Scan(&ok); err == nil && ok {
			s.ensured.Store(month, true)
		}
	}
}

// Partitions lists the month partitions with the batches whose rows they
// hold, oldest first. A month partition may be dropped whole when the
// server's clock is past its month: a batch is named after its start, so
// no new batch will write into it.
func (r retention) Partitions(ctx context.Context) ([]store.Partition, error) {
	var out []store.Partition
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		out = nil
		var current string
		if err := r.s.pool.QueryRow(ctx, `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMM')`).Scan(&current); err != nil {
			return err
		}
		// A month whose partition of one table is missing (its creation
		// gave up half way) is not listed: its rows go row by row.
		rows, err := r.s.pool.Query(ctx, `SELECT substr(c.relname::text, length(p.relname::text) + 3) AS month FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
			WHERE p.relname::text = ANY($1::text[]) AND p.relnamespace = current_schema()::regnamespace
			AND c.relname::text = p.relname::text || '_p' || substr(c.relname::text, length(p.relname::text) + 3)
			GROUP BY 1 HAVING COUNT(*) = cardinality($1::text[]) ORDER BY 1`, partitionedTables)
		if err != nil {
			return err
		}
		months, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, month := range months {
			if len(month) != 6 || monthOf(month) == "" {
				continue
			}
			p := store.Partition{Month: month, Droppable: month < current}
			for _, t := range partitionedTables {
				p.Tables = append(p.Tables, t+"_p"+month)
			}
			rows, err := r.s.pool.Query(ctx, `SELECT id FROM wtb_batch_tests WHERE id >= $1 AND id < $2 ORDER BY id`, month, nextMonth(month))
			if err != nil {
				return err
			}
			if p.Batches, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the month partitions: %w", err)
	}
	return out, nil
}

// DropPartition deletes the batches of a month partition by dropping its
// tables, in one transaction: the partitions are locked first (no row can
// be written into them until it commits), then the month's batches are
// locked and checked to be exactly p.Batches, none of them run by a live
// owner and none read by a rescored batch that stays. The rows of those
// batches in the tables that are not partitioned (model calls, spans, the
// audit trail) are deleted row by row, their forks that stay detached, and
// their batch rows deleted.
func (r retention) DropPartition(ctx context.Context, p store.Partition, o store.DeleteOptions) (store.RowCounts, error) {
	if !p.Droppable {
		return nil, fmt.Errorf("partition %s: %w", p.Month, store.ErrPartitionChanged)
	}
	var out store.RowCounts
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, r.s.pool, func(tx pgx.Tx) error {
			out = store.RowCounts{}
			for i, t := range p.Tables {
				if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{t}.Sanitize()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
					return fmt.Errorf("locking %s: %w", t, err)
				}
				var n int64
				if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
					return err
				}
				out[partitionedTables[i]] = n
			}
			rows, err := tx.Query(ctx, `SELECT id, owner, COALESCE(lease_until > now(), false) FROM wtb_batch_tests
				WHERE id >= $1 AND id < $2 ORDER BY id FOR UPDATE`, p.Month, nextMonth(p.Month))
			if err != nil {
				return err
			}
			type held struct {
				id, owner string
				live      bool
			}
			found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (held, error) {
				var h held
				return h, row.Scan(&h.id, &h.owner, &h.live)
			})
			if err != nil {
				return err
			}
			want := append([]string(nil), p.Batches...)
			sort.Strings(want)
			var ids []string
			for _, h := range found {
				ids = append(ids, h.id)
				if h.live && h.owner != "" && !slices.Contains(o.DeadOwners, h.owner) {
					return &store.BatchRunningError{Batch: h.id, Owner: h.owner}
				}
			}
			if strings.Join(ids, "\n") != strings.Join(want, "\n") {
				return fmt.Errorf("partition %s: %w", p.Month, store.ErrPartitionChanged)
			}
			rows, err = tx.Query(ctx, `SELECT parent_batch_id, id FROM wtb_batch_tests
				WHERE parent_batch_id = ANY($1) AND lineage = $2 AND NOT id = ANY($1) ORDER BY created_at`, ids, store.LineageRescore)
			if err != nil {
				return err
			}
			deps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([2]string, error) {
				var d [2]string
				return d, row.Scan(&d[0], &d[1])
			})
			if err != nil {
				return err
			}
			if len(deps) > 0 {
				var names []string
				for _, d := range deps {
					names = append(names, d[1])
				}
				return &store.DependentsError{Batch: deps[0][0], Dependents: names}
			}
			if _, err := tx.Exec(ctx, `UPDATE wtb_batch_tests SET parent_batch_id = NULL WHERE parent_batch_id = ANY($1) AND NOT id = ANY($1)`, ids); err != nil {
				return fmt.Errorf("detaching the forks of the batches of %s: %w", p.Month, err)
			}
			tables, err := batchTables(ctx, tx)
			if err != nil {
				return err
			}
			for _, t := range tables {
				if _, partitioned := out[t]; partitioned {
					continue
				}
				tag, err := tx.Exec(ctx, "DELETE FROM "+pgx.Identifier{t}.Sanitize()+" WHERE batch_test_id = ANY($1)", ids)
				if err != nil {
					return fmt.Errorf("deleting the rows of the batches of %s from %s: %w", p.Month, t, err)
				}
				out[t] = tag.RowsAffected()
			}
			for _, t := range p.Tables {
				if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{t}.Sanitize()); err != nil {
					return fmt.Errorf("dropping %s: %w", t, err)
				}
			}
			// Parents before their forks would break the parent_batch_id
			// foreign key inside the set: clear it within the set first.
			if _, err := tx.Exec(ctx, `UPDATE wtb_batch_tests SET parent_batch_id = NULL WHERE id = ANY($1) AND parent_batch_id IS NOT NULL`, ids); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `DELETE FROM wtb_batch_tests WHERE id = ANY($1)`, ids)
			return err
		})
	})
	if err != nil {
		var running *store.BatchRunningError
		var deps *store.DependentsError
		if errors.As(err, &running) || errors.As(err, &deps) || errors.Is(err, store.ErrPartitionChanged) {
			return nil, err
		}
		return nil, fmt.Errorf("dropping the partitions of %s: %w", p.Month, err)
	}
	return out, nil
}
