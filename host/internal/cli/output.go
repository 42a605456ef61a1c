package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/leaderboard"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// printPlan prints what the batch will run and what prefix sharing saves.
func (a *app) printPlan(b *spec.Batch, counts application.PlanCounts, id string, st store.Store) {
	fmt.Fprintf(a.stderr, "batch %s: %s × %s × %s → %s (runner %s, store %s)\n", id,
		plural(len(b.Combinations), "combination", "combinations"), plural(len(b.Cases), "case", "cases"), plural(b.Repeat, "repeat", "repeats"),
		plural(counts.Executions, "execution", "executions"), b.Runner.Plugin, st.Describe())
	stats := counts.Nodes
	var unshared, shared, stored int
	cache := b.Cache
	for i, s := range stats {
		unshared += s.Unshared
		shared += s.Shared
		stored += s.Stored
		if n := b.Workflow.Nodes[i]; n.Cache != nil {
			cache = cache || *n.Cache
		}
	}
	// The count the run line ends with: node runs to run (ran, or taken from
	// the node cache) and, apart, those reused from stored checkpoints.
	line := fmt.Sprintf("node runs: %d to run", shared-stored)
	if cache {
		line += " (or take from the node cache)"
	}
	if stored > 0 {
		line += fmt.Sprintf(", %d reused from stored checkpoints", stored)
	}
	switch {
	case !b.SharePrefixes || shared >= unshared:
	case stored > 0:
		line += fmt.Sprintf("; %d in all with prefix sharing instead of %d (%s)", shared, unshared, perNode(stats))
	default:
		line += fmt.Sprintf(", with prefix sharing instead of %d (%s)", unshared, perNode(stats))
	}
	fmt.Fprintln(a.stderr, line)
}

func perNode(stats []application.NodeStats) string {
	var parts []string
	for _, s := range stats {
		parts = append(parts, fmt.Sprintf("%s %d/%d", s.Node, s.Shared, s.Unshared))
	}
	return strings.Join(parts, ", ")
}

func ci(c leaderboard.Combo) string {
	if c.CI95 == nil {
		return numfmt.Dash
	}
	return "[" + numfmt.Score(c.CI95[0]) + ", " + numfmt.Score(c.CI95[1]) + "]"
}

// latency is a percentile of a combination's durations, which are those of
// its successful executions: "—" when none succeeded (not "0.0 ms").
func latency(c leaderboard.Combo, ms float64) string {
	if c.Succeeded == 0 {
		return numfmt.Dash
	}
	return numfmt.Duration(ms)
}

// followUps are the commands a leaderboard suggests, ready to paste.
type followUps struct {
	// command writes a wtb command line (see app.command).
	command func(args ...string) string
	// inspect is an execution worth a look: the first failure, else one of
	// a combination that missed a threshold it had to meet ("" for none).
	inspect string
}

// followUps picks what a leaderboard suggests looking at.
func (a *app) followUps(ctx context.Context, st store.Store, rec *store.Batch, b *spec.Batch, sum leaderboard.Summary, failures []store.Result) followUps {
	f := followUps{command: a.command}
	if len(failures) > 0 {
		f.inspect = failures[0].ExecutionKey
		return f
	}
	if !sum.Thresholds || sum.Passed {
		return f
	}
	for _, c := range sum.Combos {
		if c.MeetsThresh || !thresholdApplies(b, c) {
			continue
		}
		// One of its executions that did not pass, else any of them.
		below := b.PassScore
		for _, q := range []store.ResultQuery{{Combination: c.Combination, MaxScore: &below, Limit: 1, NoTotal: true},
			{Combination: c.Combination, Limit: 1, NoTotal: true}} {
			if rows, _, err := application.Executions(ctx, st, rec.ID, q); err == nil && len(rows) > 0 {
				f.inspect = rows[0].ExecutionKey
				return f
			}
		}
	}
	return f
}

// thresholdApplies says whether the thresholds judge combination c: every
// one with applies_to = "all", only the best-ranked with "best".
func thresholdApplies(b *spec.Batch, c leaderboard.Combo) bool {
	return b.Thresholds.AppliesTo != "best" || c.Rank == 1
}

