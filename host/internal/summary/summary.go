// Package summary writes a batch as GitHub-flavoured markdown for CI: the
// verdict, the leaderboard and, against a baseline, the per-combination
// paired comparison and where the worst cases first diverged — fit for
// $GITHUB_STEP_SUMMARY, a pull request comment or a GitLab merge request
// note. It renders the documents `wtb results --format json` and `wtb
// compare --format json` print, with the numbers written as the command line
// writes them (numfmt), so the summary's figures are theirs.
package summary

import (
	"fmt"
	"io"
	"strings"

	"github.com/wtbench/wtb/host/internal/bench"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/doc"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
)

// Marker starts every summary as an HTML comment (invisible once rendered):
// a CI step that posts the summary as a pull request comment finds its
// earlier comment by it and edits it instead of adding another.
const Marker = "<!-- wtb-summary -->"

// Bounds keep a summary within what GitHub shows: a pull request comment
// holds 65,536 characters, a step summary 1 MiB.
const (
	MaxCombinations = 25 // leaderboard and comparison rows
	MaxEvaluators   = 6  // evaluator columns of the leaderboard
	MaxCases        = 10 // worst cases listed
	MaxCell         = 120
)

// Input is what a summary shows.
type Input struct {
	Board doc.Leaderboard
	// Compare is the batch compared against a baseline (its B), or nil.
	Compare *doc.Compare
	// UpdateBaseline is the command that would make this batch the new
	// baseline, shown when the comparison found a regression ("" for none).
	UpdateBaseline string
}

