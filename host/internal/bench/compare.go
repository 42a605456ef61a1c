package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/numfmt"
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
	// Delta is MeanB − MeanA, over each batch's own executions; nil unless
	// the combination is in both. The verdict uses the paired difference.
	Delta *float64
	PassA *float64 // nil: not in A
	PassB *float64 // nil: not in B
	// Paired is the test on the executions both batches ran on the same case
	// (same case id, input and expectations) and repeat: the mean difference,
	// its interval and p-values. N is 0 when they share none.
	Paired stats.Paired
	// P is the p-value of the test the comparison uses (CompareOptions.Test).
	P float64
	// Significant: P below Alpha, for comparable overall scores
	// (Comparison.OverallComparable) only. Regression: the combination's
	// verdict — a significant paired drop of the overall score larger than
	// the tolerance when the overall scores are comparable, else such a drop
	// of any evaluator both batches scored alike.
	Significant bool
	Regression  bool
	// Evaluators are the per-evaluator figures, one per evaluator of A or B
	// in the order of Comparison.Evaluators.
	Evaluators []EvaluatorDelta
	// P50A, P50B, P95A and P95B are each batch's latency percentiles of the
	// combination (its successful executions, as the leaderboard's), nil
	// where the batch has none; the deltas are B − A where both exist.
	P50A, P50B, P50Delta *float64
	P95A, P95B, P95Delta *float64
	// CostA and CostB are the combination's mean cost per execution in each
	// batch: nil when unknown — it made no model calls there, some of its
	// calls could not be priced (UnpricedA, UnpricedB count them: a call
	// whose model has no price or whose response reported no usage has no
	// known cost, never $0, and a mean over the priced executions alone would
	// compare different executions), or the batch is a baseline file, which
	// records no cost (CostNotRecordedA). CostDelta is B − A when both are
	// known.
	CostA, CostB, CostDelta *float64
	UnpricedA, UnpricedB    int
	CostNotRecordedA        bool
	// TokensA and TokensB are the mean tokens per execution (every kind; nil:
	// no model calls there, or not recorded); TokensDelta is B − A when both
	// exist.
	TokensA, TokensB, TokensDelta *float64
}

// Why a combination has no cost delta (ComboDelta.CostCompared).
const (
	CostUnpricedA    = "a"      // A has calls it could not price
	CostUnpricedB    = "b"      // B has
	CostUnpricedBoth = "both"   // both have
	CostNoCallsA     = "none_a" // A made no model calls for it (or does not have it)
	CostNoCallsB     = "none_b"
	CostNoCalls      = "none"
	// CostNotRecordedA: A is a baseline file, which keeps no cost; whether
	// its batch made model calls is not known.
	CostNotRecordedA = "not_recorded_a"
)

// CostCompared says why the combination has no cost delta, "" when it has
// one: A recorded no cost, the side with unpriced calls, or the side
// without model calls.
func (r *ComboDelta) CostCompared() string {
	switch {
	case r.CostDelta != nil:
		return ""
	case r.CostNotRecordedA:
		return CostNotRecordedA
	case r.TokensA == nil && r.TokensB == nil:
		return CostNoCalls
	case r.TokensA == nil:
		return CostNoCallsA
	case r.TokensB == nil:
		return CostNoCallsB
	case r.UnpricedA > 0 && r.UnpricedB > 0:
		return CostUnpricedBoth
	case r.UnpricedA > 0:
		return CostUnpricedA
	}
	return CostUnpricedB
}

// Combination verdicts.
const (
	VerdictRegression     = "regression"
	VerdictSignificant    = "significant"
	VerdictNotSignificant = "not_significant"
	VerdictOnlyA          = "only_a"
	VerdictOnlyB          = "only_b"
)

// Verdict sums a combination up: only in one batch, a regression, a
// significant change that is not one, or nothing significant. When the
// overall scores do not compare, "significant" means some evaluator scored
// both alike changed significantly.
func (r *ComboDelta) Verdict(overallComparable bool) string {
	switch {
	case r.MeanA == nil:
		return VerdictOnlyB
	case r.MeanB == nil:
		return VerdictOnlyA
	case r.Regression:
		return VerdictRegression
	case overallComparable && r.Significant:
		return VerdictSignificant
	case !overallComparable:
		for _, e := range r.Evaluators {
			if e.Significant {
				return VerdictSignificant
			}
		}
	}
	return VerdictNotSignificant
}