// writeLeaderboard renders a batch's leaderboard with the commands it
// suggests (next). failures are the first failed executions by key; sum
// counts them all.
func writeLeaderboard(w io.Writer, format string, rec *store.Batch, b *spec.Batch, sum leaderboard.Summary, failures []store.Result, next followUps) error {
	switch format {
	case "json":
		return jsondoc.Write(w, jsondoc.LeaderboardOf(&application.Board{Batch: rec, Spec: b, Summary: sum, Failures: failures}))
	case "csv":
		cw := csv.NewWriter(w)
		header := []string{"rank", "combination", "executions", "succeeded", "failed", "mean_score", "stddev", "ci95_low", "ci95_high", "pass_rate", "p50_ms", "p95_ms", "meets_thresholds"}
		for _, ev := range b.Evaluators {
			header = append(header, "mean_"+ev.Name)
		}
		_ = cw.Write(header)
		for _, c := range sum.Combos {
			lo, hi := "", ""
			if c.CI95 != nil {
				lo, hi = fmt.Sprintf("%.6f", c.CI95[0]), fmt.Sprintf("%.6f", c.CI95[1])
			}
			row := []string{fmt.Sprint(c.Rank), c.Combination, fmt.Sprint(c.Executions), fmt.Sprint(c.Succeeded), fmt.Sprint(c.Failed),
				fmt.Sprintf("%.6f", c.Mean), fmt.Sprintf("%.6f", c.StdDev), lo, hi, fmt.Sprintf("%.6f", c.PassRate),
				fmt.Sprintf("%.1f", c.P50Ms), fmt.Sprintf("%.1f", c.P95Ms), fmt.Sprint(c.MeetsThresh)}
			for _, ev := range b.Evaluators {
				row = append(row, fmt.Sprintf("%.6f", c.Evaluators[ev.Name]))
			}
			_ = cw.Write(row)
		}
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintf(w, "\nLeaderboard — %s (batch %s)\n", b.Name, rec.ID)
	fmt.Fprintf(w, "Dataset: %s\n", datasetLine(jsondoc.DatasetOf(rec), len(b.Cases)))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	header := "RANK\tCOMBINATION\tMEAN\tSTDDEV\t95% CI\tPASS\tP50\tP95\tOK/FAIL"
	for _, ev := range b.Evaluators {
		header += "\t" + strings.ToUpper(ev.Name)
	}
	stopping := b.Adaptive != nil || b.Racing != nil
	if stopping {
		header += "\tREPEATS\tSTOPPED"
	}
	costs, judges := false, false
	for _, c := range sum.Combos {
		costs = costs || c.Cost != nil
		judges = judges || c.Cost != nil && c.Cost.Judge != nil
	}
	if costs {
		header += "\tCOST/EXEC\tTOKENS/EXEC"
	}
	if judges {
		// The llm_judge evaluators' calls, apart from the workflow's.
		header += "\tJUDGE COST/EXEC"
	}
	fmt.Fprintln(tw, header+"\t")
	ties := false
	for i, c := range sum.Combos {
		ties = ties || (i > 0 && numfmt.Score(c.Mean) == numfmt.Score(sum.Combos[i-1].Mean))
		mark := ""
		switch {
		case !sum.Thresholds:
		case !thresholdApplies(b, c):
			// applies_to = "best": only the first-ranked is judged; a miss
			// here decides nothing, and a ✗ in a passing batch misleads.
			mark = "  not required"
		case !c.MeetsThresh:
			mark = "  ✗ " + strings.Join(c.Misses, "; ")
		}
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d", c.Rank, c.Combination, numfmt.Score(c.Mean), numfmt.Score(c.StdDev), ci(c),
			numfmt.Percent(c.PassRate), latency(c, c.P50Ms), latency(c, c.P95Ms), c.Succeeded, c.Failed)
		for _, ev := range b.Evaluators {
			line += "\t" + numfmt.Score(c.Evaluators[ev.Name])
		}
		if stopping {
			stopped := "-"
			if d := c.Stopped; d != nil {
				stopped = d.Kind
				if d.Kind == store.DecisionPruned {
					stopped = fmt.Sprintf("pruned (vs %s, p=%s, %d cases)", d.Best, numfmt.PValue(d.PValue), d.CasesSeen)
				} else if d.Kind == store.DecisionConverged {
					stopped = "converged (±" + numfmt.Score(d.CIHalfWidth) + ")"
				}
			}
			line += fmt.Sprintf("\t%d\t%s", c.Repeats, stopped)
		}
		if costs {
			line += "\t" + costCell(c.Cost) + "\t" + tokensCell(c.Cost)
		}
		if judges {
			cell := "-"
			if c.Cost != nil && c.Cost.Judge != nil {
				cell = costCell(c.Cost.Judge)
			}
			line += "\t" + cell
		}
		fmt.Fprintln(tw, line+"\t"+mark)
	}
	_ = tw.Flush()
	if sum.Failed > 0 {
		fmt.Fprintf(w, "\nFailures (%d):\n", sum.Failed)
		for _, f := range failures {
			fmt.Fprintf(w, "  %s: %s\n", f.ExecutionKey, f.Error)
		}
		if more := sum.Failed - len(failures); more > 0 {
			fmt.Fprintf(w, "  … and %d more: `%s`\n", more, next.command("results", rec.ID, "--failed"))
		}
	}
	verdict := sum.Verdict
	if sum.Thresholds {
		t := b.Thresholds
		var parts []string
		if t.OverallScore != nil {
			parts = append(parts, "overall_score ≥ "+numfmt.Setting(*t.OverallScore))
		}
		if t.PassRate != nil {
			parts = append(parts, "pass_rate ≥ "+numfmt.Setting(*t.PassRate))
		}
		for _, k := range spec.SortedKeys(t.Evaluators) {
			parts = append(parts, k+" ≥ "+numfmt.Setting(t.Evaluators[k]))
		}
		whom := "for every combination"
		if t.AppliesTo == "best" {
			whom = "for the best combination (rank 1) only"
		}
		verdict = fmt.Sprintf("%s (%s, %s)", verdict, strings.Join(parts, ", "), whom)
	}
	if ties {
		fmt.Fprintf(w, "\nRanked by mean score before rounding; %s.\n", leaderboard.TieBreak)
	}
	fmt.Fprintf(w, "\nVerdict: %s — %d/%d executions stored, %d failed\n", verdict, sum.Stored, sum.Total, sum.Failed)
	if sum.Saved > 0 {
		planned := sum.Total + sum.Saved
		fmt.Fprintf(w, "Adaptive repeats and racing saved %d of %d planned executions (%s); `%s` runs them\n",
			sum.Saved, planned, numfmt.Percent(float64(sum.Saved)/float64(planned)), next.command("resume", rec.ID, "--complete"))
	}
	if next.inspect != "" {
		fmt.Fprintf(w, "Look closer: `%s` (one execution node by node), `%s` (the batch in a browser)\n",
			next.command("show", next.inspect, "--batch", rec.ID), next.command("view"))
	}
	return nil
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr,omitempty"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnitFile writes one test suite per combination (a test case per
// execution: failed or below pass_score fails) plus a "thresholds" suite.
func writeJUnitFile(path string, rec *store.Batch, b *spec.Batch, sum leaderboard.Summary, results []store.Result) error {
	out := junitSuites{Name: b.Name + " (" + rec.ID + ")"}
	by := map[string][]store.Result{}
	for _, r := range results {
		by[r.Combination] = append(by[r.Combination], r)
	}
	for _, c := range sum.Combos {
		s := junitSuite{Name: c.Combination}
		rs := by[c.Combination]
		sort.Slice(rs, func(i, j int) bool { return rs[i].ExecutionKey < rs[j].ExecutionKey })
		for _, r := range rs {
			jc := junitCase{Name: fmt.Sprintf("%s/%d", r.CaseID, r.Repeat), ClassName: c.Combination, Time: r.DurationMs / 1000}
			if !r.Passed {
				msg := "overall_score " + numfmt.Score(r.OverallScore) + " below pass_score " + numfmt.Setting(b.PassScore)
				if !r.Success {
					msg = r.Error
				}
				scores, _ := json.Marshal(r.Scores)
				jc.Failure = &junitFailure{Message: msg, Text: "scores: " + string(scores)}
				s.Failures++
			}
			s.Time += jc.Time
			s.Cases = append(s.Cases, jc)
		}
		s.Tests = len(s.Cases)
		out.Suites = append(out.Suites, s)
	}
	if sum.Thresholds {
		s := junitSuite{Name: "thresholds"}
		for _, c := range sum.Combos {
			jc := junitCase{Name: c.Combination, ClassName: "thresholds"}
			if !thresholdApplies(b, c) {
				// Neither met nor missed: nothing judged it.
				jc.Skipped = &junitSkipped{Message: "not required: applies_to = \"best\" judges only the best combination (rank 1)"}
				s.Skipped++
			} else if !c.MeetsThresh {
				jc.Failure = &junitFailure{Message: strings.Join(c.Misses, "; "), Text: "mean " + numfmt.Score(c.Mean) + ", pass rate " + numfmt.Percent(c.PassRate)}
				s.Failures++
			}
			s.Cases = append(s.Cases, jc)
		}
		s.Tests = len(s.Cases)
		out.Suites = append(out.Suites, s)
	}
	for _, s := range out.Suites {
		out.Tests += s.Tests
		out.Failures += s.Failures
	}
	data, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(data, '\n')...), 0o644)
}

