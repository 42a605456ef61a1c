package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/store"
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
				res, err := application.ExportCassettes(ctx, st, args[0], args[1])
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
