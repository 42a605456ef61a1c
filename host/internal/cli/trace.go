package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
)

// otlpUsage is --otlp-endpoint's help on the commands that run a batch.
const otlpUsage = "send the batch as a trace to this OTLP/HTTP collector as executions finish, e.g. http://127.0.0.1:4318 (/v1/traces is added): " +
	"a span per batch, execution and node run, the nodes' own spans beneath; a collector that is down never slows or fails the batch " +
	"(default: the bench file's bridge \"otlp\", or OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT when set)"

const otlpHeaderUsage = "with --otlp-endpoint, an HTTP header for the collector: --otlp-header 'Authorization=Bearer TOKEN' (repeatable; never stored; OTEL_EXPORTER_OTLP_HEADERS is read too)"

// traceExport turns --otlp-endpoint and --otlp-header into the run's
// trace export (nil: none asked for on the command line).
func traceExport(endpoint string, headers []string) (*application.TraceExport, error) {
	if endpoint == "" && len(headers) == 0 {
		return nil, nil
	}
	x := &application.TraceExport{URL: endpoint}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n:()<>@,;\"/[]?={}") {
			return nil, exitf(ExitConfig, "--otlp-header takes NAME=VALUE, such as --otlp-header 'Authorization=Bearer TOKEN'; got %q", h)
		}
		if x.Headers == nil {
			x.Headers = map[string]string{}
		}
		x.Headers[k] = v
	}
	return x, nil
}

func (a *app) traceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Send batches as OpenTelemetry traces to a collector",
	}
	cmd.AddCommand(a.traceExportCommand())
	return cmd
}

func (a *app) traceExportCommand() *cobra.Command {
	var endpoint string
	var headers []string
	cmd := &cobra.Command{
		Use:   "export BATCH_ID --otlp-endpoint URL",
		Short: "Send a stored batch as one trace to an OTLP/HTTP collector (Jaeger, Tempo, an OpenTelemetry Collector, ...)",
		Long: `Send a stored batch to an OTLP/HTTP collector as the trace a run with
--otlp-endpoint sends: a batch span (the root), a span per execution
(combination, case, repeat, outcome, score) and per node run (node, source
ran/shared/cached/forked, worker, attempt, outcome, tokens), and the nodes' own
spans beneath their node run. Span ids derive from the batch id, execution key
and node, so sending a batch again sends the same spans.

Without --otlp-endpoint the OTEL_EXPORTER_OTLP_* variables name the collector
(OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION and _CERTIFICATE are read
as by any OpenTelemetry SDK).`,
		Example: `  wtb trace export latest --otlp-endpoint http://127.0.0.1:4318
  OTEL_EXPORTER_OTLP_ENDPOINT=https://otlp.example.com OTEL_EXPORTER_OTLP_HEADERS=x-api-key=KEY wtb trace export 20260101-120000-1a2b3c4d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			x, err := traceExport(endpoint, headers)
			if err != nil {
				return err
			}
			if x == nil {
				x = &application.TraceExport{}
			}
			st, err := a.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := a.bench().ExportTrace(cmd.Context(), st, args[0], *x)
			if err != nil {
				return a.failed(err)
			}
			s := res.Stats
			fmt.Fprintf(a.stdout, "batch %s: %d spans of %d executions sent to %s; trace id %s\n", res.Batch.ID, s.Spans, s.Executions, s.Target, res.TraceID)
			return nil
		},
	}
	cmd.Flags().StringVar(&endpoint, "otlp-endpoint", "", "the collector's OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318 (/v1/traces is added; default: OTEL_EXPORTER_OTLP_ENDPOINT)")
	cmd.Flags().StringArrayVar(&headers, "otlp-header", nil, "an HTTP header for the collector: NAME=VALUE (repeatable)")
	return cmd
}
