package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/report"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// ComboDelta is one combination compared across two batches.
type ComboDelta struct {
	Combination string
	MeanA       *float64 // nil: not in A
	MeanB       *float64 // nil: not in B
	Delta       float64
	PassA       float64
	PassB       float64
	Regression  bool
}

// CaseDelta is an execution whose score changed between two batches, with the
// first node whose output differs.
type CaseDelta struct {
	ExecutionKey string
	Combination  string
	CaseID       string
	ScoreA       float64
	ScoreB       float64
	Delta        float64
	StatusA      string
	StatusB      string
	// Node is the first node (in B's order) whose state differs from A's;
	// Detail says how. OutputA and OutputB are that node's outputs.
	Node             string
	Detail           string
	OutputA, OutputB json.RawMessage
}

// Comparison is batch B against batch A.
type Comparison struct {
	A, B         *store.Batch
	Tolerance    float64
	Combinations []ComboDelta
	Regressions  int
	// Cases is set when asked for: executions whose score changed.
	Cases []CaseDelta
}

// outcomeA is what a comparison keeps of one of A's results: B's results are
// streamed against these, so comparing two batches of 100,000 executions holds
// neither batch.
type outcomeA struct {
	score   float64
	success bool
	status  string
	finalID string
	failed  string
}

// Compare compares batch b against batch a per combination (a mean score
// drop larger than tolerance is a regression) and, with cases, per execution.
func Compare(ctx context.Context, st store.Store, a, b string, tolerance float64, cases bool) (*Comparison, error) {
	recA, specA, err := Batch(ctx, st, a)
	if err != nil {
		return nil, err
	}
	recB, specB, err := Batch(ctx, st, b)
	if err != nil {
		return nil, err
	}
	aggA, aggB := report.NewAggregator(specA), report.NewAggregator(specB)
	byKey := map[string]outcomeA{}
	err = st.Results().EachScored(ctx, recA.ID, func(r *store.Result) error {
		aggA.Add(r)
		if cases {
			byKey[r.ExecutionKey] = outcomeA{r.OverallScore, r.Success, r.Status, r.FinalCheckpointID, r.FailedNode}
		}
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	var changed []store.Result
	err = st.Results().EachScored(ctx, recB.ID, func(r *store.Result) error {
		aggB.Add(r)
		if ra, ok := byKey[r.ExecutionKey]; ok && (ra.score != r.OverallScore || ra.success != r.Success) {
			changed = append(changed, *r)
		}
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	c := &Comparison{A: recA, B: recB, Tolerance: tolerance, Cases: []CaseDelta{}}
	c.Combinations, c.Regressions = compareCombos(aggA.Summary(), aggB.Summary(), tolerance)
	for _, rb := range changed {
		ra := byKey[rb.ExecutionKey]
		d := CaseDelta{ExecutionKey: rb.ExecutionKey, Combination: rb.Combination, CaseID: rb.CaseID,
			ScoreA: ra.score, ScoreB: rb.OverallScore, Delta: rb.OverallScore - ra.score, StatusA: ra.status, StatusB: rb.Status}
		if err := firstDivergence(ctx, st, ra, rb, &d); err != nil {
			return nil, runtimeErr("%w", err)
		}
		c.Cases = append(c.Cases, d)
	}
	sort.SliceStable(c.Cases, func(i, j int) bool {
		if c.Cases[i].Delta != c.Cases[j].Delta {
			return c.Cases[i].Delta < c.Cases[j].Delta
		}
		return c.Cases[i].ExecutionKey < c.Cases[j].ExecutionKey
	})
	return c, nil
}

func compareCombos(sa, sb report.Summary, tol float64) ([]ComboDelta, int) {
	byA := map[string]report.Combo{}
	for _, c := range sa.Combos {
		byA[c.Combination] = c
	}
	byB := map[string]report.Combo{}
	for _, c := range sb.Combos {
		byB[c.Combination] = c
	}
	names := map[string]bool{}
	for k := range byA {
		names[k] = true
	}
	for k := range byB {
		names[k] = true
	}
	rows := []ComboDelta{}
	regressions := 0
	for _, n := range spec.SortedKeys(names) {
		row := ComboDelta{Combination: n}
		ca, okA := byA[n]
		cb, okB := byB[n]
		if okA {
			row.MeanA, row.PassA = &ca.Mean, ca.PassRate
		}
		if okB {
			row.MeanB, row.PassB = &cb.Mean, cb.PassRate
		}
		if okA && okB {
			row.Delta = cb.Mean - ca.Mean
			row.Regression = row.Delta < -tol
		}
		if row.Regression {
			regressions++
		}
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Delta < rows[j].Delta })
	return rows, regressions
}

// firstDivergence finds the first node, in B's order, whose state differs
// from the same node's in A.
func firstDivergence(ctx context.Context, st store.Store, ra outcomeA, rb store.Result, d *CaseDelta) error {
	ca, err := chain(ctx, st, ra.finalID)
	if err != nil {
		return err
	}
	cb, err := chain(ctx, st, rb.FinalCheckpointID)
	if err != nil {
		return err
	}
	inA := map[string]*store.Checkpoint{}
	for _, cp := range ca {
		if cp.Node != "" {
			inA[cp.Node] = cp
		}
	}
	for _, cp := range cb {
		if cp.Node == "" {
			continue
		}
		before, ok := inA[cp.Node]
		if !ok {
			d.Node, d.Detail, d.OutputB = cp.Node, "did not run in A", cp.Output
			return nil
		}
		sa, sb := DecodeState(before.State), DecodeState(cp.State)
		if !reflect.DeepEqual(sa, sb) {
			d.Node, d.Detail = cp.Node, strings.Join(StateDiff(sa, sb), "; ")
			d.OutputA, d.OutputB = before.Output, cp.Output
			return nil
		}
	}
	if !ra.success || !rb.Success {
		d.Node = rb.FailedNode + ra.failed
		if d.Node == "" {
			d.Node = "-"
		}
		d.Detail = fmt.Sprintf("A %s, B %s", ra.status, rb.Status)
		return nil
	}
	d.Node, d.Detail = "(none)", "same node outputs; the evaluators scored them differently"
	return nil
}
