package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/bench"
	"github.com/wtbench/wtb/host/internal/doc"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/statediff"
	"github.com/wtbench/wtb/host/internal/store"
)

func (a *app) showCommand() *cobra.Command {
	var batchID, format string
	var full, allLogs bool
	cmd := &cobra.Command{
		Use:   "show EXECUTION_KEY",
		Short: "Show one execution node by node: what each node changed, its logs, timings, and which runs were shared or cached",
		Long: `Show one execution of a batch (the latest by default) node by node: what
each node changed in the state (down to the leaves), the last lines it wrote to
stderr, how long it took, on which worker, and whether the node run was its
own, shared with other executions (prefix sharing), reused from the node
cache, or forked from a parent batch; then why each evaluator scored it so.

EXECUTION_KEY is combination/case/repeat, e.g. "retrieve=bm25,answer=terse/q1/0";
` + "`wtb results --executions`" + ` lists them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			return a.reading(cmd.Context(), func(ctx context.Context, st store.Store) error {
				v, err := bench.Execution(ctx, st, batchID, args[0])
				if err != nil {
					return a.failed(err)
				}
				d := doc.ExecutionDetailOf(v)
				if format == "json" {
					return doc.Write(a.stdout, d)
				}
				printExecution(a.stdout, &d, full, allLogs)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&batchID, "batch", "", "batch id (default: the latest)")
	cmd.Flags().BoolVar(&full, "state", false, "print the full final state too")
	cmd.Flags().BoolVar(&allLogs, "logs", false, "print every stored log line (default: the last 5 per node)")
	cmd.Flags().StringVar(&format, "format", "text", "text or json (schema: wtb schema execution)")
	return cmd
}

// shownLogLines is how many of a node's last log lines show prints.
const shownLogLines = 5

func printExecution(w io.Writer, d *doc.ExecutionDetail, full, allLogs bool) {
	res := d.Execution
	fmt.Fprintf(w, "execution %s (batch %s)\n", res.ExecutionKey, d.BatchID)
	fmt.Fprintf(w, "  status %s, score %s, passed %v, %s, %d attempt(s), worker %s\n", res.Status, numfmt.Score(res.OverallScore), res.Passed,
		numfmt.Duration(res.DurationMs), res.Attempts, orDash(res.WorkerID))
	if len(res.Scores) > 0 {
		var parts []string
		for _, k := range spec.SortedKeys(res.Scores) {
			parts = append(parts, k+"="+numfmt.Score(res.Scores[k]))
		}
		fmt.Fprintf(w, "  scores: %s\n", strings.Join(parts, " "))
	}
	for _, k := range spec.SortedKeys(res.Notes) {
		fmt.Fprintf(w, "    %s: %s\n", k, res.Notes[k])
	}
	fmt.Fprintf(w, "\n  input (case %s): %s\n", res.CaseID, statediff.Brief(statediff.Decode(d.Input), 70))
	var final json.RawMessage
	for _, n := range d.Nodes {
		variant := ""
		if n.Variant != "" {
			variant = "=" + n.Variant
		}
		switch n.Status {
		case doc.NodeSucceeded:
			fmt.Fprintf(w, "\n  %d. %s%s  [%s, %s, worker %s, checkpoint %s]\n", n.Position, n.Node, variant, n.Source, numfmt.Duration(n.DurationMs),
				orDash(n.WorkerID), short(n.CheckpointID))
			for _, c := range n.Diff {
				fmt.Fprintf(w, "       %s\n", c.Line(70))
			}
			if n.DiffTruncated {
				fmt.Fprintf(w, "       … more changes (--format json lists %d)\n", doc.MaxDiffChanges)
			}
			if len(n.Metrics) > 0 {
				fmt.Fprintf(w, "       metrics: %s\n", statediff.Brief(n.Metrics, 70))
			}
			printLogs(w, n.Logs, allLogs)
			final = n.State
		case doc.NodeFailed:
			fmt.Fprintf(w, "\n  %d. %s%s  [failed]\n", n.Position, n.Node, variant)
			printLogs(w, d.Logs, allLogs)
		default:
			fmt.Fprintf(w, "\n  %d. %s%s  [not run]\n", n.Position, n.Node, variant)
		}
	}
	if !res.Success {
		fmt.Fprintf(w, "\n  ✗ %s failed: %s\n", orDash(res.FailedNode), res.Error)
		if res.FailedNode == "" {
			printLogs(w, d.Logs, allLogs)
		}
	}
	if full && final != nil {
		var v any
		_ = json.Unmarshal(final, &v)
		out, _ := json.MarshalIndent(v, "  ", "  ")
		fmt.Fprintf(w, "\n  final state:\n  %s\n", out)
	}
}

func printLogs(w io.Writer, lines []doc.LogLine, all bool) {
	if len(lines) == 0 {
		return
	}
	start := 0
	if !all && len(lines) > shownLogLines {
		start = len(lines) - shownLogLines
		fmt.Fprintf(w, "       … %d earlier log lines (--logs shows them)\n", start)
	}
	for _, l := range lines[start:] {
		fmt.Fprintf(w, "       %s | %s\n", l.Stream, l.Line)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (a *app) compareCommand() *cobra.Command {
	var o bench.CompareOptions
	var limit int
	var format string
	cmd := &cobra.Command{
		Use:   "compare BATCH_A BATCH_B",
		Short: "Compare two batches per combination, flag regressions, and show where per-case outputs first diverge",
		Long: `Compare batch B against batch A: per combination the change in mean score and
pass rate, and a paired test on the executions both batches ran (same case and
repeat): the mean difference with its 95% confidence interval and a p-value.
A combination regressed when its mean dropped by more than --tolerance AND the
test finds the drop significant at --alpha; any regression makes the exit
code 1. --test t (default) is the paired Student t test on the mean
difference; --test wilcoxon is the signed-rank test, which assumes nothing
about the shape of the differences (pass/fail scores, outliers).

With --cases, every execution whose score changed is listed with the first
node whose output differs between the two batches.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c *bench.Comparison
			err := a.reading(cmd.Context(), func(ctx context.Context, st store.Store) (err error) {
				c, err = bench.Compare(ctx, st, args[0], args[1], o)
				return err
			})
			if err != nil {
				return a.failed(err)
			}
			if format == "json" {
				// One document, whatever the flags: machine readers parse it whole.
				if err := doc.Write(a.stdout, doc.CompareOf(c, bench.Redactor(c.A).JSON, bench.Redactor(c.B).JSON)); err != nil {
					return exitf(ExitRuntime, "%v", err)
				}
			} else {
				a.writeComboDeltas(c)
				if o.Cases {
					a.writeCaseDeltas(c.Cases, limit)
				}
			}
			if c.Regressions > 0 {
				return exitCode(ExitThresholds)
			}
			return nil
		},
	}
	cmd.Flags().Float64Var(&o.Tolerance, "tolerance", bench.DefaultTolerance, "a mean score drop must be larger than this to be a regression")
	cmd.Flags().Float64Var(&o.Alpha, "alpha", bench.DefaultAlpha, "significance level: the paired test's p-value must be below it")
	cmd.Flags().StringVar(&o.Test, "test", bench.TestT, "paired test: t or wilcoxon")
	cmd.Flags().BoolVar(&o.Cases, "cases", false, "list changed executions with the first node whose output differs")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many executions in --cases")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

