package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/wtbench/wtb/host/internal/store"
)

// params numbers a query's parameters (?NNN) in the order they are added,
// wherever the query's text names them.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return fmt.Sprintf("?%d", len(*p))
}

// outputExpr is the JSON text an execution's output holds at path, read from
// its final checkpoint c: SQLite's -> gives a value's JSON (minified), or
// NULL when the path leads nowhere.
func outputExpr(p *params, path store.Path) string {
	if path == nil {
		return "(c.output -> '$')"
	}
	return "(c.state -> " + p.add(path.SQLitePath()) + ")"
}

func (r results) Cases(ctx context.Context, batchID string, q store.CaseQuery) ([]store.CaseSummary, int, error) {
	order, err := q.OrderBy("")
	if err != nil {
		return nil, 0, err
	}
	var p params
	combos := func(col string) string {
		if q.Combinations == nil {
			return ""
		}
		return " AND " + col + " IN (SELECT value FROM json_each(" + p.add(store.JSONText(q.Combinations)) + "))"
	}
	where := "batch_test_id = " + p.add(batchID) + combos("combination_name")
	if q.Search != "" {
		cases := p.add(store.JSONText(orEmptyList(q.SearchCases)))
		inner := "r.batch_test_id = " + p.add(batchID) + combos("r.combination_name")
		out := outputExpr(&p, q.Output)
		where += ` AND (case_id IN (SELECT value FROM json_each(` + cases + `)) OR case_id IN (
			SELECT r.case_id FROM wtb_batch_test_results r JOIN wtb_checkpoints c ON c.id = r.final_checkpoint_id
			WHERE ` + inner + ` AND ` + out + ` LIKE ` + p.add(store.LikePattern(q.Search)) + ` ESCAPE '\'))`
	}
	whereArgs := append(params(nil), p...)
	score := p.add(q.ScoreOf)
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	// COUNT(*) OVER () counts the groups, before LIMIT: the total comes with
	// the page.
	query := `SELECT case_id, COUNT(*), SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS failed,
		AVG(CASE WHEN combination_name = ` + score + ` THEN overall_score END) AS score, COUNT(*) OVER ()
		FROM wtb_batch_test_results WHERE ` + where + `
		GROUP BY case_id ORDER BY ` + order + ` LIMIT ` + p.add(limit) + ` OFFSET ` + p.add(max(q.Offset, 0))
	rows, err := r.db.QueryContext(ctx, query, p...)
	if err != nil {
		return nil, 0, fmt.Errorf("paging cases: %w", err)
	}
	defer rows.Close()
	var out []store.CaseSummary
	total := 0
	for rows.Next() {
		var c store.CaseSummary
		var s sql.NullFloat64
		if err := rows.Scan(&c.CaseID, &c.Executions, &c.Failed, &s, &total); err != nil {
			return nil, 0, fmt.Errorf("paging cases: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("paging cases: %w", err)
	}
	if len(out) == 0 && q.Offset > 0 { // past the end: count on its own
		err := r.db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT case_id) FROM wtb_batch_test_results WHERE `+where, whereArgs...).Scan(&total)
		if err != nil {
			return nil, 0, fmt.Errorf("counting cases: %w", err)
		}
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
	query := `SELECT ` + selectList(store.Results, store.OutputsOnly) + `, substr(o, 1, ` + cut + `), COALESCE(length(o), 0), o IS NOT NULL FROM (
		SELECT r.*, (SELECT ` + out + ` FROM wtb_checkpoints c WHERE c.id = r.final_checkpoint_id) AS o
		FROM wtb_batch_test_results r WHERE r.batch_test_id = ` + p.add(batchID) + ` AND r.execution_key IN (SELECT value FROM json_each(` + p.add(store.JSONText(keys)) + `))
	) ORDER BY case_id, combination_name, repeat_index`
	rows, err := r.db.QueryContext(ctx, query, p...)
	if err != nil {
		return nil, fmt.Errorf("reading outputs: %w", err)
	}
	defer rows.Close()
	var res []store.ResultOutput
	for rows.Next() {
		var text sql.NullString
		var ro store.ResultOutput
		row, err := scanInto(store.Results, rows, &text, &ro.OutputLen, &ro.Found)
		if err != nil {
			return nil, fmt.Errorf("reading outputs: %w", err)
		}
		ro.Result, ro.Output = *row, text.String
		res = append(res, ro)
	}
	if err := rows.Err(); err != nil {
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