// EvaluatorDelta is one evaluator's figures for one combination.
type EvaluatorDelta struct {
	Name  string
	MeanA *float64 // nil: A has no such evaluator, or not this combination
	MeanB *float64
	Delta *float64 // MeanB − MeanA when both exist
	// Tested: the evaluator scored both batches alike (EvaluatorDiff.Comparable)
	// and the combination has pairs; then Paired, P, Significant and
	// Regression (a significant drop larger than the tolerance) are set.
	Tested      bool
	Paired      stats.Paired
	P           float64
	Significant bool
	Regression  bool
}

// Evaluator statuses in a comparison.
const (
	EvaluatorSame    = "same"
	EvaluatorChanged = "changed"
	EvaluatorOnlyA   = "only_a"
	EvaluatorOnlyB   = "only_b"
)

// EvaluatorDiff says how one evaluator scored A and B.
type EvaluatorDiff struct {
	Name   string
	Status string // EvaluatorSame, EvaluatorChanged, EvaluatorOnlyA, EvaluatorOnlyB
	A, B   *spec.Evaluator
	// Changes describe what differs, "weight 3 → 1".
	Changes []string
	// Comparable: the evaluator is in both with the same settings (its weight
	// aside: a weight changes the overall score, not the evaluator's), so its
	// scores of the same execution mean the same thing in both.
	Comparable bool
}