func (a *app) writeComboDeltas(c *bench.Comparison) {
	recA, recB := c.A, c.B
	fmt.Fprintf(a.stdout, "Comparing %s (A, %s) → %s (B, %s)\n", recA.ID, recA.Name, recB.ID, recB.Name)
	if recB.ParentID == recA.ID {
		fmt.Fprintf(a.stdout, "B was forked from A at node %s\n", recB.ForkNode)
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMBINATION\tMEAN A\tMEAN B\tΔ MEAN\tPAIRED Δ [95% CI]\tp\tPASS A\tPASS B\t")
	f := func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%.3f", *p)
	}
	for _, r := range c.Combinations {
		flag := ""
		if r.Regression {
			flag = "REGRESSION"
		} else if r.MeanA == nil {
			flag = "new in B"
		} else if r.MeanB == nil {
			flag = "only in A"
		}
		paired, p := "—", "—"
		if r.Paired.N >= 2 {
			paired = fmt.Sprintf("%+.3f [%+.3f, %+.3f] n=%d", r.Paired.MeanDiff, r.Paired.CI.Lo, r.Paired.CI.Hi, r.Paired.N)
			p = fmt.Sprintf("%.3g", r.P)
		}
		if flag == "" && r.Significant {
			flag = "significant"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%+.3f\t%s\t%s\t%.0f%%\t%.0f%%\t%s\n", r.Combination, f(r.MeanA), f(r.MeanB), r.Delta, paired, p,
			100*r.PassA, 100*r.PassB, flag)
	}
	_ = tw.Flush()
	fmt.Fprintf(a.stdout, "%s (a significant drop larger than %.3f; paired %s test, alpha %.3g)\n", plural(c.Regressions, "regression", "regressions"),
		c.Tolerance, c.Test, c.Alpha)
}

func (a *app) writeCaseDeltas(rows []bench.CaseDelta, limit int) {
	fmt.Fprintf(a.stdout, "\n%s whose score changed (first differing node → score change):\n", plural(len(rows), "execution", "executions"))
	for i, r := range rows {
		if i == limit {
			fmt.Fprintf(a.stdout, "  … %d more (raise --limit)\n", len(rows)-limit)
			break
		}
		fmt.Fprintf(a.stdout, "  %s\n    first differs at %s: %s  →  score %+.3f\n", r.ExecutionKey, r.Node, r.Detail, r.Delta)
	}
}
