package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/bench"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/doc"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/suggest"
)

func (a *app) validateCommand() *cobra.Command {
	var vars []string
	var noPlugins, strict bool
	var format string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a bench file and its plugin blocks, reporting every problem at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			if format == "json" {
				return a.validateJSON(cmd.Context(), args[0], vars, !noPlugins, strict)
			}
			vm, err := parseVars(vars)
			if err != nil {
				return exitf(ExitConfig, "%v", err)
			}
			cfg, loaded, err := bench.Load(args[0], vm)
			if cfg != nil {
				a.printDiagnostics(cfg.Files(), loaded)
			}
			if err != nil {
				return a.failed(err)
			}
			diags, err := a.bench().Validate(cmd.Context(), cfg, !noPlugins)
			a.printDiagnostics(cfg.Files(), diags)
			if err != nil {
				return a.failed(err)
			}
			if n := warnings(append(loaded, diags...)); strict && n > 0 {
				return exitf(ExitConfig, "%s has %s (--strict fails on warnings)", args[0], plural(n, "warning", "warnings"))
			}
			for _, bd := range cfg.Batches {
				b := bd.Spec
				fmt.Fprintf(a.stdout, "batch_test %q: %s × %s × %d repeat = %s\n", b.Name,
					plural(len(b.Combinations), "combination", "combinations"), plural(len(b.Cases), "case", "cases"),
					b.Repeat, plural(b.Total(), "execution", "executions"))
			}
			fmt.Fprintf(a.stdout, "%s is valid.\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value")
	cmd.Flags().BoolVar(&noPlugins, "no-plugins", false, "skip launching plugins to check their blocks")
	cmd.Flags().BoolVar(&strict, "strict", false, "fail (exit 2) on warnings too, e.g. an expect path that matches no case")
	cmd.Flags().StringVar(&format, "format", "text", "text or json (diagnostics on stdout, like terraform validate -json; schema: wtb schema validate)")
	return cmd
}

// validateJSON prints validate's outcome as one document; the exit code is
// the same as in text mode.
func (a *app) validateJSON(ctx context.Context, path string, vars []string, plugins, strict bool) error {
	vm, err := parseVars(vars)
	if err != nil {
		return exitf(ExitConfig, "%v", err)
	}
	cfg, diags, err := bench.Load(path, vm)
	if err == nil {
		var more hcl.Diagnostics
		more, err = a.bench().Validate(ctx, cfg, plugins)
		diags = append(diags, more...)
	}
	if err != nil && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: oneLine(err)})
	}
	var specs []*spec.Batch
	if cfg != nil {
		for _, bd := range cfg.Batches {
			specs = append(specs, bd.Spec)
		}
	}
	out := doc.ValidateOf(path, diags, specs)
	if strict && out.WarningCount > 0 {
		out.Valid = false // what the exit code says
	}
	if werr := doc.Write(a.stdout, out); werr != nil {
		return exitf(ExitRuntime, "%v", werr)
	}
	if err != nil {
		code := ExitConfig
		if bench.KindOf(err) == bench.KindRuntime {
			code = ExitRuntime
		}
		return exitCode(code)
	}
	if strict && warnings(diags) > 0 {
		return exitCode(ExitConfig)
	}
	return nil
}

