package application

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/leaderboard"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/stats"
	"github.com/wtbench/wtb/host/internal/store"
)

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
	// scores of the comparable evaluators, in the order of tested
	scores []float64
	// nodes are the digests of the states after each node, when A is a
	// baseline file (which holds no checkpoints).
	nodes []NodeDigest
}

// side is one batch of a comparison: a stored batch, or (for A) a baseline
// file exported from one.
type side struct {
	rec  *store.Batch
	spec *spec.Batch
	// cases maps each case id to its digest (dataset.CaseDigest).
	cases map[string]string
	// each streams the batch's scored results, with each one's node digests
	// when the batch is a baseline (nil for a stored batch).
	each func(ctx context.Context, fn func(*store.Result, []NodeDigest) error) error
	// baseline is the file the side was read from ("" for a stored batch).
	baseline string
	// costs counts the batch's model call costs into its aggregator; nil
	// when the side records none (a baseline file keeps no cost).
	costs func(ctx context.Context, agg *leaderboard.Aggregator) error
}

// storedSide is a stored batch as one side of a comparison.
func storedSide(ctx context.Context, st store.Store, id string) (*side, error) {
	rec, b, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	return &side{rec: rec, spec: b, cases: dataset.Digests(b.Cases),
		each: func(ctx context.Context, fn func(*store.Result, []NodeDigest) error) error {
			return st.Results().EachScored(ctx, rec.ID, func(r *store.Result) error { return fn(r, nil) })
		},
		costs: func(ctx context.Context, agg *leaderboard.Aggregator) error { return addCosts(ctx, st, rec.ID, b, agg) }}, nil
}

// pairs are the scores of one combination's paired executions: the overall
// score, then each comparable evaluator's.
type pairs struct {
	overall [2][]float64
	ev      [][2][]float64
}

// Compare compares batch b against batch a per combination — a regression is
// a mean drop larger than the tolerance that a paired test on the shared
// executions finds significant — and, with o.Cases, per execution. When A
// and B were scored by different evaluators (or the same ones with other
// settings or weights) their overall scores measure different things, so the
// verdict compares each evaluator both scored alike instead; executions are
// paired only on cases both ran with the same input and expectations.
func Compare(ctx context.Context, st store.Store, a, b string, o CompareOptions) (*Comparison, error) {
	sa, err := storedSide(ctx, st, a)
	if err != nil {
		return nil, err
	}
	sb, err := storedSide(ctx, st, b)
	if err != nil {
		return nil, err
	}
	return compare(ctx, st, sa, sb, o)
}

// CompareBaseline compares stored batch b against a baseline file exported
// from batch A (see ExportBaseline), as Compare compares it against A
// stored: the same figures and verdicts. Where the executions first diverge
// is found from the digests of A's states the file keeps, so it names the
// node but cannot show A's output.
func CompareBaseline(ctx context.Context, st store.Store, a *Baseline, b string, o CompareOptions) (*Comparison, error) {
	sb, err := storedSide(ctx, st, b)
	if err != nil {
		return nil, err
	}
	return compare(ctx, st, a.side(), sb, o)
}

