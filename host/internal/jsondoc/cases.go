package jsondoc

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/store"
)

// Cases is one page of a batch's case × combination grid (the viewer's batch
// page): a row per case with its input and expected values, a cell per shown
// combination with what each repeat came out with and how it scored.
type Cases struct {
	Header
	BatchID string `json:"batch_id"`
	// Combinations are all of the batch's (leaderboard order once it
	// finished); Shown are this page's columns, in order.
	Combinations []string        `json:"combinations"`
	Shown        []string        `json:"shown"`
	Evaluators   []CaseEvaluator `json:"evaluators"`
	PassScore    float64         `json:"pass_score"`
	// Repeats is how many times each case runs per combination (at most,
	// with adaptive repeats).
	Repeats int        `json:"repeats"`
	Output  CaseOutput `json:"output"`
	// The query: Search, and the order — Sort is failed (failures first when
	// Desc), case or score (ScoreOf's mean on the case).
	Search  string `json:"search"`
	Sort    string `json:"sort"`
	Desc    bool   `json:"desc"`
	ScoreOf string `json:"score_of"`
	// Total counts the cases that match (cases with stored executions
	// among the shown combinations); Offset and Limit are this page's.
	Total  int        `json:"total"`
	Offset int        `json:"offset"`
	Limit  int        `json:"limit"`
	Cases  []CaseRow  `json:"cases"`
	Holds  *CaseHolds `json:"holds"`
}

// CaseHolds says what part of a batch's grid a report holds: Cases of
// Total, chosen as Order says. Null when the document holds what it says.
type CaseHolds struct {
	Cases int    `json:"cases"`
	Total int    `json:"total"`
	Order string `json:"order"`
}

// CaseEvaluator is an evaluator and what it checks, in words: the value at
// Path in the final state, or with Node set in that node's output.
type CaseEvaluator struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Weight float64 `json:"weight"`
	Path   string  `json:"path"`
	Node   string  `json:"node"`
	Rule   string  `json:"rule"`
}

// CaseOutput says where the cells' outputs are: the value at Path in the
// final state (Evaluator: the evaluator whose path it is, when chosen by
// default), or with Path "" the output of the node that produced it.
type CaseOutput struct {
	Path      string `json:"path"`
	Evaluator string `json:"evaluator"`
	// MaxChars is where each output's text is cut.
	MaxChars int `json:"max_chars"`
}

// Snippet is a JSON value as compact text, cut when long; Found is false
// when there is no value (no expected values, nothing at the path).
type Snippet struct {
	Text      string `json:"text"`
	Truncated bool   `json:"truncated"`
	Found     bool   `json:"found"`
}

// CaseRow is one case: its executions among the shown combinations.
type CaseRow struct {
	CaseID     string     `json:"case_id"`
	Input      Snippet    `json:"input"`
	Expected   Snippet    `json:"expected"`
	Executions int        `json:"executions"`
	Failed     int        `json:"failed"`
	Cells      []CaseCell `json:"cells"`
}

// CaseCell is what one combination made of the case, repeat by repeat.
type CaseCell struct {
	Combination string `json:"combination"`
	Executions  int    `json:"executions"`
	Passed      int    `json:"passed"`
	// MeanScore is the mean overall score of its repeats (null: none ran).
	MeanScore *float64  `json:"mean_score"`
	Runs      []CaseRun `json:"runs"`
}

// CaseRun is one execution in a cell.
type CaseRun struct {
	ExecutionKey string             `json:"execution_key"`
	Repeat       int                `json:"repeat"`
	Status       string             `json:"status"`
	Passed       bool               `json:"passed"`
	OverallScore float64            `json:"overall_score"`
	Scores       map[string]float64 `json:"scores"`
	Notes        map[string]string  `json:"notes"`
	Error        string             `json:"error"`
	FailedNode   string             `json:"failed_node"`
	Output       Snippet            `json:"output"`
}