// warnings counts the warnings among diags.
func warnings(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			n++
		}
	}
	return n
}

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
				rec, b, err := bench.Batch(ctx, st, id)
				if err != nil {
					return a.failed(err)
				}
				q := store.ResultQuery{}
				if failed {
					q.Status = store.ResultFailed
				}
				rows, total, err := bench.Executions(ctx, st, rec.ID, q)
				if err != nil {
					return a.failed(err)
				}
				if format == "json" {
					return doc.Write(a.stdout, doc.ExecutionsOf(rec.ID, rows, total, 0, b))
				}
				return a.writeExecutions(rows, format)
			}
			if watch {
				if format != "table" {
					return exitf(ExitConfig, "--watch redraws a table; drop --format")
				}
				return a.watchResults(ctx, st, id, format)
			}
			board, err := bench.Leaderboard(ctx, st, id)
			if err != nil {
				return a.failed(err)
			}
			rec := board.Batch
			if format == "table" {
				fmt.Fprintf(a.stdout, "batch %s (%s) — %s, started %s\n", rec.ID, rec.Name, bench.DisplayStatus(rec), numfmt.Date(rec.StartedAt))
				switch {
				case rec.Lineage == store.LineageRescore:
					fmt.Fprintf(a.stdout, "rescored from batch %s: the same executions, scored again (no node ran)\n", rec.ParentID)
				case rec.ParentID != "" && rec.ForkNode != "":
					fmt.Fprintf(a.stdout, "forked from batch %s at node %s: the nodes up to it were reused, not run\n", rec.ParentID, rec.ForkNode)
				}
			}
			if bench.Interrupted(rec) {
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
	bs, err := bench.Batches(ctx, st, 100)
	if err != nil {
		return a.failed(err)
	}
	if format == "json" {
		return doc.Write(a.stdout, doc.BatchesOf(bs))
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
		status := bench.DisplayStatus(&b)
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
			rec, entries, err := bench.Audit(ctx, st, id, store.AuditFilter{MinSeverity: level, EventType: typ, Limit: limit})
			if err != nil {
				return a.failed(err)
			}
			if format == "json" {
				return doc.Write(a.stdout, doc.AuditOf(rec.ID, entries))
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
			rep, err := bench.ImportAudit(cmd.Context(), st, args[0], args[1], bench.ImportOptions{For: listen,
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

func (a *app) pluginsCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the plugins wtb finds, with kind, version and protocol versions",
		Long: `List the plugins wtb finds on its search path (--plugin-dir, $WTB_PLUGIN_PATH,
bin/plugins beside wtb), starting each one to read its version, protocol
versions and capabilities. ` + "`wtb plugins describe NAME`" + ` shows a plugin's
configuration attributes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			dirs, found := a.bench().Plugins(cmd.Context())
			if format == "json" {
				d := doc.Plugins{Header: doc.Header{FormatVersion: doc.FormatVersion, Kind: doc.KindPlugins}, SearchPath: dirs, Plugins: []doc.Plugin{}}
				for _, p := range found {
					d.Plugins = append(d.Plugins, doc.PluginOf(p))
				}
				return doc.Write(a.stdout, d)
			}
			fmt.Fprintf(a.stdout, "Searched: %s\n\n", strings.Join(dirs, ", "))
			if len(found) == 0 {
				fmt.Fprintln(a.stdout, "No plugins found. Build them with `make build`, or point --plugin-dir or WTB_PLUGIN_PATH at them.")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tPROTOCOL\tCAPABILITIES\tPATH")
			for _, c := range found {
				version, protocols, caps := describePlugin(c)
				name := c.Name
				if c.Shadowed {
					name += " (shadowed)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, c.Kind, version, protocols, caps, c.Path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.AddCommand(a.pluginsDescribeCommand())
	return cmd
}

func (a *app) pluginsDescribeCommand() *cobra.Command {
	var format, kind string
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a plugin's configuration attributes: type, default, description",
		Example: `  wtb plugins describe pool
  wtb plugins describe local --kind environment`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			c, err := a.bench().DescribePlugin(cmd.Context(), args[0], kind)
			if err != nil {
				if bench.KindOf(err) == bench.KindConfig {
					return a.failed(err)
				}
				return exitf(ExitRuntime, "%v", oneLine(err))
			}
			d := doc.PluginSchemaOf(c)
			if format == "json" {
				return doc.Write(a.stdout, d)
			}
			block := "runner"
			if c.Kind == bench.PluginEnvironment {
				block = "environment"
			}
			fmt.Fprintf(a.stdout, "%s %q — %s %s\n", block, c.Name, c.Path, d.Plugin.Version)
			if d.Plugin.Description != "" {
				fmt.Fprintf(a.stdout, "%s\n", d.Plugin.Description)
			}
			fmt.Fprintf(a.stdout, "\n%s \"NAME\" {\n  plugin = %q\n", block, c.Name)
			for _, at := range d.Attributes {
				note := at.Type
				switch {
				case at.Required:
					note += ", required"
				case at.Sensitive:
					note += ", sensitive"
				case string(at.Default) != "null":
					note += ", default " + string(at.Default)
				}
				if at.Description != "" {
					note += ": " + at.Description
				}
				fmt.Fprintf(a.stdout, "  %-20s # %s\n", at.Name, note)
			}
			fmt.Fprintln(a.stdout, "}")
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.Flags().StringVar(&kind, "kind", "", "runner or environment, when both kinds have a plugin of that name")
	return cmd
}

func checkTextJSON(format string) error {
	if format != "text" && format != "json" {
		return unknownValue("--format", format, []string{"text", "json"})
	}
	return nil
}

func eventTypes() []string {
	out := make([]string, len(events.Types))
	for i, t := range events.Types {
		out[i] = string(t)
	}
	return out
}

// unknownValue is the usage error for a flag or argument naming none of
// options, with the one probably meant.
func unknownValue(what, got string, options []string) error {
	return exitf(ExitConfig, "unknown %s %q: use %s.%s", what, got, strings.Join(options, ", "), suggest.DidYouMean(got, options))
}

// describePlugin is a found plugin's VERSION, PROTOCOL and CAPABILITIES
// columns.
func describePlugin(d bench.FoundPlugin) (version, protocols, caps string) {
	if d.Err != nil {
		return "error", "-", oneLine(d.Err)
	}
	if d.Kind == bench.PluginRunner {
		caps = "kinds=" + strings.Join(sortedCopy(d.NodeKinds), ",")
	}
	var pv []string
	for _, v := range d.Info.ProtocolVersions {
		pv = append(pv, fmt.Sprint(v))
	}
	caps = joinNonEmpty(" ", strings.Join(d.Info.Capabilities, ","), caps)
	if caps == "" {
		caps = "-"
	}
	return d.Info.Version, fmt.Sprintf("%s (negotiated %d)", strings.Join(pv, ","), d.Negotiated), caps
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func (a *app) versionCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the wtb version and the plugin protocol it speaks",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			v := doc.VersionOf(Version)
			if format == "json" {
				return doc.Write(a.stdout, v)
			}
			fmt.Fprintf(a.stdout, "wtb %s (plugin protocol %d, SDK %s, %s %s/%s)\n", v.Version, v.ProtocolVersion, v.SDKVersion,
				v.GoVersion, v.OS, v.Arch)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

func (a *app) schemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema [KIND]",
		Short: "Print the JSON Schema of a --format json document (without KIND: list the kinds)",
		Long: `Every command that prints data can print it as one JSON document
(--format json) with format_version and kind fields. This prints the JSON
Schema (draft 2020-12) a document of that kind follows; refs point at "defs".`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				for _, k := range doc.Kinds {
					fmt.Fprintln(a.stdout, k)
				}
				return nil
			}
			data, err := doc.Schema(args[0])
			if err != nil {
				return unknownValue("document kind", args[0], doc.Kinds)
			}
			_, err = a.stdout.Write(data)
			return err
		},
	}
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
