package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/postgres"
	"github.com/wtbench/wtb/host/internal/store/postgres/pgtest"
	"github.com/wtbench/wtb/host/internal/store/storetest"
	"github.com/wtbench/wtb/migrations"
)

// BenchmarkPartitions compares the schema before month partitions (11) with
// the one after (12), in the same run, on a database of WTB_BENCH_PARTITION_ROWS
// result rows (opt-in: skipped without it; scripts/bench.sh sets 10,000,000),
// spread over ten past months of ten batches each, loaded in SQL
// (INSERT … SELECT generate_series). For each layout:
//
//   - write: results through the store's write path (Store.Write, 4,000 rows
//     a write) into a new batch of this month;
//   - the store calls behind the viewer's pages of one loaded batch (a
//     tenth of a month): the leaderboard of a running batch (EachScored over
//     every result), the first page of executions with its total, a deep
//     page, and one execution (Get);
//
// then gc of one month (a tenth of the rows): every batch of it deleted
// with the store's row deletes (11) or its partitions dropped (12), timed
// once and printed as a line of its own; last, the unpartitioned database
// is migrated to 12, timed.
func BenchmarkPartitions(b *testing.B) {
	total, _ := strconv.Atoi(os.Getenv("WTB_BENCH_PARTITION_ROWS"))
	if total <= 0 {
		b.Skip("set WTB_BENCH_PARTITION_ROWS (e.g. 10000000) to load that many result rows")
	}
	const months, perMonth = 10, 10
	rowsPerBatch := total / months / perMonth
	for _, layout := range []string{"unpartitioned", "partitioned"} {
		b.Run(layout, func(b *testing.B) {
			ctx := context.Background()
			direct, _ := pgtest.Database(b)
			var st *postgres.Store
			var err error
			if layout == "unpartitioned" {
				migrateTo(b, direct, 11, false)
				st, err = postgres.OpenAsIs(ctx, direct)
			} else {
				st, err = postgres.Open(ctx, direct, postgres.Options{})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			pool := st.Pool()
			start := time.Now().UTC().AddDate(0, -months, 0)
			var readBatch, gcMonth string
			var gcBatches []string
			load := time.Now()
			// Indexes that are no constraint are built after the load
			// (the GIN index of metrics above all): loading is quicker, and
			// what is measured reads the same indexes.
			idx, err := pool.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1
				AND indexname NOT IN (SELECT conname FROM pg_constraint)`, store.Results.Name)
			if err != nil {
				b.Fatal(err)
			}
			var names, defs []string
			for idx.Next() {
				var name, def string
				if err := idx.Scan(&name, &def); err != nil {
					b.Fatal(err)
				}
				names, defs = append(names, name), append(defs, def)
			}
			idx.Close()
			for _, name := range names {
				if _, err := pool.Exec(ctx, "DROP INDEX "+name); err != nil {
					b.Fatal(err)
				}
			}
			for m := 0; m < months; m++ {
				day := time.Date(start.Year(), start.Month(), 15, 0, 0, 0, 0, time.UTC).AddDate(0, m, 0)
				if layout == "partitioned" {
					if _, err := pool.Exec(ctx, `SELECT wtb_ensure_month_partition($1)`, day.Format("200601")); err != nil {
						b.Fatal(err)
					}
				}
				for i := 0; i < perMonth; i++ {
					id := fmt.Sprintf("%s-0000%02d-%08d", day.Format("20060102"), i, m*perMonth+i)
					if _, err := pool.Exec(ctx, `INSERT INTO wtb_batch_tests (id, name, status, spec, spec_hash, created_at, started_at)
						VALUES ($1, 'load', 'completed', '{}', '', $2, $2)`, id, day); err != nil {
						b.Fatal(err)
					}
					if _, err := pool.Exec(ctx, `INSERT INTO wtb_batch_test_results (batch_test_id, execution_key, execution_id,
						combination_name, variant_config, case_id, repeat_index, status, success, metrics, scores, overall_score,
						passed, duration_ms, attempts, final_checkpoint_id, created_at)
						SELECT $1, k, k, 'b=v' || (i % 10), jsonb_build_object('b', 'v' || (i % 10)), c, 0, 'succeeded', true,
							jsonb_build_object('tokens', i % 1000), jsonb_build_object('e', (i % 7) / 6.0), (i % 7) / 6.0,
							i % 7 >= 3, i % 100, 1, 'cp-' || k, $2
						FROM generate_series(0, $3 - 1) i,
							LATERAL (SELECT 'c' || lpad((i / 10)::text, 7, '0') AS c) cs,
							LATERAL (SELECT cs.c || '/0/b=v' || (i % 10) AS k) ks`, id, day, rowsPerBatch); err != nil {
						b.Fatal(err)
					}
					if m == months/2 && i == 0 {
						readBatch = id
					}
					if m == 1 {
						gcMonth = day.Format("200601")
						gcBatches = append(gcBatches, id)
					}
				}
			}
			for _, def := range defs {
				if _, err := pool.Exec(ctx, def); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
				b.Fatal(err)
			}
			fmt.Printf("BenchmarkPartitions/%s: loaded %d result rows in %.0f s\n", layout, months*perMonth*rowsPerBatch, time.Since(load).Seconds())

			writeBatch := time.Now().UTC().Format("20060102-150405") + "-bench000"
			if err := st.Batches().Create(ctx, storetest.NewBatch(writeBatch)); err != nil {
				b.Fatal(err)
			}
			written := 0
			b.Run("write", func(b *testing.B) {
				rs := make([]store.Result, 4000)
				for b.Loop() {
					for i := range rs {
						rs[i] = storetest.NewResult(writeBatch, fmt.Sprintf("combo/case-%d/0", written))
						written++
					}
					if err := st.Write(ctx, store.WriteSet{Results: rs}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(rs))/b.Elapsed().Seconds(), "rows/s")
			})
			key := fmt.Sprintf("c%07d/0/b=v3", rowsPerBatch/20)
			for name, fn := range map[string]func() error{
				"leaderboard": func() error {
					return st.Results().EachScored(ctx, readBatch, func(*store.Result) error { return nil })
				},
				"executions_first": func() error {
					_, _, err := st.Results().Query(ctx, readBatch, store.ResultQuery{Limit: 50})
					return err
				},
				"executions_deep": func() error {
					_, _, err := st.Results().Query(ctx, readBatch, store.ResultQuery{Offset: rowsPerBatch * 9 / 10, Limit: 50})
					return err
				},
				"execution": func() error {
					_, err := st.Results().Get(ctx, readBatch, key)
					return err
				},
			} {
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						if err := fn(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
				})
			}

			gc := time.Now()
			var rows int64
			if layout == "unpartitioned" {
				for _, id := range gcBatches {
					n, err := st.Retention().Delete(ctx, id, store.DeleteOptions{})
					if err != nil {
						b.Fatal(err)
					}
					rows += n[store.Results.Name]
				}
			} else {
				parts, err := st.Retention().Partitions(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range parts {
					if p.Month == gcMonth {
						n, err := st.Retention().DropPartition(ctx, p, store.DeleteOptions{})
						if err != nil {
							b.Fatal(err)
						}
						rows += n[store.Results.Name]
					}
				}
			}
			how := map[string]string{"unpartitioned": "row deletes, one transaction per batch", "partitioned": "partitions dropped"}[layout]
			fmt.Printf("BenchmarkPartitions/%s/gc_month: %d result rows of %d batches in %.0f ms (%s)\n", layout, rows, len(gcBatches),
				float64(time.Since(gc).Microseconds())/1000, how)
			if rows != int64(perMonth*rowsPerBatch) {
				b.Errorf("gc deleted %d result rows, want %d", rows, perMonth*rowsPerBatch)
			}
			if layout == "unpartitioned" {
				// What the migration to partitions costs on what is left.
				var left int64
				if err := pool.QueryRow(ctx, `SELECT COUNT(*) FROM wtb_batch_test_results`).Scan(&left); err != nil {
					b.Fatal(err)
				}
				migrate := time.Now()
				migrated, err := postgres.Open(ctx, direct, postgres.Options{})
				if err != nil {
					b.Fatal(err)
				}
				migrated.Close()
				fmt.Printf("BenchmarkPartitions/%s/migrate: %d result rows into partitions in %.1f s\n", layout, left, time.Since(migrate).Seconds())
			}
		})
	}
}

// migrateTo applies the migrations up to version v, or (down) rolls them
// back to it.
func migrateTo(tb testing.TB, url string, v int64, down bool) {
	tb.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	sub, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithTableName("wtb_goose_db_version"))
	if err != nil {
		tb.Fatal(err)
	}
	if down {
		_, err = p.DownTo(context.Background(), v)
	} else {
		_, err = p.UpTo(context.Background(), v)
	}
	if err != nil {
		tb.Fatalf("migrating to %d: %v", v, err)
	}
}
