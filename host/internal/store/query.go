package store

import (
	"fmt"
	"strings"
)

// ScoredOnly replaces the columns EachScored leaves out with empty values, by
// column name (an SQL expression each; the same text works on both backends).
var ScoredOnly = map[string]string{
	"execution_id": "''", "variant_config": "'{}'", "error": "''", "metrics": "'{}'", "worker_id": "''",
	"notes": "'{}'", "logs": "'[]'",
}

// OutputsOnly replaces the columns Outputs leaves out with empty values.
var OutputsOnly = map[string]string{
	"execution_id": "''", "variant_config": "'{}'", "metrics": "'{}'", "worker_id": "''", "logs": "'[]'",
}

// ResultQuery selects results of a batch; zero fields select everything.
type ResultQuery struct {
	Combination string
	CaseID      string
	Status      string   // ResultSucceeded or ResultFailed
	MinScore    *float64 // overall score at least
	MaxScore    *float64 // overall score at most
	Offset      int
	Limit       int // 0: no limit
	// NoTotal skips counting every match (Query then returns -1 for it):
	// a page of the first few is cheap, a count of a large batch is not.
	NoTotal bool
	// Sort orders the page by a column (ResultSortKey, the default, or
	// ResultSortScore, ResultSortDuration, ResultSortAttempts,
	// ResultSortStatus), ties by execution key; Desc reverses it.
	Sort string
	Desc bool
}

// Orders of a page of results.
const (
	ResultSortKey      = "key"
	ResultSortScore    = "score"
	ResultSortDuration = "duration"
	ResultSortAttempts = "attempts"
	ResultSortStatus   = "status"
)

// OrderBy is q's ORDER BY, execution keys collated as collate says (so both
// backends agree; the default order keeps the (batch, key) index's).
func (q ResultQuery) OrderBy(collate string) (string, error) {
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	col := map[string]string{ResultSortScore: "overall_score", ResultSortDuration: "duration_ms", ResultSortAttempts: "attempts",
		ResultSortStatus: "status"}[q.Sort]
	switch {
	case q.Sort == "" || q.Sort == ResultSortKey:
		if !q.Desc {
			return "execution_key", nil
		}
		return "execution_key" + collate + dir, nil
	case col != "":
		return col + dir + ", execution_key" + collate, nil
	}
	return "", fmt.Errorf("executions sort by %s, %s, %s, %s or %s, not %q", ResultSortKey, ResultSortScore, ResultSortDuration,
		ResultSortAttempts, ResultSortStatus, q.Sort)
}

// Where is q's condition after "batch_test_id = <first placeholder>", with
// placeholder(n) spelling the nth parameter (SQLite ?, PostgreSQL $n).
func (q ResultQuery) Where(placeholder func(n int) string) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, cond+" "+placeholder(len(args)+1))
	}
	if q.Combination != "" {
		add("combination_name =", q.Combination)
	}
	if q.CaseID != "" {
		add("case_id =", q.CaseID)
	}
	if q.Status != "" {
		add("status =", q.Status)
	}
	if q.MinScore != nil {
		add("overall_score >=", *q.MinScore)
	}
	if q.MaxScore != nil {
		add("overall_score <=", *q.MaxScore)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(conds, " AND "), args
}
