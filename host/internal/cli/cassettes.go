package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/bench"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

func (a *app) cassettesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cassettes",
		Short: "Model-call recordings as files to commit: export a batch's, replay them with cassettes = \"DIR\"",
	}
	export := &cobra.Command{
		Use:   "export BATCH_ID DIR",
		Short: "Write every node run's recorded model calls of a batch to DIR, one file per node run",
		Long: `Write the model calls a batch recorded (or replayed) to DIR as cassette files:
one JSON file per node run, at CASE/rREPEAT/NODE/VARIANTS.json, with the calls in
order — requests and responses with their headers (never a credential) and
bodies (JSON indented as sent, streams as their chunks). A gateway block with
cassettes = "DIR" replays from them, so CI runs offline and needs no API key.

The files are written the same way every time (exporting one batch twice gives
the same bytes; a re-recording's git diff shows what the model said
differently). Files of DIR that the batch does not hold are left alone; a
replay from DIR lists the cassettes no node run asked for.`,
		Example: `  wtb run bench.hcl --model-calls record
  wtb cassettes export latest cassettes/
  git add cassettes/ && git commit -m "re-record model calls"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.reading(cmd.Context(), func(ctx context.Context, st store.Store) error {
				res, err := bench.ExportCassettes(ctx, st, args[0], args[1])
				if err != nil {
					return a.failed(err)
				}
				fmt.Fprintf(a.stdout, "exported %s with %s to %s (%d unchanged)\n",
					plural(len(res.Written), "cassette", "cassettes"), plural(res.Calls, "model call", "model calls"), res.Dir, res.Unchanged)
				return nil
			})
		},
	}
	cmd.AddCommand(export)
	return cmd
}

// modelCallsPart says how many model calls a run made, and where their
// answers came from.
func modelCallsPart(rep bench.RunReport) string {
	return callsPart(rep.ModelCalls, rep.ReplayMisses, rep.LLM, "model call", "model calls")
}

// judgeCallsPart says the same of the llm_judge evaluators' calls.
func judgeCallsPart(rep bench.RunReport) string {
	return callsPart(rep.JudgeCalls, 0, rep.Judge, "judge call", "judge calls")
}

func callsPart(bySource map[string]int, misses int, l bench.CallTotals, one, many string) string {
	total := 0
	var srcs []string
	for src, n := range bySource {
		total += n
		srcs = append(srcs, src)
	}
	sort.Strings(srcs)
	var parts []string
	for _, src := range srcs {
		n := bySource[src]
		if src == sdk.SourceReplayed && misses > 0 {
			parts = append(parts, fmt.Sprintf("%d replayed, %d missed", n-misses, misses))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, src))
	}
	out := plural(total, one, many) + " (" + strings.Join(parts, ", ") + ")"
	if l.Usage.Reported {
		out += ", " + numfmt.Count(float64(l.Usage.Total())) + " tokens"
		switch {
		case l.Unpriced == l.Calls:
			out += ", cost unpriced"
		case l.Unpriced > 0:
			out += fmt.Sprintf(", %s for %d of them (%d unpriced)", numfmt.USD(l.CostUSD), l.Calls-l.Unpriced, l.Unpriced)
		default:
			out += ", " + numfmt.USD(l.CostUSD)
		}
	}
	return out
}
