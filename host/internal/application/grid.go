package application

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// The case × combination grid: a row per case with its input and expected
// values, a column per combination, and in each cell what each repeat of that
// combination made of that case — its output, its scores and why. Cases are
// paged, sorted and searched in the database; a page is two queries, whatever
// its size.

// OutputOfNode names, in GridOptions.Output, the output of the node that
// produced an execution's final state rather than a path into that state.
const OutputOfNode = "node"

// MaxGridColumns is how many combinations a grid shows unless told which:
// the leaderboard's first.
const MaxGridColumns = 10

// GridOptions choose a page of the grid.
type GridOptions struct {
	// Combinations are the columns, in order (nil: the first MaxGridColumns
	// in leaderboard order).
	Combinations []string
	// Output is where a cell's output is: "" the first evaluator's path (or,
	// without one, as OutputOfNode), OutputOfNode, or a JSONPath into the
	// final state.
	Output string
	// Search keeps the cases whose id, input or expected values, or the
	// output of one of their executions among the columns, contain it
	// (ignoring case).
	Search string
	// Sort, Desc and ScoreOf order the cases (store.CaseQuery): failures
	// first by default.
	Sort    string
	Desc    bool
	ScoreOf string
	Offset  int
	Limit   int
	// MaxOutput cuts each output's JSON text to this many characters.
	MaxOutput int
}

// Grid is one page of a batch's grid.
type Grid struct {
	Batch *store.Batch
	Spec  *spec.Batch
	// Combinations are every combination of the batch: leaderboard order for
	// a batch that stored its summary, the bench file's order before. Shown
	// are the columns.
	Combinations []string
	Shown        []string
	// Output is where the cells' outputs are (nil: the output of the node
	// that produced the final state); OutputFrom names the evaluator whose
	// path it is when chosen by default.
	Output     store.Path
	OutputFrom string
	// Total counts the cases that match; Cases is the page.
	Total int
	Cases []GridCase
}

// GridCase is one row: a case and its executions by combination.
type GridCase struct {
	Case store.CaseSummary
	// Spec is the case as the batch ran it (zero if the bench no longer
	// lists it).
	Spec spec.Case
	// Runs are each shown combination's executions of the case, by
	// combination, in repeat order.
	Runs map[string][]store.ResultOutput
}

// GridOf reads one page of a stored batch's grid.
func GridOf(ctx context.Context, st store.Store, id string, o GridOptions) (*Grid, error) {
	rec, b, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	g := &Grid{Batch: rec, Spec: b, Combinations: combinationOrder(rec, b)}
	if g.Shown, err = shownColumns(b, g.Combinations, o.Combinations); err != nil {
		return nil, err
	}
	if g.Output, g.OutputFrom, err = outputPath(b, o.Output); err != nil {
		return nil, err
	}
	if o.ScoreOf != "" && !slices.Contains(g.Combinations, o.ScoreOf) {
		return nil, configErr("batch %s has no combination %q to sort by", rec.ID, o.ScoreOf)
	}
	q := store.CaseQuery{Combinations: g.Shown, Output: g.Output, Sort: o.Sort, Desc: o.Desc, ScoreOf: o.ScoreOf, Offset: o.Offset, Limit: o.Limit}
	if o.Search != "" {
		q.Search, q.SearchCases = o.Search, matchingCases(b, o.Search)
	}
	if _, err := q.OrderBy(""); err != nil {
		return nil, configErr("%v", err)
	}
	page, total, err := st.Results().Cases(ctx, rec.ID, q)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	g.Total = total
	byID := make(map[string]spec.Case, len(b.Cases))
	for _, c := range b.Cases {
		byID[c.ID] = c
	}
	// The page's executions by key: every shown combination and repeat of
	// each case, one query through the (batch, execution key) index.
	keys := make([]string, 0, len(page)*len(g.Shown)*max(b.Repeat, 1))
	row := map[string]int{}
	for i, c := range page {
		row[c.CaseID] = i
		g.Cases = append(g.Cases, GridCase{Case: c, Spec: byID[c.CaseID], Runs: map[string][]store.ResultOutput{}})
		for _, combo := range g.Shown {
			for r := 0; r < max(b.Repeat, 1); r++ {
				keys = append(keys, spec.ExecutionKey(combo, c.CaseID, r))
			}
		}
	}
	// Read past the cut by the longest sensitive value (escaped), so the
	// document masks one at the cut whole before cutting.
	slack := 0
	for _, v := range b.Sensitive {
		slack = max(slack, 6*len(v))
	}
	runs, err := st.Results().Outputs(ctx, rec.ID, keys, g.Output, max(o.MaxOutput, 1)+slack)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	for _, r := range runs {
		if i, ok := row[r.CaseID]; ok {
			g.Cases[i].Runs[r.Combination] = append(g.Cases[i].Runs[r.Combination], r)
		}
	}
	return g, nil
}

// combinationOrder lists a batch's combinations best first when its summary
// is stored (a finished batch), else as the bench file lists them: ranking a
// running batch means reading every result.
func combinationOrder(rec *store.Batch, b *spec.Batch) []string {
	var out []string
	if sum, ok := storedSummary(rec); ok {
		for _, c := range sum.Combos {
			out = append(out, c.Combination)
		}
	}
	for _, c := range b.Combinations {
		if !slices.Contains(out, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}

func shownColumns(b *spec.Batch, all, asked []string) ([]string, error) {
	if asked == nil {
		return all[:min(len(all), MaxGridColumns)], nil
	}
	shown := []string{}
	for _, c := range asked {
		if !slices.Contains(all, c) {
			return nil, configErr("batch %s has no combination %q", b.Name, c)
		}
		if !slices.Contains(shown, c) {
			shown = append(shown, c)
		}
	}
	return shown, nil
}

// outputPath is where a grid's outputs are: the path asked for, or the first
// evaluator's that scores the final state, or (nil) the last node's output.
func outputPath(b *spec.Batch, asked string) (store.Path, string, error) {
	switch asked {
	case OutputOfNode:
		return nil, "", nil
	case "":
		for _, ev := range b.Evaluators {
			if ev.Path != "" && ev.Node == "" {
				if p, err := store.ParsePath(ev.Path); err == nil {
					return p, ev.Name, nil
				}
			}
		}
		return nil, "", nil
	}
	p, err := store.ParsePath(asked)
	if err != nil {
		return nil, "", configErr("output %v", err)
	}
	return p, "", nil
}

// matchingCases lists the cases whose id, input or expected values contain
// text, ignoring case: the bench's own cases, as stored with it.
func matchingCases(b *spec.Batch, text string) []string {
	needle := strings.ToLower(text)
	red := b.Redactor()
	var out []string
	for _, c := range b.Cases {
		if strings.Contains(strings.ToLower(c.ID), needle) ||
			strings.Contains(strings.ToLower(compactJSON(red.JSON(c.Input))), needle) ||
			strings.Contains(strings.ToLower(compactJSON(red.JSON(c.Expected))), needle) {
			out = append(out, c.ID)
		}
	}
	return out
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
