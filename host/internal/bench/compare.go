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
	"github.com/wtbench/wtb/host/internal/stats"
	"github.com/wtbench/wtb/host/internal/store"
)

// ComboDelta is one combination compared across two batches.
type ComboDelta struct {
	Combination string
	MeanA       *float64 // nil: not in A
	MeanB       *float64 // nil: not in B
	Delta       float64  // MeanB − MeanA
	PassA       float64
	PassB       float64
	// Paired is the test on the executions both batches ran (same case and
	// repeat): the mean difference, its interval and p-values. Pairs is 0
	// when they share none.
	Paired stats.Paired
	// P is the p-value of the test the comparison uses (CompareOptions.Test).
	P float64
	// Significant: P below Alpha. Regression: a significant drop larger
	// than the tolerance.
	Significant bool
	Regression  bool
}

// Tests a comparison can use on paired scores.
const (
	TestT        = "t"        // paired Student t on the mean difference
	TestWilcoxon = "wilcoxon" // Wilcoxon signed-rank: no assumption of normality
)

// CompareOptions tune a comparison.
type CompareOptions struct {
	// Tolerance: a mean drop at most this large is never a regression.
	Tolerance float64
	// Alpha: a drop is significant when the test's p-value is below it.
	Alpha float64
	// Test is TestT (default) or TestWilcoxon.
	Test string
	// Cases lists the executions whose score changed, with where they diverge.
	Cases bool
}

// Defaults of CompareOptions.
const (
	DefaultTolerance = 0.05
	DefaultAlpha     = 0.05
)

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
	Alpha        float64
	Test         string
	Combinations []ComboDelta
	Regressions  int
	// Cases is set when asked for: executions whose score changed.
	Cases []CaseDelta
}

// outcomeA is what a comparison keeps of one of A's results: B's results are
// streamed against these, so comparing two batches of 100,000 executions holds
// neither batch.
type outcomeA struct {
	combo   string
	score   float64
	success bool
	status  string
	finalID string
	failed  string
}

// Compare compares batch b against batch a per combination — a regression is
// a mean drop larger than the tolerance that a paired test on the shared
// executions finds significant — and, with o.Cases, per execution.
func Compare(ctx context.Context, st store.Store, a, b string, o CompareOptions) (*Comparison, error) {
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.Test == "" {
		o.Test = TestT
	}
	if o.Test != TestT && o.Test != TestWilcoxon {
		return nil, configErr("unknown test %q: use %s or %s", o.Test, TestT, TestWilcoxon)
	}
	tolerance, cases := o.Tolerance, o.Cases
	recA, specA, err := Batch(ctx, st, a)
	if err != nil {
		return nil, err
	}
	recB, specB, err := Batch(ctx, st, b)
	if err != nil {
		return nil, err
	}
	aggA, aggB := report.NewAggregator(specA), report.NewAggregator(specB)
	aggA.Decided(recA.Decisions)
	aggB.Decided(recB.Decisions)
	byKey := map[string]outcomeA{}
	err = st.Results().EachScored(ctx, recA.ID, func(r *store.Result) error {
		aggA.Add(r)
		byKey[r.ExecutionKey] = outcomeA{r.Combination, r.OverallScore, r.Success, r.Status, r.FinalCheckpointID, r.FailedNode}
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	var changed []store.Result
	pairs := map[string]*[2][]float64{} // combination → scores in A, in B
	err = st.Results().EachScored(ctx, recB.ID, func(r *store.Result) error {
		aggB.Add(r)
		ra, ok := byKey[r.ExecutionKey]
		if !ok {
			return nil
		}
		p := pairs[r.Combination]
		if p == nil {
			p = &[2][]float64{}
			pairs[r.Combination] = p
		}
		p[0], p[1] = append(p[0], ra.score), append(p[1], r.OverallScore)
		if cases && (ra.score != r.OverallScore || ra.success != r.Success) {
			changed = append(changed, *r)
		}
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	c := &Comparison{A: recA, B: recB, Tolerance: tolerance, Alpha: o.Alpha, Test: o.Test, Cases: []CaseDelta{}}
	c.Combinations, c.Regressions = compareCombos(aggA.Summary(), aggB.Summary(), pairs, o)
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

func compareCombos(sa, sb report.Summary, pairs map[string]*[2][]float64, o CompareOptions) ([]ComboDelta, int) {
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
		row.P = 1
		if okA && okB {
			row.Delta = cb.Mean - ca.Mean
			if p := pairs[n]; p != nil {
				row.Paired = stats.PairedTest(p[0], p[1], 0.95)
				row.P = row.Paired.PT
				if o.Test == TestWilcoxon {
					row.P = row.Paired.PW
				}
			}
			row.Significant = row.Paired.N >= 2 && row.P < o.Alpha
			row.Regression = row.Significant && row.Delta < -o.Tolerance
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