// CaseSets compares the cases A and B ran.
type CaseSets struct {
	Common int // same id, input and expectations
	OnlyA  int
	OnlyB  int
	// Changed cases have the same id and another input or expectations: their
	// executions are not paired.
	Changed int
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
	// CaseLimit keeps only the CaseLimit executions whose score dropped the
	// most (0: all of them); Comparison.CasesChanged still counts them all.
	// Finding where an execution diverges reads its checkpoints, so a
	// summary that shows the worst few asks for those only.
	CaseLimit int
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
	// Evaluators are the evaluators of A and B, A's first in its order, then
	// those only B has. OverallComparable says both computed the overall score
	// the same way (the same evaluators, settings and weights): only then is a
	// drop of the overall score a verdict.
	Evaluators        []EvaluatorDiff
	OverallComparable bool
	// PassScoreA and PassScoreB are the overall score an execution needed to
	// pass; pass rates compare only when they are equal.
	PassScoreA, PassScoreB float64
	Cases                  CaseSets
	// CaseDeltas is set when asked for: executions whose score changed, the
	// largest drops first (at most CompareOptions.CaseLimit of them).
	CaseDeltas []CaseDelta
	// CasesChanged counts the paired executions whose score or success
	// changed, whether listed or not.
	CasesChanged int
	// BaselineFile is the baseline file A was read from ("" when A is a
	// stored batch).
	BaselineFile string
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
	costs func(ctx context.Context, agg *report.Aggregator) error
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
		costs: func(ctx context.Context, agg *report.Aggregator) error { return addCosts(ctx, st, rec.ID, b, agg) }}, nil
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

	aggA, aggB := report.NewAggregator(specA), report.NewAggregator(specB)
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
func addCosts(ctx context.Context, st store.Store, id string, b *spec.Batch, agg *report.Aggregator) error {
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

// diffEvaluators lines up A's and B's evaluators by name and says whether the
// overall scores compare: the same evaluators with the same settings and
// weights. dirA and dirB are the batches' bench file directories: a command
// naming a script under it is the same command in another checkout.
func diffEvaluators(a, b []spec.Evaluator, dirA, dirB string) ([]EvaluatorDiff, bool) {
	inB := map[string]*spec.Evaluator{}
	for i := range b {
		inB[b[i].Name] = &b[i]
	}
	same := len(a) == len(b)
	out := []EvaluatorDiff{}
	seen := map[string]bool{}
	for i := range a {
		ea := &a[i]
		seen[ea.Name] = true
		eb := inB[ea.Name]
		if eb == nil {
			out = append(out, EvaluatorDiff{Name: ea.Name, Status: EvaluatorOnlyA, A: ea})
			same = false
			continue
		}
		d := EvaluatorDiff{Name: ea.Name, Status: EvaluatorSame, A: ea, B: eb, Changes: evaluatorChanges(ea, eb, dirA, dirB)}
		d.Comparable = len(d.Changes) == 0 || (len(d.Changes) == 1 && ea.Weight != eb.Weight)
		if len(d.Changes) > 0 {
			d.Status, same = EvaluatorChanged, false
		}
		out = append(out, d)
	}
	for i := range b {
		if !seen[b[i].Name] {
			out = append(out, EvaluatorDiff{Name: b[i].Name, Status: EvaluatorOnlyB, B: &b[i]})
			same = false
		}
	}
	return out, same
}

// evaluatorChanges describes what differs between two evaluators of one name,
// one entry per setting, the weight last.
func evaluatorChanges(a, b *spec.Evaluator, dirA, dirB string) []string {
	var out []string
	diff := func(name, x, y string) {
		if x != y {
			out = append(out, fmt.Sprintf("%s %s → %s", name, orNone(x), orNone(y)))
		}
	}
	diff("type", a.Type, b.Type)
	diff("node", a.Node, b.Node)
	diff("path", a.Path, b.Path)
	diff("expect", string(a.Expect), string(b.Expect))
	diff("pattern", a.Pattern, b.Pattern)
	diff("tolerance", numfmt.Setting(a.Tolerance), numfmt.Setting(b.Tolerance))
	diff("max_ms", numfmt.Setting(a.MaxMs), numfmt.Setting(b.MaxMs))
	diff("case_sensitive", fmt.Sprint(a.CaseSensitive), fmt.Sprint(b.CaseSensitive))
	diff("command", portableCommand(a.Command, dirA), portableCommand(b.Command, dirB))
	diff("timeout", time.Duration(a.Timeout).String(), time.Duration(b.Timeout).String())
	diff("weight", numfmt.Setting(a.Weight), numfmt.Setting(b.Weight))
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

// diffCases counts the cases both batches ran alike and those they did not,
// from each batch's case digests (id → dataset.CaseDigest: the same digest,
// the same input and expectations by value), and returns the ids of the
// cases both ran alike: only their executions are paired.
func diffCases(a, b map[string]string) (CaseSets, map[string]bool) {
	var sets CaseSets
	same := map[string]bool{}
	for id, da := range a {
		db, ok := b[id]
		switch {
		case !ok:
			sets.OnlyA++
		case da == db:
			sets.Common++
			same[id] = true
		default:
			sets.Changed++
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			sets.OnlyB++
		}
	}
	return sets, same
}

// DecodeValue decodes any JSON value, keeping numbers exact (nil when raw is
// empty or not JSON).
func DecodeValue(raw json.RawMessage) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

func compareCombos(c *Comparison, sa, sb report.Summary, paired map[string]*pairs, tested []string, o CompareOptions) ([]ComboDelta, int) {
	byA := map[string]report.Combo{}
	for _, x := range sa.Combos {
		byA[x.Combination] = x
	}
	byB := map[string]report.Combo{}
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
func costOf(c *report.Cost) (cost, tokens *float64, unpriced int) {
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

// firstDivergence finds the first node, in B's order, whose state differs
// from the same node's in A.
func firstDivergence(ctx context.Context, st store.Store, ra outcomeA, rb store.Result, d *CaseDelta) error {
	if ra.nodes != nil {
		return divergenceFromDigests(ctx, st, ra, rb, d)
	}
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
	sameNodes(ra, rb, d)
	return nil
}

// sameNodes says why an execution whose node states are all alike in A and
// B changed: a failure, or the evaluators.
func sameNodes(ra outcomeA, rb store.Result, d *CaseDelta) {
	if !ra.success || !rb.Success {
		d.Node = rb.FailedNode + ra.failed
		if d.Node == "" {
			d.Node = "-"
		}
		d.Detail = fmt.Sprintf("A %s, B %s", ra.status, rb.Status)
		return
	}
	d.Node, d.Detail = "(none)", "same node outputs; the evaluators scored them differently"
}

// divergenceFromDigests is firstDivergence when A is a baseline file: A's
// states are known by their digests only, so the node is named and B's
// output shown, but not what changed.
func divergenceFromDigests(ctx context.Context, st store.Store, ra outcomeA, rb store.Result, d *CaseDelta) error {
	cb, err := chain(ctx, st, rb.FinalCheckpointID)
	if err != nil {
		return err
	}
	inA := map[string]string{}
	for _, n := range ra.nodes {
		inA[n.Node] = n.State
	}
	for _, cp := range cb {
		if cp.Node == "" {
			continue
		}
		digest, ok := inA[cp.Node]
		switch {
		case !ok:
			d.Node, d.Detail, d.OutputB = cp.Node, "did not run in A", cp.Output
			return nil
		case digest != StateDigest(cp.State):
			d.Node, d.OutputB = cp.Node, cp.Output
			d.Detail = "state differs from the baseline's (the file keeps digests of states, not what changed)"
			return nil
		}
	}
	sameNodes(ra, rb, d)
	return nil
}
