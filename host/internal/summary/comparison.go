package summary

import (
	"fmt"
	"strings"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/numfmt"
)

func writeComparison(b *strings.Builder, in Input) {
	c := in.Compare
	from := ""
	if c.BaselineFile != "" {
		from = " (from " + code(c.BaselineFile) + ")"
	}
	fmt.Fprintf(b, "### Against the baseline: batch %s%s\n\n", code(c.A.ID), from)
	fmt.Fprintf(b, "- **Baseline dataset** %s\n\n", datasetLine(c.A.Dataset))
	cs := c.CaseSets
	if cs.OnlyA+cs.OnlyB+cs.Changed > 0 {
		alert(b, "WARNING", fmt.Sprintf("This batch ran other cases than the baseline (cases %s, the baseline's %s): %d only in the baseline, "+
			"%d only in this batch, %d changed (same id, other input or expectations), %d alike. Executions are paired on the cases both ran "+
			"alike; each mean is over its own batch's executions.", code(orDash(dataset.Short(c.B.Dataset.CasesHash))),
			code(orDash(dataset.Short(c.A.Dataset.CasesHash))), cs.OnlyA, cs.OnlyB, cs.Changed, cs.Common))
	}
	var alike []string
	if !c.OverallComparable {
		var differ []string
		for _, e := range c.Evaluators {
			switch e.Status {
			case application.EvaluatorOnlyA:
				differ = append(differ, code(e.Name)+" only in the baseline")
			case application.EvaluatorOnlyB:
				differ = append(differ, code(e.Name)+" new")
			case application.EvaluatorChanged:
				differ = append(differ, code(e.Name)+" changed ("+text(strings.Join(e.Changes, ", "))+")")
			}
			if e.Comparable {
				alike = append(alike, code(e.Name))
			}
		}
		judged := "no evaluator was scored alike: no verdict is possible"
		if len(alike) > 0 {
			judged = "the verdict compares the evaluators both scored alike: " + strings.Join(alike, ", ")
		}
		alert(b, "WARNING", "The baseline was scored by other evaluators, so the overall scores measure different things: "+
			strings.Join(differ, "; ")+"; "+judged+".")
	}
	if c.PassScoreA != c.PassScoreB {
		alert(b, "NOTE", fmt.Sprintf("pass_score is %s in the baseline and %s here: the pass rates count different things.",
			numfmt.Setting(c.PassScoreA), numfmt.Setting(c.PassScoreB)))
	}
	what := "significant paired drop of the overall score larger than " + numfmt.Setting(c.Tolerance)
	if !c.OverallComparable {
		what = "significant paired drop larger than " + numfmt.Setting(c.Tolerance) + " of an evaluator both batches scored alike"
	}
	test := fmt.Sprintf("paired %s test, alpha %s", c.Test, numfmt.Setting(c.Alpha))
	switch {
	case c.Regressions > 0:
		fmt.Fprintf(b, "**❌ %s**: a %s (%s).\n\n", plural(c.Regressions, "regression", "regressions"), what, test)
	case !c.OverallComparable && len(alike) == 0:
		fmt.Fprintf(b, "**No verdict**: nothing both batches scored alike (%s).\n\n", test)
	default:
		fmt.Fprintf(b, "**✅ No regression**: no %s (%s).\n\n", what, test)
	}
	// Cost shows when either batch made model calls (or A, a baseline
	// file, may have: it records no cost).
	costs := false
	for _, r := range c.Combinations {
		costs = costs || r.TokensA != nil || r.TokensB != nil
	}
	head := []string{"Combination", "Mean (baseline → now)", "Paired Δ [95% CI]", "p", "Pass (baseline → now)", "P50 (baseline → now)", "Δ P50"}
	align := []string{"---", "---", "---", "---:", "---", "---", "---:"}
	if costs {
		head, align = append(head, "Cost/exec (baseline → now)"), append(align, "---")
	}
	row(b, append(head, "Verdict")...)
	row(b, append(align, "---")...)
	for i, r := range c.Combinations {
		if i == MaxCombinations {
			fmt.Fprintf(b, "\n… and %d more combinations (`wtb compare` lists them all).\n", len(c.Combinations)-MaxCombinations)
			break
		}
		paired, p := numfmt.Dash, numfmt.Dash
		if r.Pairs >= 2 && c.OverallComparable {
			paired = fmt.Sprintf("%s [%s, %s] n=%d", numfmt.Signed(r.MeanDiff), numfmt.Signed(r.DiffCI95[0]), numfmt.Signed(r.DiffCI95[1]), r.Pairs)
			p = numfmt.PValue(r.P)
		}
		cells := []string{code(r.Combination), arrow(score(r.MeanA), score(r.MeanB)), paired, p, arrow(percent(r.PassRateA), percent(r.PassRateB)),
			arrow(duration(r.P50A), duration(r.P50B)), signedDuration(r.P50Delta)}
		if costs {
			cells = append(cells, cost(r))
		}
		row(b, append(cells, comboVerdict(r, c.OverallComparable))...)
	}
	b.WriteString("\n")
	if !c.OverallComparable {
		writeEvaluators(b, c)
	}
	writeCases(b, c)
	if c.Regressions > 0 && in.UpdateBaseline != "" {
		fmt.Fprintf(b, "If the change is intended, make this the new baseline: `%s`, and commit it.\n\n", in.UpdateBaseline)
	}
}

