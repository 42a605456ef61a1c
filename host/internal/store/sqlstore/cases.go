package sqlstore

import (
	"context"
	"fmt"

	"github.com/wtbench/wtb/host/internal/store"
)

// outputExpr is the JSON text an execution's output holds at path, read from
// its final checkpoint c (NULL when the path leads nowhere).
func (s *Store) outputExpr(p *params, path store.Path) string {
	if path == nil {
		return s.d.JSONAt("c.output", nil, p.add)
	}
	return s.d.JSONAt("c.state", path, p.add)
}

func (r results) Cases(ctx context.Context, batchID string, q store.CaseQuery) ([]store.CaseSummary, int, error) {
	d := r.s.d
	order, err := q.OrderBy(d.Collate())
	if err != nil {
		return nil, 0, err
	}
	var p params
	combos := func(col string) string {
		if q.Combinations == nil {
			return ""
		}
		return " AND " + d.In(col, p.add(d.List(q.Combinations)))
	}
	where := "batch_test_id = " + p.add(batchID) + combos("combination_name")
	if q.Search != "" {
		cases := p.add(d.List(orEmptyList(q.SearchCases)))
		inner := "r.batch_test_id = " + p.add(batchID) + combos("r.combination_name")
		out := r.s.outputExpr(&p, q.Output)
		where += ` AND (` + d.In("case_id", cases) + ` OR case_id IN (
			SELECT r.case_id FROM wtb_batch_test_results r JOIN wtb_checkpoints c ON c.id = r.final_checkpoint_id
			WHERE ` + inner + ` AND ` + d.Contains(out, p.add(store.LikePattern(q.Search))) + `))`
	}
	whereArgs := append(params(nil), p...)
	score := p.add(q.ScoreOf)
	// COUNT(*) OVER () counts the groups, before LIMIT: the total comes with
	// the page.
	query := `SELECT case_id, COUNT(*), SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS failed,
		AVG(CASE WHEN combination_name = ` + score + ` THEN overall_score END) AS score, COUNT(*) OVER ()
		FROM wtb_batch_test_results WHERE ` + where + `
		GROUP BY case_id ORDER BY ` + order + d.Page(q.Limit, q.Offset)
	var out []store.CaseSummary
	total := 0
	err = d.Retry(ctx, func(ctx context.Context) error {
		out, total = nil, 0
		rows, err := r.s.db.Query(ctx, query, p...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c store.CaseSummary
			var s *float64
			if err := rows.Scan(&c.CaseID, &c.Executions, &c.Failed, &s, &total); err != nil {
				return err
			}
			out = append(out, c)
		}
		if err := rows.Err(); err != nil || len(out) > 0 || q.Offset == 0 {
			return err
		}
		// Past the end: count on its own.
		return r.s.db.QueryRow(ctx, `SELECT COUNT(DISTINCT case_id) FROM wtb_batch_test_results WHERE `+where, whereArgs...).Scan(&total)
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
	d := r.s.d
	var p params
	// The output is computed once per row in the inner query; the outer one
	// cuts it and measures it.
	cut := p.add(max(maxLen, 1))
	out := r.s.outputExpr(&p, path)
	collate := d.Collate()
	query := `SELECT ` + selectList(d, store.Results, store.OutputsOnly) + `, substr(o, 1, ` + cut + `), COALESCE(length(o), 0), o IS NOT NULL FROM (
		SELECT r.*, (SELECT ` + out + ` FROM wtb_checkpoints c WHERE c.id = r.final_checkpoint_id) AS o
		FROM wtb_batch_test_results r WHERE r.batch_test_id = ` + p.add(batchID) + ` AND ` + d.In("r.execution_key", p.add(d.List(keys))) + `
	) t ORDER BY case_id` + collate + `, combination_name` + collate + `, repeat_index`
	var res []store.ResultOutput
	err := d.Retry(ctx, func(ctx context.Context) error {
		res = nil
		rows, err := r.s.db.Query(ctx, query, p...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var text *string
			var ro store.ResultOutput
			row, err := scanRow(d, store.Results, rows, &text, &ro.OutputLen, &ro.Found)
			if err != nil {
				return err
			}
			ro.Result = *row
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
