package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/store"
)

func (a *app) cancelCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "cancel BATCH_ID",
		Short: "Stop a running batch from any process or machine, as Ctrl-C would",
		Long: `Ask the process running a batch — here or on another machine that uses the
same database — to stop it. The request goes through the database; the owner
reads it when it next renews its lease (every 10 s by default: a third of
WTB_LEASE_TTL) and stops as on Ctrl-C: it cancels what runs, stores what
finished, and the batch ends "cancelled"; ` + "`wtb resume BATCH_ID`" + ` completes it.
Who asked and when goes to the batch's audit trail; the viewer shows the
batch as "cancel requested" until it stops. A batch that is not running
(finished, cancelled, or interrupted: its owner is gone) is an error (exit 2)
that says which.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.openExisting(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			out, err := a.bench().Cancel(ctx, st, args[0])
			var nr *application.NotRunningError
			if errors.As(err, &nr) {
				return exitf(ExitConfig, "%s", nr.Explain(a.command("resume", nr.Batch.ID)))
			}
			if err != nil {
				return a.failed(err)
			}
			id := out.Batch.ID
			if out.Earlier {
				fmt.Fprintf(a.stdout, "batch %s: a cancel was already requested by %s at %s; its owner (%s) stops it at its next lease renewal\n",
					id, out.Request.By, numfmt.Date(out.Request.At), out.Batch.Owner)
			} else {
				fmt.Fprintf(a.stdout, "cancel requested: batch %s stops within %s (its owner, %s, reads the request when it renews its lease); what finished is stored, and `%s` completes it\n",
					id, numfmt.Elapsed(out.Within), out.Batch.Owner, a.command("resume", id))
			}
			if !wait {
				return nil
			}
			rec, err := application.WaitStopped(ctx, st, id, 250*time.Millisecond)
			if err != nil {
				return a.failed(err)
			}
			switch {
			case rec.Status == store.StatusCancelled:
				fmt.Fprintf(a.stdout, "batch %s cancelled; `%s` completes it\n", id, a.command("resume", id))
			case application.Interrupted(rec):
				fmt.Fprintf(a.stdout, "batch %s stopped without finishing (its owner is gone); `%s` completes it\n", id, a.command("resume", id))
			default:
				fmt.Fprintf(a.stdout, "batch %s %s before it stopped for the request\n", id, rec.Status)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the batch has stopped, and say how it ended")
	return cmd
}
