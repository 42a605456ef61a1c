package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/wtbench/wtb/host/internal/store"
)

// params numbers a query's parameters in the order its text names them.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return fmt.Sprintf("$%d", len(*p))
}

// outputExpr is the JSON text an execution's output holds at path, read from
// its final checkpoint c (NULL when the path leads nowhere).
func outputExpr(p *params, path store.Path) string {
	if path == nil {
		return "c.output::text"
	}
	return "(c.state #> " + p.add(path.Steps()) + "::text[])::text"
}

func (r results) Cases(ctx context.Context, batchID string, q store.CaseQuery) ([]store.CaseSummary, int, error) {
	order, err := q.OrderBy(` COLLATE "C"`)
	if err != nil {
		return nil, 0, err
	}
	var p params
	combos := func(col string) string {
		if q.Combinations == nil {
			return ""
		}
		return " AND " + col + " = ANY(" + p.add(q.Combinations) + "::text[])"
	}
	where := "batch_test_id = " + p.add(batchID) + combos("combination_name")
	if q.Search != "" {
		cases := p.add(orEmptyList(q.SearchCases))
		inner := "r.batch_test_id = " + p.add(batchID) + combos("r.combination_name")
		out := outputExpr(&p, q.Output)
		where += ` AND (case_id = ANY(` + cases + `::text[]) OR case_id IN (
			SELECT r.case_id FROM wtb_batch_test_results r JOIN wtb_checkpoints c ON c.id = r.final_checkpoint_id
			WHERE ` + inner + ` AND ` + out + ` ILIKE ` + p.add(store.LikePattern(q.Search)) + `))`
	}
	whereArgs := append(params(nil), p...)
	score := p.add(q.ScoreOf)
	page := fmt.Sprintf(" OFFSET %d", max(q.Offset, 0))
	if q.Limit > 0 {
		page += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	// COUNT(*) OVER () counts the groups, before LIMIT: the total comes with
	// the page.
	query := `SELECT case_id, COUNT(*), SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS failed,
		AVG(CASE WHEN combination_name = ` + score + ` THEN overall_score END) AS score, COUNT(*) OVER ()
		FROM wtb_batch_test_results WHERE ` + where + `
		GROUP BY case_id ORDER BY ` + order + page
	var out []store.CaseSummary
	total := 0
	err = r.s.retries.do(ctx, func(ctx context.Context) error {
		out, total = nil, 0
		rows, err := r.s.pool.Query(ctx, query, p...)
		if err != nil {
			return err
		}
		var c store.CaseSummary
		var s *float64
		_, err = pgx.ForEachRow(rows, []any{&c.CaseID, &c.Executions, &c.Failed, &s, &total}, func() error {
			out = append(out, c)
			return nil
		})
		if err != nil || len(out) > 0 || q.Offset == 0 {
			return err
		}
		// Past the end: count on its own.
		return r.s.pool.QueryRow(ctx, `SELECT COUNT(DISTINCT case_id) FROM wtb_batch_test_results WHERE `+where, whereArgs...).Scan(&total)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("paging cases: %w", err)
	}
	return out, total, nil
}

func (r results) Outputs(ctx context.Context, batchID string, keys []string, path store.Path, maxLen int) ([]store.ResultOutput, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var p params
	// The output is computed once per row in the inner query; the outer one
	// cuts it and measures it.
	cut := p.add(max(maxLen, 1))
	out := outputExpr(&p, path)
	query := `SELECT ` + selectList(store.Results, store.OutputsOnly) + `, left(o, ` + cut + `), COALESCE(length(o), 0), o IS NOT NULL FROM (
		SELECT r.*, (SELECT ` + out + ` FROM wtb_checkpoints c WHERE c.id = r.final_checkpoint_id) AS o
		FROM wtb_batch_test_results r WHERE r.batch_test_id = ` + p.add(batchID) + ` AND r.execution_key = ANY(` + p.add(keys) + `::text[])
	) t ORDER BY case_id COLLATE "C", combination_name COLLATE "C", repeat_index`
	var res []store.ResultOutput
	err := r.s.retries.do(ctx, func(ctx context.Context) error {
		res = nil
		rows, err := r.s.pool.Query(ctx, query, p...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var text *string
			var ro store.ResultOutput
			row, err := rowWith(store.Results, &text, &ro.OutputLen, &ro.Found)(rows)
			if err != nil {
				return err
			}
			ro.Result = row
			if text != nil {
				ro.Output = *text
			}
			res = append(res, ro)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading outputs: %w", err)
	}
	return res, nil
}

func orEmptyList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