func compare(ctx context.Context, st store.Store, sa, sb *side, o CompareOptions) (*Comparison, error) {
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
	recA, specA, recB, specB := sa.rec, sa.spec, sb.rec, sb.spec
	c := &Comparison{A: recA, B: recB, Tolerance: tolerance, Alpha: o.Alpha, Test: o.Test, CaseDeltas: []CaseDelta{},
		PassScoreA: specA.PassScore, PassScoreB: specB.PassScore, BaselineFile: sa.baseline}
	evB := specB.Evaluators
	if sa.baseline != "" {
		// A baseline file keeps its evaluators with sensitive values masked:
		// B's are compared masked alike.
		evB = redactedEvaluators(specB)
	}
	c.Evaluators, c.OverallComparable = diffEvaluators(specA.Evaluators, evB, specA.Dir, specB.Dir)
	var tested []string // comparable evaluators, whose scores are paired
	for _, d := range c.Evaluators {
		if d.Comparable {
			tested = append(tested, d.Name)
		}
	}
	var samecase map[string]bool
	c.Cases, samecase = diffCases(sa.cases, sb.cases)

	aggA, aggB := leaderboard.NewAggregator(specA), leaderboard.NewAggregator(specB)
	aggA.Decided(recA.Decisions)
	aggB.Decided(recB.Decisions)
	byKey := map[string]outcomeA{}
	err := sa.each(ctx, func(r *store.Result, nodes []NodeDigest) error {
		aggA.Add(r)
		if !samecase[r.CaseID] {
			return nil
		}
		oa := outcomeA{r.Combination, r.OverallScore, r.Success, r.Status, r.FinalCheckpointID, r.FailedNode, nil, nodes}
		if len(tested) > 0 {
			oa.scores = make([]float64, len(tested))
			for i, name := range tested {
				oa.scores[i] = r.Scores[name]
			}
		}
		byKey[r.ExecutionKey] = oa
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	if sa.costs != nil {
		if err := sa.costs(ctx, aggA); err != nil {
			return nil, runtimeErr("%w", err)
		}
	}
	var changed []store.Result
	paired := map[string]*pairs{} // combination → paired scores
	err = sb.each(ctx, func(r *store.Result, _ []NodeDigest) error {
		aggB.Add(r)
		ra, ok := byKey[r.ExecutionKey]
		if !ok || !samecase[r.CaseID] {
			return nil
		}
		p := paired[r.Combination]
		if p == nil {
			p = &pairs{ev: make([][2][]float64, len(tested))}
			paired[r.Combination] = p
		}
		p.overall[0], p.overall[1] = append(p.overall[0], ra.score), append(p.overall[1], r.OverallScore)
		for i, name := range tested {
			p.ev[i][0], p.ev[i][1] = append(p.ev[i][0], ra.scores[i]), append(p.ev[i][1], r.Scores[name])
		}
		if ra.score != r.OverallScore || ra.success != r.Success {
			c.CasesChanged++
			if cases {
				changed = append(changed, *r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	if sb.costs != nil {
		if err := sb.costs(ctx, aggB); err != nil {
			return nil, runtimeErr("%w", err)
		}
	}
	c.Combinations, c.Regressions = compareCombos(c, aggA.Summary(), aggB.Summary(), paired, tested, o)
	if sa.costs == nil {
		// A recorded no cost: not "no model calls", which would be a claim.
		for i := range c.Combinations {
			c.Combinations[i].CostNotRecordedA = true
		}
	}
	for _, rb := range changed {
		ra := byKey[rb.ExecutionKey]
		c.CaseDeltas = append(c.CaseDeltas, CaseDelta{ExecutionKey: rb.ExecutionKey, Combination: rb.Combination, CaseID: rb.CaseID,
			ScoreA: ra.score, ScoreB: rb.OverallScore, Delta: rb.OverallScore - ra.score, StatusA: ra.status, StatusB: rb.Status})
	}
	sort.SliceStable(c.CaseDeltas, func(i, j int) bool {
		if c.CaseDeltas[i].Delta != c.CaseDeltas[j].Delta {
			return c.CaseDeltas[i].Delta < c.CaseDeltas[j].Delta
		}
		return c.CaseDeltas[i].ExecutionKey < c.CaseDeltas[j].ExecutionKey
	})
	if o.CaseLimit > 0 && len(c.CaseDeltas) > o.CaseLimit {
		c.CaseDeltas = c.CaseDeltas[:o.CaseLimit]
	}
	byB := make(map[string]*store.Result, len(changed))
	for i := range changed {
		byB[changed[i].ExecutionKey] = &changed[i]
	}
	for i := range c.CaseDeltas {
		d := &c.CaseDeltas[i]
		if err := firstDivergence(ctx, st, byKey[d.ExecutionKey], *byB[d.ExecutionKey], d); err != nil {
			return nil, runtimeErr("%w", err)
		}
	}
	return c, nil
}

// addCosts counts what a batch's model calls cost into its aggregator: the
// costs are in the results' metrics, which the scored pass does not read, so
// a second pass, for gateway batches only (as the leaderboard does).
func addCosts(ctx context.Context, st store.Store, id string, b *spec.Batch, agg *leaderboard.Aggregator) error {
	if b.Gateway == nil {
		return nil
	}
	return st.Results().Each(ctx, id, func(r *store.Result) error { agg.AddCost(r); return nil })
}

// redactedEvaluators are b's evaluators with its sensitive values masked, as
// a baseline file keeps them.
func redactedEvaluators(b *spec.Batch) []spec.Evaluator {
	raw, err := json.Marshal(b.Evaluators)
	if err != nil {
		return b.Evaluators
	}
	var out []spec.Evaluator
	if json.Unmarshal(b.Redactor().JSON(raw), &out) != nil {
		return b.Evaluators
	}
	return out
}

// portableCommand is a command with the paths under dir written relative to
// it, as one string.
func portableCommand(cmd []string, dir string) string {
	parts := make([]string, len(cmd))
	for i, arg := range cmd {
		parts[i] = spec.RelativeTo(dir, arg)
	}
	return strings.Join(parts, " ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func compareCombos(c *Comparison, sa, sb leaderboard.Summary, paired map[string]*pairs, tested []string, o CompareOptions) ([]ComboDelta, int) {
	byA := map[string]leaderboard.Combo{}
	for _, x := range sa.Combos {
		byA[x.Combination] = x
	}
	byB := map[string]leaderboard.Combo{}
	for _, x := range sb.Combos {
		byB[x.Combination] = x
	}
	names := map[string]bool{}
	for k := range byA {
		names[k] = true
	}
	for k := range byB {
		names[k] = true
	}
	testedAt := map[string]int{}
	for i, name := range tested {
		testedAt[name] = i
	}
	test := func(p [2][]float64) (stats.Paired, float64) {
		r := stats.PairedTest(p[0], p[1], 0.95)
		if o.Test == TestWilcoxon {
			return r, r.PW
		}
		return r, r.PT
	}
	rows := []ComboDelta{}
	regressions := 0
	for _, n := range spec.SortedKeys(names) {
		row := ComboDelta{Combination: n, P: 1}
		ca, okA := byA[n]
		cb, okB := byB[n]
		if okA {
			row.MeanA, row.PassA = ptr(ca.Mean), ptr(ca.PassRate)
		}
		if okB {
			row.MeanB, row.PassB = ptr(cb.Mean), ptr(cb.PassRate)
		}
		p := paired[n]
		if okA {
			row.CostA, row.TokensA, row.UnpricedA = costOf(ca.Cost)
		}
		if okB {
			row.CostB, row.TokensB, row.UnpricedB = costOf(cb.Cost)
		}
		if row.CostA != nil && row.CostB != nil {
			row.CostDelta = ptr(*row.CostB - *row.CostA)
		}
		if row.TokensA != nil && row.TokensB != nil {
			row.TokensDelta = ptr(*row.TokensB - *row.TokensA)
		}
		if okA && ca.Succeeded > 0 {
			row.P50A, row.P95A = ptr(ca.P50Ms), ptr(ca.P95Ms)
		}
		if okB && cb.Succeeded > 0 {
			row.P50B, row.P95B = ptr(cb.P50Ms), ptr(cb.P95Ms)
		}
		row.P50Delta, row.P95Delta = diffOf(row.P50A, row.P50B), diffOf(row.P95A, row.P95B)
		if okA && okB {
			row.Delta = ptr(cb.Mean - ca.Mean)
			if p != nil {
				row.Paired, row.P = test(p.overall)
			}
			// Overall scores computed from other evaluators are not a finding,
			// however small p is: only comparable ones are significant. The
			// tolerance applies to what the test measured: the paired
			// difference, on the cases both batches ran.
			row.Significant = c.OverallComparable && row.Paired.N >= 2 && row.P < o.Alpha
			row.Regression = row.Significant && row.Paired.MeanDiff < -o.Tolerance
		}
		for _, d := range c.Evaluators {
			ed := EvaluatorDelta{Name: d.Name, P: 1}
			if okA && d.A != nil {
				ed.MeanA = ptr(ca.Evaluators[d.Name])
			}
			if okB && d.B != nil {
				ed.MeanB = ptr(cb.Evaluators[d.Name])
			}
			if ed.MeanA != nil && ed.MeanB != nil {
				ed.Delta = ptr(*ed.MeanB - *ed.MeanA)
			}
			if i, ok := testedAt[d.Name]; ok && p != nil {
				ed.Tested = true
				ed.Paired, ed.P = test(p.ev[i])
				ed.Significant = ed.Paired.N >= 2 && ed.P < o.Alpha
				ed.Regression = ed.Significant && ed.Paired.MeanDiff < -o.Tolerance
				if !c.OverallComparable && ed.Regression {
					row.Regression = true
				}
			}
			row.Evaluators = append(row.Evaluators, ed)
		}
		if row.Regression {
			regressions++
		}
		rows = append(rows, row)
	}
	// The largest drops first; combinations only one batch ran last.
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].Delta, rows[j].Delta
		if (a == nil) != (b == nil) {
			return b == nil
		}
		return a != nil && *a < *b
	})
	return rows, regressions
}

func ptr(x float64) *float64 { return &x }

// costOf is a combination's mean cost per execution (nil unless every call
// was priced), mean tokens per execution (nil: no model calls) and unpriced
// calls.
func costOf(c *leaderboard.Cost) (cost, tokens *float64, unpriced int) {
	if c == nil {
		return nil, nil, 0
	}
	if c.Unpriced == 0 && c.MeanUSD != nil {
		cost = ptr(*c.MeanUSD)
	}
	return cost, ptr(c.MeanTokens), c.Unpriced
}

// diffOf is b − a, nil unless both exist.
func diffOf(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	return ptr(*b - *a)
}