// costCell is a combination's mean cost per execution: "unpriced" when no
// execution's calls could all be priced (never $0), and how many calls were
// left out when some could not.
func costCell(c *leaderboard.Cost) string {
	switch {
	case c == nil:
		return numfmt.Dash
	case c.MeanUSD == nil:
		return fmt.Sprintf("unpriced (%d calls)", c.Unpriced)
	case c.Unpriced > 0:
		return fmt.Sprintf("%s (+%d unpriced calls)", numfmt.USD(*c.MeanUSD), c.Unpriced)
	}
	return numfmt.USD(*c.MeanUSD)
}

func tokensCell(c *leaderboard.Cost) string {
	if c == nil {
		return numfmt.Dash
	}
	return numfmt.Count(c.MeanTokens)
}

// datasetLine says what a batch ran: "cases 3f2a9c01b7de (12 cases) · git
// 1a2b3c4d5e6f on main, uncommitted changes"; cases < 0 leaves the count out.
func datasetLine(d jsondoc.Dataset, cases int) string {
	line := "cases " + orDash(dataset.Short(d.CasesHash))
	if cases >= 0 {
		line += " (" + plural(cases, "case", "cases") + ")"
	}
	if d.Git == nil {
		return line + " · not in a git repository"
	}
	line += " · git " + dataset.Short(d.Git.Commit)
	if d.Git.Branch != "" {
		line += " on " + d.Git.Branch
	} else {
		line += " (detached)"
	}
	if d.Git.Dirty {
		line += ", uncommitted changes"
	}
	return line
}
