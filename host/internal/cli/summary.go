package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/summary"
)

// What --fail-on can name.
const (
	failOnThresholds = "thresholds"
	failOnRegression = "regression"
)

// ciFlags are a CI summary's: the markdown file, the baseline it compares
// against and what fails the command.
type ciFlags struct {
	summary  string // the markdown file ("" for none)
	baseline string // a stored batch or a baseline file ("" for none)
	failOn   []string
	compare  application.CompareOptions

	// name is the markdown file's flag; stdoutOK says "-" may name
	// standard output (not for run, whose leaderboard is there).
	name     string
	stdoutOK bool

	// base is the baseline file, read before the batch runs.
	base *application.Baseline
}

// addCIFlags adds the summary flags; name is the flag of the markdown file
// (--summary for run, --markdown for report).
func addCIFlags(cmd *cobra.Command, f *ciFlags, name string, stdoutOK bool, failOnUsage string) {
	f.name, f.stdoutOK = name, stdoutOK
	cmd.Flags().StringVar(&f.summary, name, "", "write a GitHub-flavoured markdown summary here: the verdict, the leaderboard and, with --baseline, "+
		"the comparison (for $GITHUB_STEP_SUMMARY or a pull request comment)")
	cmd.Flags().StringVar(&f.baseline, "baseline", "", "compare the batch against this stored batch or baseline file (wtb export BATCH --baseline FILE), as wtb compare does")
	cmd.Flags().StringSliceVar(&f.failOn, "fail-on", nil, failOnUsage)
	cmd.Flags().Float64Var(&f.compare.Tolerance, "tolerance", application.DefaultTolerance, "with --baseline: a mean score drop must be larger than this to be a regression")
	cmd.Flags().Float64Var(&f.compare.Alpha, "alpha", application.DefaultAlpha, "with --baseline: significance level of the paired test")
	cmd.Flags().StringVar(&f.compare.Test, "test", application.TestT, "with --baseline: paired test, t or wilcoxon")
}

// check refuses what cannot work before anything runs, and reads a baseline
// file: a typo must not cost a whole batch.
func (f *ciFlags) check(a *app) error {
	for _, v := range f.failOn {
		switch v {
		case failOnThresholds, failOnRegression:
		default:
			return unknownValue("--fail-on", v, []string{failOnThresholds, failOnRegression})
		}
	}
	if f.failsOn(failOnRegression) && f.baseline == "" {
		return exitf(ExitConfig, "--fail-on regression needs --baseline BATCH|FILE: what the batch is compared against")
	}
	if f.summary == "-" && !f.stdoutOK {
		return exitf(ExitConfig, "--%s - would mix the summary with the leaderboard on standard output: name a file", f.name)
	}
	if f.baseline != "" && isBaselineFile(f.baseline) {
		base, err := a.loadBaseline(f.baseline)
		if err != nil {
			return err
		}
		f.base = base
	}
	return nil
}

// checkStored checks, once the database is open, that a baseline naming a
// stored batch names one.
func (f *ciFlags) checkStored(ctx context.Context, a *app, st store.Store) error {
	if f.baseline == "" || f.base != nil {
		return nil
	}
	if _, _, err := application.Batch(ctx, st, f.baseline); err != nil {
		return a.failed(noBatchHint(fmt.Errorf("--baseline: %w", err), f.baseline))
	}
	return nil
}

func (f *ciFlags) failsOn(what string) bool {
	for _, v := range f.failOn {
		if v == what {
			return true
		}
	}
	return false
}

// ciSummary compares batch id against the baseline (if any), says the
// verdict on stderr, writes the summary (if asked) and returns the batch's
// leaderboard and the comparison (nil without a baseline).
func (a *app) ciSummary(ctx context.Context, st store.Store, id string, f *ciFlags) (*application.Board, *application.Comparison, error) {
	board, err := application.Leaderboard(ctx, st, id)
	if err != nil {
		return nil, nil, a.failed(err)
	}
	in := summary.Input{Board: jsondoc.LeaderboardOf(board)}
	var c *application.Comparison
	if f.baseline != "" {
		o := f.compare
		o.Cases, o.CaseLimit = true, summary.MaxCases
		if f.base != nil {
			c, err = application.CompareBaseline(ctx, st, f.base, board.Batch.ID, o)
			if err != nil {
				return nil, nil, a.failed(err)
			}
			in.UpdateBaseline = "wtb export latest --baseline " + shellQuote(f.baseline)
		} else if c, err = a.comparison(ctx, st, f.baseline, board.Batch.ID, o); err != nil {
			return nil, nil, err
		}
		d := jsondoc.CompareOf(c, application.Redactor(c.A).JSON, application.Redactor(c.B).JSON)
		in.Compare = &d
		fmt.Fprintf(a.stderr, "against the baseline %s: %s\n", f.baseline, regressionLine(c))
	}
	if f.summary != "" {
		var buf bytes.Buffer
		if err := summary.Write(&buf, in); err != nil {
			return nil, nil, exitf(ExitRuntime, "%v", err)
		}
		if f.summary == "-" {
			_, err = a.stdout.Write(buf.Bytes())
		} else {
			err = os.WriteFile(f.summary, buf.Bytes(), 0o644)
		}
		if err != nil {
			return nil, nil, exitf(ExitRuntime, "writing the summary %s: %v", f.summary, err)
		}
		if f.summary != "-" {
			fmt.Fprintf(a.stderr, "wrote the summary %s (%.1f KiB)\n", f.summary, float64(buf.Len())/1024)
		}
	}
	return board, c, nil
}

// regressionLine says what a comparison found, in one line.
func regressionLine(c *application.Comparison) string {
	var which []string
	for _, r := range c.Combinations {
		if r.Regression {
			which = append(which, r.Combination)
		}
	}
	line := "no regression"
	if len(which) > 0 {
		line = plural(len(which), "regression", "regressions") + " (" + strings.Join(firstN(which, 5), ", ") + ")"
	}
	if cs := c.Cases; cs.OnlyA+cs.OnlyB+cs.Changed > 0 {
		line += fmt.Sprintf("; the batches ran different cases (%d only in the baseline, %d only here, %d changed)", cs.OnlyA, cs.OnlyB, cs.Changed)
	}
	if !c.OverallComparable {
		line += "; scored by different evaluators: judged on those scored alike"
	}
	return line
}

func firstN(xs []string, n int) []string {
	if len(xs) <= n {
		return xs
	}
	return append(append([]string(nil), xs[:n]...), fmt.Sprintf("… %d more", len(xs)-n))
}
