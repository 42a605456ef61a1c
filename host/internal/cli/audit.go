package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/store"
)

func (a *app) auditCommand() *cobra.Command {
	var level, typ, format string
	var limit int
	var follow bool
	cmd := &cobra.Command{
		Use:   "audit [BATCH_ID]",
		Short: "Show the audit trail of a batch (the latest by default); --follow keeps printing while it runs",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !slices.Contains(store.SeveritiesAtLeast(""), strings.ToUpper(level)) {
				return unknownValue("--level", strings.ToUpper(level), store.SeveritiesAtLeast(""))
			}
			if err := checkTextJSON(format); err != nil {
				return err
			}
			// An imported event keeps its own type (reverse-DNS, like
			// com.example.agent.step: two dots at least).
			if types := eventTypes(); typ != "" && !slices.Contains(types, typ) && strings.Count(typ, ".") < 2 {
				// An unknown type would print an empty trail, as if nothing happened.
				return unknownValue("--type", typ, types)
			}
			if follow && format == "json" {
				return exitf(ExitConfig, "--follow prints text lines; drop --format json")
			}
			st, err := a.openReader(ctx, "")
			if err != nil {
				return err
			}
			defer st.Close()
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			rec, entries, err := application.Audit(ctx, st, id, store.AuditFilter{MinSeverity: level, EventType: typ, Limit: limit})
			if err != nil {
				return a.failed(err)
			}
			if format == "json" {
				return jsondoc.Write(a.stdout, jsondoc.AuditOf(rec.ID, entries))
			}
			for _, e := range entries {
				a.printAuditEntry(e)
			}
			if follow {
				return a.followAudit(ctx, st, rec, store.AuditFilter{MinSeverity: level, EventType: typ}, entries)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new entries until the batch stops running")
	cmd.Flags().StringVar(&level, "level", "INFO", "lowest severity shown: DEBUG, INFO, SUCCESS, WARNING, ERROR")
	cmd.Flags().StringVar(&typ, "type", "", "only this event type, e.g. execution.failed")
	cmd.Flags().StringVar(&format, "format", "text", "text or json (one document, schema: wtb schema audit)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many entries")
	cmd.AddCommand(a.auditImportCommand())
	return cmd
}

func (a *app) auditImportCommand() *cobra.Command {
	var listen time.Duration
	cmd := &cobra.Command{
		Use:   "import BATCH_ID SOURCE",
		Short: "Store another system's CloudEvents (a JSON-lines file, or a NATS subject) in a batch's audit trail",
		Long: `Store CloudEvents 1.0 from another system — an agent framework's own event
log — in the audit trail of a batch, where wtb audit and the viewer show them.
SOURCE is a file with one event in the JSON format a line, or
nats://host:port/subject, listened to for --for.

An event belongs to an execution when its wtbexecutionkey attribute, or its
subject, is the execution's key; its severity comes from a severity or level
attribute or data field (INFO otherwise), its message from data.message.
Importing an event again (same source and id) stores nothing twice.`,
		Example: `  wtb audit import 20260101-120000-1a2b3c4d agent-events.jsonl
  wtb audit import 20260101-120000-1a2b3c4d nats://127.0.0.1:4222/agent.events --for 1m`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if listen <= 0 {
				return exitf(ExitConfig, "--for must be more than 0; got %s", listen)
			}
			st, err := a.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := application.ImportAudit(cmd.Context(), st, args[0], args[1], application.ImportOptions{For: listen,
				Listening: func(server, subject string) {
					fmt.Fprintf(a.stderr, "listening on %s for %s (subject %s)\n", store.Redact(server), listen, subject)
				}})
			if err != nil {
				return a.failed(err)
			}
			fmt.Fprintln(a.stderr, rep.Summary(store.Redact(args[1])))
			return nil
		},
	}
	cmd.Flags().DurationVar(&listen, "for", 30*time.Second, "how long to listen to a NATS subject")
	return cmd
}

func eventTypes() []string {
	out := make([]string, len(events.Types))
	for i, t := range events.Types {
		out[i] = string(t)
	}
	return out
}
