package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
)

func (a *app) rescoreCommand() *cobra.Command {
	var name, format, junit string
	var vars []string
	cmd := &cobra.Command{
		Use:   "rescore BATCH_ID [FILE]",
		Short: "Score a stored batch again, with its own evaluators or those of FILE, without running any node",
		Long: `Score every stored execution of a batch again — from its stored final state
and, for evaluators with node = "NAME", that node's stored output — and store
the new scores as a new batch whose parent is the original (lineage
"rescore"). No plugin starts and no node runs: change an evaluator, a weight,
pass_score or the thresholds and see the leaderboard they give, for free.

Without FILE the batch's own evaluators are used (the scores come out the
same). With FILE its batch_test's evaluators, pass_score and thresholds replace
the original's (--batch names the batch_test when FILE has several); the
workflow and cases stay the batch's. Exit codes as for run: 1 when the new
thresholds are missed.`,
		Example: `  wtb rescore latest stricter.hcl
  wtb compare 20261126-101010-abcd1234 $(wtb results --list --format json | jq -r '.batches[0].id')`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			o := application.RescoreOptions{Batch: args[0], BatchName: name}
			fromFile := ""
			if len(args) == 2 {
				cfg, err := a.loadConfig(args[1], vars)
				if err != nil {
					return err
				}
				o.Config, fromFile = cfg, cfg.Database
			}
			st, err := a.openStore(cmd.Context(), fromFile)
			if err != nil {
				return err
			}
			defer st.Close()
			out, err := a.bench().Rescore(cmd.Context(), st, o)
			if err != nil {
				return a.failed(err)
			}
			rec, b, sum := out.Batch, out.Spec, out.Summary
			fmt.Fprintf(a.stderr, "batch %s: rescored %d executions of batch %s; %d node runs\n", rec.ID, out.Scored, out.From.ID, out.NodeRuns)
			printScoringWarnings(a.stderr, sum)
			if err := writeLeaderboard(a.stdout, format, rec, b, sum, out.Failures, a.followUps(cmd.Context(), st, rec, b, sum, out.Failures)); err != nil {
				return exitf(ExitRuntime, "%v", err)
			}
			if junit != "" {
				results, err := st.Results().List(context.Background(), rec.ID)
				if err == nil {
					err = writeJUnitFile(junit, rec, b, sum, results)
				}
				if err != nil {
					return exitf(ExitRuntime, "writing %s: %v", junit, err)
				}
			}
			if sum.Thresholds && !sum.Passed {
				return exitCode(ExitThresholds)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "batch", "", "which batch_test of FILE supplies the evaluators (default: the one named like the rescored batch)")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable of FILE: --var name=value")
	cmd.Flags().StringVar(&format, "format", "table", "leaderboard format: table, json or csv")
	cmd.Flags().StringVar(&junit, "junit", "", "write a JUnit XML report to this file")
	return cmd
}