// writeEvaluators is each evaluator's change per combination both ran, when
// the overall scores do not compare.
func writeEvaluators(b *strings.Builder, c *jsondoc.Compare) {
	b.WriteString("Per evaluator:\n\n")
	row(b, "Combination", "Evaluator", "Mean (baseline → now)", "Paired Δ [95% CI]", "p", "Verdict")
	row(b, "---", "---", "---", "---", "---:", "---")
	status := map[string]jsondoc.EvaluatorCompared{}
	for _, e := range c.Evaluators {
		status[e.Name] = e
	}
	n := 0
	for _, r := range c.Combinations {
		if r.MeanA == nil || r.MeanB == nil {
			continue
		}
		if n == MaxCombinations {
			b.WriteString("\n… (`wtb compare --evaluators` lists them all).\n")
			break
		}
		n++
		for _, e := range r.Evaluators {
			paired, p, verdict := numfmt.Dash, numfmt.Dash, ""
			switch st := status[e.Name]; {
			case st.Status == application.EvaluatorOnlyA:
				verdict = "only in the baseline"
			case st.Status == application.EvaluatorOnlyB:
				verdict = "new"
			case !st.Comparable:
				verdict = "not compared: settings changed"
			case e.Tested && e.Pairs >= 2:
				paired = fmt.Sprintf("%s [%s, %s] n=%d", numfmt.Signed(e.MeanDiff), numfmt.Signed(e.DiffCI95[0]), numfmt.Signed(e.DiffCI95[1]), e.Pairs)
				p = numfmt.PValue(e.P)
				switch {
				case e.Regression:
					verdict = "❌ regression"
				case e.Significant:
					verdict = "significant"
				}
			}
			row(b, code(r.Combination), code(e.Name), arrow(score(e.MeanA), score(e.MeanB)), paired, p, verdict)
		}
	}
	b.WriteString("\n")
}

// writeCases lists the executions whose score dropped the most, with the
// first node whose state differs.
func writeCases(b *strings.Builder, c *jsondoc.Compare) {
	if c.CasesChanged == 0 {
		b.WriteString("No paired execution changed its score.\n\n")
		return
	}
	shown := c.Cases
	if len(shown) > MaxCases {
		shown = shown[:MaxCases]
	}
	fmt.Fprintf(b, "#### Worst cases\n\n%s changed score", plural(c.CasesChanged, "paired execution", "paired executions"))
	if len(shown) < c.CasesChanged {
		fmt.Fprintf(b, "; the %d that dropped the most", len(shown))
	}
	b.WriteString(":\n\n")
	row(b, "Execution", "Score (baseline → now)", "Δ", "First diverging node", "What differs")
	row(b, "---", "---", "---:", "---", "---")
	for _, d := range shown {
		status := ""
		if d.StatusA != d.StatusB {
			status = " (" + text(d.StatusA) + " → " + text(d.StatusB) + ")"
		}
		row(b, code(d.ExecutionKey), arrow(numfmt.Score(d.ScoreA), numfmt.Score(d.ScoreB))+status, numfmt.Signed(d.Delta),
			code(d.Node), text(cut(d.Detail)))
	}
	b.WriteString("\n")
}

func comboVerdict(r jsondoc.ComboDelta, overallComparable bool) string {
	var which []string
	if !overallComparable {
		for _, e := range r.Evaluators {
			if (r.Verdict == application.VerdictRegression && e.Regression) || (r.Verdict == application.VerdictSignificant && e.Significant) {
				which = append(which, code(e.Name))
			}
		}
	}
	in := ""
	if len(which) > 0 {
		in = " in " + strings.Join(which, ", ")
	}
	switch r.Verdict {
	case application.VerdictOnlyA:
		return "only in the baseline"
	case application.VerdictOnlyB:
		return "new"
	case application.VerdictRegression:
		return "❌ regression" + in
	case application.VerdictSignificant:
		if r.MeanDiff > 0 && overallComparable {
			return "⬆️ significant improvement"
		}
		return "significant" + in
	}
	return ""
}

// cost is a combination's mean cost per execution in both batches, each
// written as wtb results writes it, or why it is not known: the baseline
// records none (a baseline file), calls it could not price (never $0), or
// no model calls.
func cost(r jsondoc.ComboDelta) string {
	a := costSide(r.MeanA, r.CostA, r.TokensA, r.UnpricedA)
	if r.CostDeltaReason != nil && *r.CostDeltaReason == application.CostNotRecordedA && r.MeanA != nil {
		a = "not recorded"
	}
	return arrow(a, costSide(r.MeanB, r.CostB, r.TokensB, r.UnpricedB))
}

// costSide is one batch's mean cost per execution of a combination; mean is
// nil when the batch does not have the combination.
func costSide(mean, usd, tokens *float64, unpriced int) string {
	switch {
	case mean == nil:
		return numfmt.Dash
	case usd != nil:
		return numfmt.USD(*usd)
	case unpriced > 0:
		return "unpriced (" + plural(unpriced, "call", "calls") + ")"
	case tokens == nil:
		return "no calls"
	}
	return numfmt.Dash
}
