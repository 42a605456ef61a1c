package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/stats"
	"github.com/wtbench/wtb/host/internal/store"
)

func (a *app) compareCommand() *cobra.Command {
	var o application.CompareOptions
	var limit int
	var format string
	var perEvaluator bool
	cmd := &cobra.Command{
		Use:   "compare BATCH_A|BASELINE_FILE BATCH_B",
		Short: "Compare two batches per combination, flag regressions, and show where per-case outputs first diverge",
		Long: `Compare batch B against batch A: per combination the change in mean score and
pass rate, and a paired test on the executions both batches ran (same case and
repeat): the mean difference with its 95% confidence interval and a p-value.
A combination regressed when its paired mean difference dropped by more than
--tolerance AND the test finds the drop significant at --alpha; any regression
makes the exit code 1. --test t (default) is the paired Student t test on the
mean difference; --test wilcoxon is the signed-rank test, which assumes nothing
about the shape of the differences (pass/fail scores, outliers).

When A and B were scored by different evaluators — one only in A or only in
B, or one with other settings or another weight (wtb rescore FILE does this) —
their overall scores measure different things. compare says so first, shows
every evaluator's change per combination, and judges each evaluator both
batches scored alike instead of the overall score: a combination regressed
when one of them dropped significantly by more than --tolerance. Executions
are paired only on cases both batches ran with the same input and
expectations; compare says how many cases only one of them ran.

When the batches called models through the gateway, Δ COST/EXEC and
Δ TOKENS/EXEC show the change of each combination's mean cost and tokens per
execution beside the score delta (B − A, with both means). A call whose model
has no price, or whose response reported no usage, has no known cost: where
either batch made one, compare says "unpriced in A" (or B) instead of a delta.
A baseline file keeps no cost: against one, compare says "not recorded in A".

With --cases, every execution whose score changed is listed with the first
node whose output differs between the two batches.

Each combination's p50 latency change (its successful executions) is shown as
Δ P50; --format json also has both batches' p50 and p95, and their mean cost
and tokens per execution (null where not known, with cost_delta_reason).
Both batches' datasets — the hash of their
cases, the git commit and branch they ran from — are said first.

A can be a baseline file (wtb export BATCH --baseline FILE) instead of a
stored batch, so CI compares against a file committed to the repository: the
figures and verdicts are those of the stored batch. An argument with a / or
ending in .json is a file. Where executions diverge is then named from the
digests of A's states the file keeps, without A's outputs.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return exitf(ExitConfig, "unknown --format %q: use table or json", format)
			}
			var c *application.Comparison
			err := a.reading(cmd.Context(), func(ctx context.Context, st store.Store) (err error) {
				c, err = a.comparison(ctx, st, args[0], args[1], o)
				return err
			})
			if err != nil {
				return err
			}
			if format == "json" {
				// One document, whatever the flags: machine readers parse it whole.
				if err := jsondoc.Write(a.stdout, jsondoc.CompareOf(c, application.Redactor(c.A).JSON, application.Redactor(c.B).JSON)); err != nil {
					return exitf(ExitRuntime, "%v", err)
				}
			} else {
				writeComparison(a.stdout, c, perEvaluator)
				if o.Cases {
					a.writeCaseDeltas(c.CaseDeltas, limit)
				}
			}
			if c.Regressions > 0 {
				return exitCode(ExitThresholds)
			}
			return nil
		},
	}
	cmd.Flags().Float64Var(&o.Tolerance, "tolerance", application.DefaultTolerance, "a mean score drop must be larger than this to be a regression")
	cmd.Flags().Float64Var(&o.Alpha, "alpha", application.DefaultAlpha, "significance level: the paired test's p-value must be below it")
	cmd.Flags().StringVar(&o.Test, "test", application.TestT, "paired test: t or wilcoxon")
	cmd.Flags().BoolVar(&o.Cases, "cases", false, "list changed executions with the first node whose output differs")
	cmd.Flags().BoolVar(&perEvaluator, "evaluators", false, "show each evaluator's change per combination (shown anyway when A and B were scored by different evaluators)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many executions in --cases")
	cmd.Flags().StringVar(&format, "format", "table", "table or json (schema: wtb schema compare)")
	return cmd
}

// comparison compares stored batch b against, a stored batch or a baseline
// file.
func (a *app) comparison(ctx context.Context, st store.Store, against, b string, o application.CompareOptions) (*application.Comparison, error) {
	if isBaselineFile(b) {
		return nil, exitf(ExitConfig, "%s is a baseline file: it can only be A, what a stored batch B is compared against", b)
	}
	var c *application.Comparison
	var err error
	if isBaselineFile(against) {
		base, lerr := a.loadBaseline(against)
		if lerr != nil {
			return nil, lerr
		}
		c, err = application.CompareBaseline(ctx, st, base, b, o)
	} else {
		c, err = application.Compare(ctx, st, against, b, o)
		err = noBatchHint(err, against)
	}
	if err != nil {
		return nil, a.failed(noBatchHint(err, b))
	}
	return c, nil
}

// lineage says how B came from A (or A from B), "" when neither is the
// other's parent.
func lineage(a, b *store.Batch) string {
	describe := func(child, parent *store.Batch, childName, parentName string) string {
		switch {
		case child.ParentID != parent.ID:
			return ""
		case child.Lineage == store.LineageRescore:
			return fmt.Sprintf("%s rescored %s: the same executions, scored again (no node ran)", childName, parentName)
		case child.ForkNode != "":
			return fmt.Sprintf("%s was forked from %s at node %s", childName, parentName, child.ForkNode)
		}
		return fmt.Sprintf("%s was forked from %s", childName, parentName)
	}
	if s := describe(b, a, "B", "A"); s != "" {
		return s
	}
	return describe(a, b, "A", "B")
}

// writeComparison prints what differs in how A and B were scored and what
// they ran, then the per-combination table, then (when the evaluators differ
// or perEvaluator asks) each evaluator's change.
func writeComparison(w io.Writer, c *application.Comparison, perEvaluator bool) {
	recA, recB := c.A, c.B
	from := ""
	if c.BaselineFile != "" {
		from = ", from the baseline file " + c.BaselineFile
	}
	fmt.Fprintf(w, "Comparing %s (A, %s%s) → %s (B, %s)\n", recA.ID, recA.Name, from, recB.ID, recB.Name)
	fmt.Fprintf(w, "  A: %s\n  B: %s\n", datasetLine(jsondoc.DatasetOf(recA), -1), datasetLine(jsondoc.DatasetOf(recB), -1))
	if l := lineage(recA, recB); l != "" {
		fmt.Fprintln(w, l)
	}
	if !c.OverallComparable {
		fmt.Fprintln(w, "\nA and B were scored by different evaluators, so their overall scores measure different things;")
		fmt.Fprintln(w, "the verdict compares each evaluator both scored alike instead:")
		var alike []string
		for _, e := range c.Evaluators {
			switch e.Status {
			case application.EvaluatorOnlyA:
				fmt.Fprintf(w, "  only in A: %s (%s)\n", e.Name, e.A.Type)
			case application.EvaluatorOnlyB:
				fmt.Fprintf(w, "  only in B: %s (%s)\n", e.Name, e.B.Type)
			case application.EvaluatorChanged:
				note := "not compared"
				if e.Comparable {
					note = "its scores compare"
				}
				fmt.Fprintf(w, "  changed:   %s: %s (%s)\n", e.Name, strings.Join(e.Changes, ", "), note)
			}
			if e.Comparable {
				alike = append(alike, e.Name)
			}
		}
		if len(alike) == 0 {
			fmt.Fprintln(w, "  scored alike: none — no verdict is possible")
		} else {
			fmt.Fprintf(w, "  scored alike: %s\n", strings.Join(alike, ", "))
		}
	}
	if c.PassScoreA != c.PassScoreB {
		fmt.Fprintf(w, "\npass_score is %s in A and %s in B: the pass rates count different things.\n", numfmt.Setting(c.PassScoreA), numfmt.Setting(c.PassScoreB))
	}
	if cs := c.Cases; cs.OnlyA+cs.OnlyB+cs.Changed > 0 {
		fmt.Fprintf(w, "\nA and B ran different cases: %d only in A, %d only in B, %d changed (same id, other input or expectations), %d alike;\n",
			cs.OnlyA, cs.OnlyB, cs.Changed, cs.Common)
		fmt.Fprintln(w, "executions are paired only on the cases both ran alike; MEAN A and MEAN B are over each batch's own executions.")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	costs, unpricedCalls := false, false
	for _, r := range c.Combinations {
		costs = costs || r.TokensA != nil || r.TokensB != nil
		switch r.CostCompared() {
		case application.CostUnpricedA, application.CostUnpricedB, application.CostUnpricedBoth:
			unpricedCalls = true
		}
	}
	header := "COMBINATION\tMEAN A\tMEAN B\tΔ MEAN"
	if costs {
		header += "\tΔ COST/EXEC\tΔ TOKENS/EXEC"
	}
	fmt.Fprintln(tw, header+"\tPAIRED Δ [95% CI]\tp\tPASS A\tPASS B\tΔ P50\tVERDICT")
	for i := range c.Combinations {
		r := &c.Combinations[i]
		paired, p := numfmt.Dash, numfmt.Dash
		if r.Paired.N >= 2 && c.OverallComparable {
			paired, p = pairedCell(r.Paired), numfmt.PValue(r.P)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s", r.Combination, score(r.MeanA), score(r.MeanB), signed(r.Delta))
		if costs {
			line += "\t" + costDeltaCell(r) + "\t" + tokensDeltaCell(r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", line, paired, p, percent(r.PassA), percent(r.PassB),
			signedDuration(r.P50Delta), verdictCell(r, c.OverallComparable))
	}
	_ = tw.Flush()
	if unpricedCalls {
		fmt.Fprintln(w, "Δ COST/EXEC: a call whose model has no price, or whose response reported no usage, has no known cost;")
		fmt.Fprintln(w, "where either batch made such calls there is no cost delta (wtb results BATCH shows each batch's cost).")
	}
	if !c.OverallComparable || perEvaluator {
		writeEvaluatorDeltas(w, c)
	}
	what := "a significant paired drop of the overall score larger than " + numfmt.Setting(c.Tolerance)
	if !c.OverallComparable {
		what = "a significant paired drop larger than " + numfmt.Setting(c.Tolerance) + " of an evaluator both batches scored alike"
	}
	fmt.Fprintf(w, "%s (%s; paired %s test, alpha %s)\n", plural(c.Regressions, "regression", "regressions"), what, c.Test, numfmt.Setting(c.Alpha))
}

// writeEvaluatorDeltas prints each evaluator's change per combination both
// batches ran.
func writeEvaluatorDeltas(w io.Writer, c *application.Comparison) {
	fmt.Fprintln(w, "\nPer evaluator:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMBINATION\tEVALUATOR\tMEAN A\tMEAN B\tΔ MEAN\tPAIRED Δ [95% CI]\tp\tVERDICT")
	status := map[string]application.EvaluatorDiff{}
	for _, e := range c.Evaluators {
		status[e.Name] = e
	}
	for _, r := range c.Combinations {
		if r.MeanA == nil || r.MeanB == nil {
			continue
		}
		combo := r.Combination
		for _, e := range r.Evaluators {
			paired, p, verdict := numfmt.Dash, numfmt.Dash, ""
			switch st := status[e.Name]; {
			case st.Status == application.EvaluatorOnlyA:
				verdict = "only in A"
			case st.Status == application.EvaluatorOnlyB:
				verdict = "only in B"
			case !st.Comparable:
				verdict = "not compared: settings changed"
			case e.Tested && e.Paired.N >= 2:
				paired, p = pairedCell(e.Paired), numfmt.PValue(e.P)
				switch {
				case e.Regression:
					verdict = "REGRESSION"
				case e.Significant:
					verdict = "significant"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", combo, e.Name, score(e.MeanA), score(e.MeanB), signed(e.Delta), paired, p, verdict)
			combo = ""
		}
	}
	_ = tw.Flush()
}

// costDeltaCell is the change of a combination's mean cost per execution
// with both means, or why there is none: calls it could not price (never
// counted as $0), no calls on one side, or A is a baseline file (no cost
// recorded).
func costDeltaCell(r *application.ComboDelta) string {
	if r.MeanA == nil || r.MeanB == nil {
		return numfmt.Dash
	}
	switch r.CostCompared() {
	case "":
		return fmt.Sprintf("%s (%s → %s)", numfmt.SignedUSD(*r.CostDelta), numfmt.USD(*r.CostA), numfmt.USD(*r.CostB))
	case application.CostUnpricedA:
		return "unpriced in A (" + plural(r.UnpricedA, "call", "calls") + ")"
	case application.CostUnpricedB:
		return "unpriced in B (" + plural(r.UnpricedB, "call", "calls") + ")"
	case application.CostUnpricedBoth:
		return "unpriced in A and B"
	case application.CostNoCallsA:
		return "no calls in A"
	case application.CostNoCallsB:
		return "no calls in B"
	case application.CostNotRecordedA:
		return "not recorded in A"
	}
	return numfmt.Dash
}

// tokensDeltaCell is the change of a combination's mean tokens per
// execution with both means.
func tokensDeltaCell(r *application.ComboDelta) string {
	if r.TokensDelta == nil || r.MeanA == nil || r.MeanB == nil {
		return numfmt.Dash
	}
	return fmt.Sprintf("%s (%s → %s)", numfmt.SignedCount(*r.TokensDelta), numfmt.Count(*r.TokensA), numfmt.Count(*r.TokensB))
}

func pairedCell(p stats.Paired) string {
	return fmt.Sprintf("%s [%s, %s] n=%d", numfmt.Signed(p.MeanDiff), numfmt.Signed(p.CI.Lo), numfmt.Signed(p.CI.Hi), p.N)
}

// verdictCell is a combination's verdict in the table; when the overall
// scores do not compare, it names the evaluators behind it.
func verdictCell(r *application.ComboDelta, overallComparable bool) string {
	v := r.Verdict(overallComparable)
	var which []string
	if !overallComparable {
		for _, e := range r.Evaluators {
			if (v == application.VerdictRegression && e.Regression) || (v == application.VerdictSignificant && e.Significant) {
				which = append(which, e.Name)
			}
		}
	}
	switch v {
	case application.VerdictOnlyA:
		return "only in A"
	case application.VerdictOnlyB:
		return "new in B"
	case application.VerdictRegression:
		return joinNonEmpty(" in ", "REGRESSION", strings.Join(which, ", "))
	case application.VerdictSignificant:
		return joinNonEmpty(": ", "significant", strings.Join(which, ", "))
	}
	return ""
}

func score(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Score(*x)
}

func signed(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Signed(*x)
}

func signedDuration(ms *float64) string {
	if ms == nil {
		return numfmt.Dash
	}
	return numfmt.SignedDuration(*ms)
}

func percent(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Percent(*x)
}

func (a *app) writeCaseDeltas(rows []application.CaseDelta, limit int) {
	fmt.Fprintf(a.stdout, "\n%s whose score changed (first differing node → score change):\n", plural(len(rows), "execution", "executions"))
	for i, r := range rows {
		if i == limit {
			fmt.Fprintf(a.stdout, "  … %d more (raise --limit)\n", len(rows)-limit)
			break
		}
		fmt.Fprintf(a.stdout, "  %s\n    first differs at %s: %s  →  score %s\n", r.ExecutionKey, r.Node, r.Detail, numfmt.Signed(r.Delta))
	}
}
