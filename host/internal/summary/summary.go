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

	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/jsondoc"
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
	Board jsondoc.Leaderboard
	// Compare is the batch compared against a baseline (its B), or nil.
	Compare *jsondoc.Compare
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
func datasetLine(d jsondoc.Dataset) string {
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

func thresholds(board jsondoc.Leaderboard) string {
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

func writeLeaderboard(b *strings.Builder, board jsondoc.Leaderboard) {
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