// Write writes the summary.
func Write(w io.Writer, in Input) error {
	var b strings.Builder
	writeHead(&b, in)
	writeLeaderboard(&b, in.Board)
	if in.Compare != nil {
		writeComparison(&b, in)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeHead(b *strings.Builder, in Input) {
	board, sum := in.Board, in.Board.Summary
	icon := map[string]string{"thresholds met": "✅", "thresholds missed": "❌", "incomplete": "⚠️"}[sum.Verdict]
	if icon == "" {
		icon = "ℹ️"
	}
	title := sum.Verdict
	if c := in.Compare; c != nil && c.Regressions > 0 {
		title += ", " + plural(c.Regressions, "regression", "regressions") + " against the baseline"
		if icon == "✅" || icon == "ℹ️" {
			icon = "❌"
		}
	}
	fmt.Fprintf(b, "%s\n## %s %s — %s\n\n", Marker, icon, text(board.Name), title)
	bt := board.Batch
	fmt.Fprintf(b, "- **Batch** %s · %d/%d executions stored, %d failed · runner %s · wtb %s\n",
		code(bt.ID), sum.Stored, sum.Total, sum.Failed, text(bt.Runner), text(bt.Version))
	fmt.Fprintf(b, "- **Dataset** %s\n", datasetLine(bt.Dataset))
	fmt.Fprintf(b, "- **Thresholds** %s\n", thresholds(board))
	if sum.Saved > 0 {
		fmt.Fprintf(b, "- **Saved** %d of %d planned executions (adaptive repeats and racing)\n", sum.Saved, sum.Total+sum.Saved)
	}
	b.WriteString("\n")
	for _, warn := range sum.Warnings {
		alert(b, "WARNING", text(warn.Message))
	}
}

// datasetLine says what a batch ran: its cases hash and git state.
func datasetLine(d doc.Dataset) string {
	line := "cases " + code(orDash(dataset.Short(d.CasesHash)))
	if d.Git == nil {
		return line + " · not in a git repository"
	}
	line += " · git " + code(dataset.Short(d.Git.Commit))
	if d.Git.Branch != "" {
		line += " on " + code(d.Git.Branch)
	} else {
		line += " (detached)"
	}
	if d.Git.Dirty {
		line += ", uncommitted changes"
	}
	return line
}

func thresholds(board doc.Leaderboard) string {
	t := board.Thresholds
	var parts []string
	if t.OverallScore != nil {
		parts = append(parts, "overall_score ≥ "+numfmt.Setting(*t.OverallScore))
	}
	if t.PassRate != nil {
		parts = append(parts, "pass_rate ≥ "+numfmt.Setting(*t.PassRate))
	}
	for _, k := range spec.SortedKeys(t.Evaluators) {
		parts = append(parts, text(k)+" ≥ "+numfmt.Setting(t.Evaluators[k]))
	}
	pass := "an execution passes at overall score ≥ " + numfmt.Setting(board.PassScore)
	if len(parts) == 0 {
		return "none; " + pass
	}
	whom := "for every combination"
	if t.AppliesTo == "best" {
		whom = "for the best combination (rank 1) only"
	}
	return strings.Join(parts, ", ") + ", " + whom + "; " + pass
}

func writeLeaderboard(b *strings.Builder, board doc.Leaderboard) {
	sum := board.Summary
	b.WriteString("### Leaderboard\n\n")
	if len(sum.Combos) == 0 {
		b.WriteString("No execution is stored.\n\n")
		return
	}
	evs := board.Evaluators
	if len(evs) > MaxEvaluators {
		evs = evs[:MaxEvaluators]
	}
	head := []string{"#", "Combination", "Mean", "95% CI", "Pass", "P50", "P95", "OK/Fail"}
	align := []string{"---:", "---", "---:", "---", "---:", "---:", "---:", "---:"}
	for _, ev := range evs {
		head, align = append(head, text(ev.Name)), append(align, "---:")
	}
	head, align = append(head, "Thresholds"), append(align, "---")
	row(b, head...)
	row(b, align...)
	for i, c := range sum.Combos {
		if i == MaxCombinations {
			fmt.Fprintf(b, "\n… and %d more combinations (`wtb results %s` lists them all).\n", len(sum.Combos)-MaxCombinations, board.BatchID)
			break
		}
		ci := numfmt.Dash
		if c.CI95 != nil {
			ci = "[" + numfmt.Score(c.CI95[0]) + ", " + numfmt.Score(c.CI95[1]) + "]"
		}
		p50, p95 := numfmt.Dash, numfmt.Dash
		if c.Succeeded > 0 {
			p50, p95 = numfmt.Duration(c.P50Ms), numfmt.Duration(c.P95Ms)
		}
		cells := []string{fmt.Sprint(c.Rank), code(c.Combination), numfmt.Score(c.Mean), ci, numfmt.Percent(c.PassRate), p50, p95,
			fmt.Sprintf("%d/%d", c.Succeeded, c.Failed)}
		for _, ev := range evs {
			cells = append(cells, numfmt.Score(c.Evaluators[ev.Name]))
		}
		verdict := ""
		switch {
		case !sum.Thresholds:
		case !c.ThresholdsApply:
			verdict = "not required"
		case c.MeetsThresh:
			verdict = "✅ met"
		default:
			verdict = "❌ " + text(strings.Join(c.Misses, "; "))
		}
		row(b, append(cells, verdict)...)
	}
	b.WriteString("\n")
	if len(board.Failures) > 0 {
		fmt.Fprintf(b, "**%s**", plural(sum.Failed, "failed execution", "failed executions"))
		if sum.Failed > len(board.Failures) {
			fmt.Fprintf(b, " (the first %d)", len(board.Failures))
		}
		b.WriteString(":\n\n")
		row(b, "Execution", "Failed node", "Error")
		row(b, "---", "---", "---")
		for _, f := range board.Failures {
			row(b, code(f.ExecutionKey), code(orDash(f.FailedNode)), text(cut(f.Error)))
		}
		b.WriteString("\n")
	}
}

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
			case bench.EvaluatorOnlyA:
				differ = append(differ, code(e.Name)+" only in the baseline")
			case bench.EvaluatorOnlyB:
				differ = append(differ, code(e.Name)+" new")
			case bench.EvaluatorChanged:
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
func writeEvaluators(b *strings.Builder, c *doc.Compare) {
	b.WriteString("Per evaluator:\n\n")
	row(b, "Combination", "Evaluator", "Mean (baseline → now)", "Paired Δ [95% CI]", "p", "Verdict")
	row(b, "---", "---", "---", "---", "---:", "---")
	status := map[string]doc.EvaluatorCompared{}
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
			case st.Status == bench.EvaluatorOnlyA:
				verdict = "only in the baseline"
			case st.Status == bench.EvaluatorOnlyB:
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
func writeCases(b *strings.Builder, c *doc.Compare) {
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

func comboVerdict(r doc.ComboDelta, overallComparable bool) string {
	var which []string
	if !overallComparable {
		for _, e := range r.Evaluators {
			if (r.Verdict == bench.VerdictRegression && e.Regression) || (r.Verdict == bench.VerdictSignificant && e.Significant) {
				which = append(which, code(e.Name))
			}
		}
	}
	in := ""
	if len(which) > 0 {
		in = " in " + strings.Join(which, ", ")
	}
	switch r.Verdict {
	case bench.VerdictOnlyA:
		return "only in the baseline"
	case bench.VerdictOnlyB:
		return "new"
	case bench.VerdictRegression:
		return "❌ regression" + in
	case bench.VerdictSignificant:
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
func cost(r doc.ComboDelta) string {
	a := costSide(r.MeanA, r.CostA, r.TokensA, r.UnpricedA)
	if r.CostDeltaReason != nil && *r.CostDeltaReason == bench.CostNotRecordedA && r.MeanA != nil {
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

func arrow(a, b string) string { return a + " → " + b }

func score(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Score(*x)
}

func percent(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Percent(*x)
}

func duration(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Duration(*x)
}

func signedDuration(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.SignedDuration(*x)
}

// alert is a GitHub alert block (a plain quote where alerts are not known).
func alert(b *strings.Builder, kind, msg string) {
	fmt.Fprintf(b, "> [!%s]\n> %s\n\n", kind, msg)
}

// row writes a table row.
func row(b *strings.Builder, cells ...string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
}

// text makes s safe in a table cell or a line of markdown: one line, its
// markdown and HTML characters escaped, a pipe escaped so it does not end
// the cell.
func text(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	var out strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '#', '~', '!', '&':
			out.WriteByte('\\')
		}
		out.WriteRune(r)
	}
	return out.String()
}

// code writes s as a code span: fenced by more backticks than it holds in a
// row, one line, a pipe escaped (GitHub's tables end a cell at a pipe even
// inside a code span unless it is escaped).
func code(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	run, longest := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + strings.ReplaceAll(s, "|", `\|`) + pad + fence
}

// cut shortens a long message for a table cell.
func cut(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > MaxCell {
		return string(r[:MaxCell-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return numfmt.Dash
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
