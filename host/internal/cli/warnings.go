package cli

import (
	"fmt"
	"io"

	"github.com/wtbench/wtb/host/internal/leaderboard"
)

// printScoringWarnings tells, on stderr, what a batch's scoring noticed: an
// evaluator that found nothing to compare in most executions scored them 0
// without failing anything, and is most often a path that names nothing
// ($.expect.label for $.expected.label). The JSON documents carry the same
// warnings in summary.warnings.
func printScoringWarnings(w io.Writer, sum leaderboard.Summary) {
	for _, warn := range sum.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn.Message)
	}
}