// Limits of a grid document's texts.
const (
	// MaxCaseValue cuts a case's input and expected values (the execution
	// page shows them whole).
	MaxCaseValue = 10000
)

// CasesOf describes a page of a grid read with o. Outputs were read a little
// longer than o.MaxOutput (application.GridOf), so that a sensitive value at the
// cut is masked whole before the text is cut here.
func CasesOf(g *application.Grid, o application.GridOptions) Cases {
	maxOutput := o.MaxOutput
	b := g.Spec
	red := b.Redactor()
	d := Cases{Header: header(KindCases), BatchID: g.Batch.ID, Combinations: list(g.Combinations), Shown: list(g.Shown),
		Evaluators: []CaseEvaluator{}, PassScore: b.PassScore, Repeats: b.Repeat,
		Output: CaseOutput{Evaluator: g.OutputFrom, MaxChars: maxOutput}, Search: o.Search, Sort: o.Sort, Desc: o.Desc, ScoreOf: o.ScoreOf,
		Total: g.Total, Offset: o.Offset, Limit: o.Limit, Cases: []CaseRow{}}
	if d.Sort == "" {
		d.Sort, d.Desc = store.CaseSortFailed, true
	}
	if g.Output != nil {
		d.Output.Path = g.Output.String()
	}
	for _, ev := range b.Evaluators {
		d.Evaluators = append(d.Evaluators, CaseEvaluator{Name: ev.Name, Type: ev.Type, Weight: ev.Weight, Path: ev.Path, Node: ev.Node, Rule: eval.Describe(ev)})
	}
	for _, c := range g.Cases {
		row := CaseRow{CaseID: c.Case.CaseID, Input: snippetOf(red.JSON(c.Spec.Input), MaxCaseValue),
			Expected: snippetOf(red.JSON(c.Spec.Expected), MaxCaseValue), Executions: c.Case.Executions, Failed: c.Case.Failed, Cells: []CaseCell{}}
		for _, combo := range g.Shown {
			cell := CaseCell{Combination: combo, Runs: []CaseRun{}}
			sum := 0.0
			for _, r := range c.Runs[combo] {
				cell.Executions++
				sum += r.OverallScore
				if r.Passed {
					cell.Passed++
				}
				run := CaseRun{ExecutionKey: r.ExecutionKey, Repeat: r.Repeat, Status: r.Status, Passed: r.Passed, OverallScore: r.OverallScore,
					Scores: orEmpty(r.Scores), Notes: map[string]string{}, Error: red.String(r.Error), FailedNode: r.FailedNode,
					Output: Snippet{Text: red.String(r.Output), Found: r.Found}}
				for k, v := range r.Notes {
					run.Notes[k] = red.String(v)
				}
				whole := r.OutputLen <= utf8.RuneCountInString(r.Output)
				if whole { // compact, as both backends print it (PostgreSQL's jsonb puts spaces in)
					run.Output.Text = compactText(run.Output.Text)
				}
				run.Output.Text, run.Output.Truncated = cut(run.Output.Text, maxOutput)
				run.Output.Truncated = run.Output.Truncated || !whole
				cell.Runs = append(cell.Runs, run)
			}
			if cell.Executions > 0 {
				mean := sum / float64(cell.Executions)
				cell.MeanScore = &mean
			}
			row.Cells = append(row.Cells, cell)
		}
		d.Cases = append(d.Cases, row)
	}
	return d
}

// snippetOf is a JSON value's compact text, cut at max characters.
func snippetOf(raw json.RawMessage, max int) Snippet {
	if len(raw) == 0 {
		return Snippet{}
	}
	text := compactText(string(raw))
	s := Snippet{Found: true}
	s.Text, s.Truncated = cut(text, max)
	return s
}

// compactText is a JSON text without insignificant space (as it is when it
// is not JSON).
func compactText(s string) string {
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(s)) != nil {
		return s
	}
	return buf.String()
}

// cut shortens s to max characters (not bytes: a cut never splits one).
func cut(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i], true
		}
		n++
	}
	return s, false
}
