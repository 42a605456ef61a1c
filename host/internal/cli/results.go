package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/store"
)

func (a *app) resultsCommand() *cobra.Command {
	var format string
	var list, failed, executions, watch bool
	cmd := &cobra.Command{
		Use:   "results [BATCH_ID]",
		Short: "Show the leaderboard of a batch (the latest by default)",
		Long: `Show the leaderboard of a batch (the latest by default): per combination the
mean overall score with its 95% interval, the pass rate, latency percentiles
and each evaluator's mean, the threshold verdicts, and what the batch ran —
its cases hash and the git commit and branch of its bench file.

--list lists the batches, newest first; CASES is each one's cases hash (the
same hash, the same cases) and COMMIT its git commit, with a + when tracked
files had uncommitted changes.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := a.openReader(ctx, "")
			if err != nil {
				return err
			}
			defer st.Close()
			if list {
				return a.listBatches(ctx, st, format)
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			if failed || executions {
				rec, b, err := application.Batch(ctx, st, id)
				if err != nil {
					return a.failed(err)
				}
				q := store.ResultQuery{}
				if failed {
					q.Status = store.ResultFailed
				}
				rows, total, err := application.Executions(ctx, st, rec.ID, q)
				if err != nil {
					return a.failed(err)
				}
				if format == "json" {
					return jsondoc.Write(a.stdout, jsondoc.ExecutionsOf(rec.ID, rows, total, 0, b))
				}
				return a.writeExecutions(rows, format)
			}
			if watch {
				if format != "table" {
					return exitf(ExitConfig, "--watch redraws a table; drop --format")
				}
				return a.watchResults(ctx, st, id, format)
			}
			board, err := application.Leaderboard(ctx, st, id)
			if err != nil {
				return a.failed(err)
			}
			rec := board.Batch
			if format == "table" {
				fmt.Fprintf(a.stdout, "batch %s (%s) — %s, started %s\n", rec.ID, rec.Name, application.DisplayStatus(rec), numfmt.Date(rec.StartedAt))
				switch {
				case rec.Lineage == store.LineageRescore:
					fmt.Fprintf(a.stdout, "rescored from batch %s: the same executions, scored again (no node ran)\n", rec.ParentID)
				case rec.ParentID != "" && rec.ForkNode != "":
					fmt.Fprintf(a.stdout, "forked from batch %s at node %s: the nodes up to it were reused, not run\n", rec.ParentID, rec.ForkNode)
				}
			}
			if application.Interrupted(rec) {
				fmt.Fprintf(a.stderr, "batch %s was interrupted: the process running it stopped before it finished; `%s` runs the rest\n",
					rec.ID, a.command("resume", rec.ID))
			}
			printScoringWarnings(a.stderr, board.Summary)
			return writeLeaderboard(a.stdout, format, rec, board.Spec, board.Summary, board.Failures, a.followUps(ctx, st, rec, board.Spec, board.Summary, board.Failures))
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or csv")
	cmd.Flags().BoolVar(&list, "list", false, "list stored batches instead")
	cmd.Flags().BoolVar(&failed, "failed", false, "list failed executions with their errors")
	cmd.Flags().BoolVar(&executions, "executions", false, "list every execution with its scores")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print the leaderboard again as results are stored, until the batch stops running")
	return cmd
}

func (a *app) listBatches(ctx context.Context, st store.Store, format string) error {
	bs, err := application.Batches(ctx, st, 100)
	if err != nil {
		return a.failed(err)
	}
	if format == "json" {
		return jsondoc.Write(a.stdout, jsondoc.BatchesOf(bs))
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BATCH\tNAME\tSTATUS\tEXECUTIONS\tRUNNER\tSTARTED\tCASES\tCOMMIT\tPARENT")
	for _, b := range bs {
		parent := b.ParentID
		if parent != "" && b.Lineage == store.LineageRescore {
			parent = "rescore of " + parent
		} else if parent != "" {
			parent = "fork of " + parent + " at " + b.ForkNode
		} else if b.Lineage == store.LineageFork {
			parent = "fork of a deleted batch at " + b.ForkNode
		}
		status := application.DisplayStatus(&b)
		if status == store.StatusRunning && b.CancelRequestedAt != nil {
			status += " (cancel requested)"
		}
		commit := orDash(dataset.Short(b.GitCommit))
		if b.GitDirty {
			commit += "+"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Name, status, b.Total, b.Runner,
			numfmt.Date(b.StartedAt), orDash(dataset.Short(b.CasesHash)), commit, parent)
	}
	return tw.Flush()
}

func (a *app) writeExecutions(rows []store.Result, format string) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(a.stdout)
		_ = cw.Write([]string{"execution_key", "combination", "case", "repeat", "status", "overall_score", "passed", "duration_ms", "attempts", "worker", "error"})
		for _, r := range rows {
			_ = cw.Write([]string{r.ExecutionKey, r.Combination, r.CaseID, fmt.Sprint(r.Repeat), r.Status,
				fmt.Sprintf("%.6f", r.OverallScore), fmt.Sprint(r.Passed), fmt.Sprintf("%.1f", r.DurationMs),
				fmt.Sprint(r.Attempts), r.WorkerID, r.Error})
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXECUTION\tSTATUS\tSCORE\tDURATION\tATTEMPTS\tERROR")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.ExecutionKey, r.Status, numfmt.Score(r.OverallScore), numfmt.Duration(r.DurationMs), r.Attempts, r.Error)
	}
	return tw.Flush()
}
