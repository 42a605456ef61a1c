package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/metrics"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/summary"
	"github.com/wtbench/wtb/host/internal/viewer"
)

// DefaultViewAddr is where wtb view listens unless told otherwise: this
// machine only.
const DefaultViewAddr = "127.0.0.1:7576"

func (a *app) viewCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Browse results in a local web UI: leaderboards, charts, executions node by node, comparisons",
		Long: `Serve a read-only web UI over the database (--db, as for every command) at
http://127.0.0.1:7576: the batches (live while running), each batch's
leaderboard, its cases × combinations grid (every case's input, expected
values and each combination's output and verdicts), score and latency
distributions, its executions with filters, one execution with its input,
expected values and output, as a graph of its nodes with what each changed,
its logs and its scores explained, and two batches compared case by case.
Links carry the page's state, so they can be shared with anyone who can reach
the server.

It binds to 127.0.0.1 unless --addr says otherwise; the UI has no login, so
only serve it to a network you trust.`,
		Example: `  wtb view
  wtb view --db postgres://wtb@db.internal/wtb --addr 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.reading(cmd.Context(), func(ctx context.Context, st store.Store) error {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return exitf(ExitConfig, "--addr %s: %v", addr, err)
				}
				host, _, _ := net.SplitHostPort(ln.Addr().String())
				if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
					fmt.Fprintf(a.stderr, "warning: serving to the network on %s: anyone who can reach it can read these results\n", ln.Addr())
				}
				return a.serveViewer(ctx, ln, st)
			})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", DefaultViewAddr, "address to listen on (host:port; port 0 picks a free one)")
	return cmd
}

func (a *app) serveViewer(ctx context.Context, ln net.Listener, st store.Store) error {
	srv := &http.Server{Handler: (&viewer.Server{Store: st, Log: a.log, Metrics: metrics.New()}).Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(a.stdout, "WTB viewer on http://%s (%s; Ctrl-C to stop)\n", ln.Addr(), st.Describe())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return exitf(ExitRuntime, "serving: %v", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return exitf(ExitRuntime, "serving: %v", err)
	}
	return nil
}

func (a *app) reportCommand() *cobra.Command {
	var out string
	var ci ciFlags
	cmd := &cobra.Command{
		Use:   "report [BATCH_ID] --html FILE | --markdown FILE [--baseline BATCH|FILE]",
		Short: "Write a batch as one self-contained HTML file, or as a markdown summary for CI",
		Long: `--html FILE writes the viewer's batch page as one HTML file with its styles,
script and data inside: it opens from disk in any browser, with no server and
no network. It holds the leaderboard (with cost and tokens per execution, and
the score versus cost chart, when the batch called models through the
gateway), the distributions, every execution (up to 20,000), the full
node-by-node view of up to 200 executions, failures first, and the cases ×
combinations grid for up to 2,000 cases (10,000 executions), failures first;
it says when it holds only part.

--markdown FILE (- for standard output) writes a GitHub-flavoured markdown
summary for $GITHUB_STEP_SUMMARY, a pull request comment or a GitLab merge
request note: the verdict, the batch's dataset (cases hash, git commit), the
leaderboard and, with --baseline (a stored batch, or a file written by wtb
export BATCH --baseline FILE), the paired comparison per combination — score,
latency and cost deltas, significance, the regressions — and the first
diverging node of the worst cases. Its figures are those of wtb compare
--format json. The summary starts with the line ` + "`" + summary.Marker + "`" + `, by
which a CI step finds and updates its earlier pull request comment.

--fail-on regression makes a significant regression against the baseline
exit 1; --fail-on thresholds a missed threshold.`,
		Example: `  wtb report --html report.html
  wtb report 20260101-120000-abcd1234 --html out/report.html
  wtb report --markdown - --baseline ci/baseline.json --fail-on regression >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" && ci.summary == "" {
				return exitf(ExitConfig, "say what to write: --html FILE, --markdown FILE, or both")
			}
			if ci.summary == "" && (ci.baseline != "" || len(ci.failOn) > 0) {
				return exitf(ExitConfig, "--baseline and --fail-on go with --markdown FILE")
			}
			if err := ci.check(a); err != nil {
				return err
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			var page []byte
			var c *application.Comparison
			var board *application.Board
			err := a.reading(cmd.Context(), func(ctx context.Context, st store.Store) (err error) {
				if out != "" {
					if page, err = viewer.Report(ctx, st, id, Version); err != nil {
						return a.failed(err)
					}
				}
				if ci.summary == "" {
					return nil
				}
				if err := ci.checkStored(ctx, a, st); err != nil {
					return err
				}
				board, c, err = a.ciSummary(ctx, st, id, &ci)
				return err
			})
			if err != nil {
				return err
			}
			if out != "" {
				if dir := filepath.Dir(out); dir != "" {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						return exitf(ExitRuntime, "%v", err)
					}
				}
				if err := os.WriteFile(out, page, 0o644); err != nil {
					return exitf(ExitRuntime, "writing the report: %v", err)
				}
				fmt.Fprintf(a.stderr, "wrote %s (%.1f KiB)\n", out, float64(len(page))/1024)
			}
			switch {
			case board != nil && ci.failsOn(failOnThresholds) && board.Summary.Thresholds && !board.Summary.Passed:
				return exitf(ExitThresholds, "batch %s: %s (--fail-on thresholds)", board.Batch.ID, board.Summary.Verdict)
			case c != nil && c.Regressions > 0 && ci.failsOn(failOnRegression):
				return exitf(ExitThresholds, "a significant regression against the baseline %s (--fail-on regression)", ci.baseline)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "html", "", "the HTML file to write")
	addCIFlags(cmd, &ci, "markdown", true, "exit 1 on: thresholds (a missed threshold), regression (a significant regression against --baseline); comma-separated")
	return cmd
}
