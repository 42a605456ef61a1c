package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/statediff"
	"github.com/wtbench/wtb/host/internal/store"
)

func (a *app) showCommand() *cobra.Command {
	var batchID, format string
	var full, allLogs, bodies bool
	cmd := &cobra.Command{
		Use:   "show EXECUTION_KEY",
		Short: "Show one execution node by node: what each node changed, its logs, timings, and which runs were shared or cached",
		Long: `Show one execution of a batch (the latest by default) node by node: what
each node changed in the state (down to the leaves), the last lines it wrote to
stderr, how long it took, on which worker, and whether the node run was its
own, shared with other executions (prefix sharing), reused from the node
cache, or forked from a parent batch; then why each evaluator scored it so.

EXECUTION_KEY is the execution key, combination/case/repeat, e.g.
"retrieve=bm25,answer=terse/q1/0" (` + "`wtb results --executions`" + ` lists them), or the
node-run key a node saw as $WTB_EXECUTION_KEY and execution.key,
case/repeat/variants so far, e.g. "q1/0/answer=terse,retrieve=bm25": the last
node's names one execution; an earlier node's may be shared by several, which
are then listed with the command that shows each.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			return a.reading(cmd.Context(), func(ctx context.Context, st store.Store) error {
				v, err := application.Execution(ctx, st, batchID, args[0])
				if err != nil {
					return a.failed(err)
				}
				d := jsondoc.ExecutionDetailOf(v)
				if format == "json" {
					return jsondoc.Write(a.stdout, d)
				}
				printExecution(a.stdout, &d, full, allLogs, bodies)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&batchID, "batch", "", "batch id (default: the latest)")
	cmd.Flags().BoolVar(&full, "state", false, "print the full final state too")
	cmd.Flags().BoolVar(&allLogs, "logs", false, "print every stored log line (default: the last 5 per node)")
	cmd.Flags().BoolVar(&bodies, "calls", false, "print each model call's request and response (headers and bodies; credentials are never stored)")
	cmd.Flags().StringVar(&format, "format", "text", "text or json (schema: wtb schema execution)")
	return cmd
}

// shownLogLines is how many of a node's last log lines show prints.
const shownLogLines = 5

func printExecution(w io.Writer, d *jsondoc.ExecutionDetail, full, allLogs, bodies bool) {
	res := d.Execution
	fmt.Fprintf(w, "execution %s (batch %s)\n", res.ExecutionKey, d.BatchID)
	fmt.Fprintf(w, "  dataset: %s\n", datasetLine(d.Dataset, -1))
	fmt.Fprintf(w, "  status %s, score %s, passed %v, %s, %d attempt(s), worker %s\n", res.Status, numfmt.Score(res.OverallScore), res.Passed,
		numfmt.Duration(res.DurationMs), res.Attempts, orDash(res.WorkerID))
	if len(res.Scores) > 0 {
		var parts []string
		for _, k := range spec.SortedKeys(res.Scores) {
			parts = append(parts, k+"="+numfmt.Score(res.Scores[k]))
		}
		fmt.Fprintf(w, "  scores: %s\n", strings.Join(parts, " "))
	}
	for _, k := range spec.SortedKeys(res.Notes) {
		fmt.Fprintf(w, "    %s: %s\n", k, res.Notes[k])
	}
	printJudgeCalls(w, d, bodies)
	fmt.Fprintf(w, "\n  input (case %s): %s\n", res.CaseID, statediff.Brief(statediff.Decode(d.Input), 70))
	var final json.RawMessage
	for _, n := range d.Nodes {
		variant := ""
		if n.Variant != "" {
			variant = "=" + n.Variant
		}
		switch n.Status {
		case jsondoc.NodeSucceeded:
			fmt.Fprintf(w, "\n  %d. %s%s  [%s, %s, worker %s, checkpoint %s]\n", n.Position, n.Node, variant, n.Source, numfmt.Duration(n.DurationMs),
				orDash(n.WorkerID), short(n.CheckpointID))
			for _, c := range n.Diff {
				fmt.Fprintf(w, "       %s\n", c.Line(70))
			}
			if n.DiffTruncated {
				fmt.Fprintf(w, "       … more changes (--format json lists %d)\n", jsondoc.MaxDiffChanges)
			}
			if len(n.Metrics) > 0 {
				fmt.Fprintf(w, "       metrics: %s\n", statediff.Brief(n.Metrics, 70))
			}
			printLogs(w, n.Logs, allLogs)
			printModelCalls(w, n.ModelCalls, bodies)
			printSpans(w, n)
			final = n.State
		case jsondoc.NodeFailed:
			fmt.Fprintf(w, "\n  %d. %s%s  [failed]\n", n.Position, n.Node, variant)
			printLogs(w, d.Logs, allLogs)
			printModelCalls(w, n.ModelCalls, bodies)
			printSpans(w, n)
		default:
			fmt.Fprintf(w, "\n  %d. %s%s  [not run]\n", n.Position, n.Node, variant)
		}
	}
	if !res.Success {
		fmt.Fprintf(w, "\n  ✗ %s failed: %s\n", orDash(res.FailedNode), res.Error)
		if res.FailedNode == "" {
			printLogs(w, d.Logs, allLogs)
		}
	}
	if full && final != nil {
		var v any
		_ = json.Unmarshal(final, &v)
		out, _ := json.MarshalIndent(v, "  ", "  ")
		fmt.Fprintf(w, "\n  final state:\n  %s\n", out)
	}
}

// printSpans draws a node run's span tree on its timeline (offset from its
// first span, duration, status, name, then model, tokens, tool and error),
// then its tool calls as a list.
func printSpans(w io.Writer, n jsondoc.NodeRun) {
	if len(n.Spans) == 0 && n.SpansDropped == 0 {
		return
	}
	fmt.Fprintf(w, "       spans (%d):\n", len(n.Spans))
	for _, s := range n.Spans {
		mark := "✓"
		switch s.Status {
		case "error":
			mark = "✗"
		case "unset", "":
			mark = "·"
		}
		var extra []string
		if s.Attempt > 0 {
			extra = append(extra, fmt.Sprintf("attempt %d", s.Attempt))
		}
		if s.Model != "" {
			extra = append(extra, "model "+s.Model)
		}
		if s.InputTokens > 0 || s.OutputTokens > 0 {
			extra = append(extra, fmt.Sprintf("tokens %d in, %d out", s.InputTokens, s.OutputTokens))
		}
		if s.ToolName != "" {
			extra = append(extra, "tool "+s.ToolName)
		}
		if s.Source == "gateway" {
			extra = append(extra, "from the gateway")
		}
		if s.StatusMessage != "" {
			extra = append(extra, "error: "+firstLineOf(s.StatusMessage))
		}
		tail := ""
		if len(extra) > 0 {
			tail = "  (" + strings.Join(extra, ", ") + ")"
		}
		fmt.Fprintf(w, "         %8s %8s %s %s%s%s\n", "+"+numfmt.Duration(s.OffsetMs), numfmt.Duration(s.DurationMs), mark,
			strings.Repeat("  ", s.Depth), s.Name, tail)
	}
	if n.SpansDropped > 0 {
		fmt.Fprintf(w, "         … %d more spans dropped: past the bound of 2000 spans or 4 MiB per node run\n", n.SpansDropped)
	}
	if len(n.ToolCalls) > 0 {
		fmt.Fprintf(w, "       tool calls (%d):\n", len(n.ToolCalls))
		for i, t := range n.ToolCalls {
			args := string(t.Arguments)
			if len(args) > 100 {
				args = args[:100] + "…"
			}
			src := ""
			if t.Source == "requested" {
				src = "  (asked for by the model; no execute_tool span)"
			}
			fmt.Fprintf(w, "         %d. %s %s%s\n", i+1, t.Name, args, src)
		}
	}
}

// printJudgeCalls lists the llm_judge evaluators' calls under the
// evaluation they graded, apart from the workflow's, and the execution's
// model-call totals with the judges' counted apart (as the leaderboard's
// cost.judge is).
func printJudgeCalls(w io.Writer, d *jsondoc.ExecutionDetail, bodies bool) {
	judged := false
	for _, ev := range d.Evaluations {
		judged = judged || len(ev.ModelCalls) > 0
	}
	if !judged {
		return
	}
	fmt.Fprintf(w, "  judge calls (apart from the workflow's):\n")
	for _, ev := range d.Evaluations {
		if len(ev.ModelCalls) == 0 {
			continue
		}
		// A judge that could not grade fails the execution at judge:NAME
		// (the first such judge) and is named in its error; its 0 is no score.
		score := "score " + numfmt.Score(ev.Score)
		if res := d.Execution; !res.Success && (res.FailedNode == "judge:"+ev.Name || strings.Contains(res.Error, fmt.Sprintf("evaluator %q", ev.Name))) {
			score = "could not grade"
		}
		fmt.Fprintf(w, "    %s (%s, %s):\n", ev.Name, ev.Type, score)
		for _, c := range ev.ModelCalls {
			printModelCall(w, "      ", c, bodies)
		}
	}
	m := d.Execution.Metrics
	total := func(prefix string) string {
		tokens := 0.0
		for _, k := range []string{"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"} {
			tokens += m[prefix+k]
		}
		calls, unpriced := m[prefix+"calls"], m[prefix+"unpriced_calls"]
		cost := numfmt.USD(m[prefix+"cost_usd"])
		switch {
		case unpriced > 0 && unpriced == calls:
			cost = "unpriced"
		case unpriced > 0:
			cost += fmt.Sprintf(" + %s unpriced", numfmt.Count(unpriced))
		}
		noun := "calls"
		if calls == 1 {
			noun = "call"
		}
		return fmt.Sprintf("%s %s, %s tokens, %s", numfmt.Count(calls), noun, numfmt.Count(tokens), cost)
	}
	// The execution's wtb.llm.* metrics are the workflow's calls,
	// wtb.llm.judge.* its judges' (README "LLM judge").
	fmt.Fprintf(w, "  model calls: workflow %s; judges %s\n", total("wtb.llm."), total("wtb.llm.judge."))
}

// printModelCalls lists a node run's model calls, one line each, and with
// bodies their requests and responses indented.
func printModelCalls(w io.Writer, calls []jsondoc.ModelCall, bodies bool) {
	if len(calls) == 0 {
		return
	}
	fmt.Fprintf(w, "       model calls:\n")
	for _, c := range calls {
		printModelCall(w, "         ", c, bodies)
	}
}

// printModelCall is one call on a line (upstream, model, status, live,
// recorded or replayed, time, sends and queue, tokens, cost or unpriced),
// with bodies its request and response indented under it.
func printModelCall(w io.Writer, indent string, c jsondoc.ModelCall, bodies bool) {
	attempt := ""
	if c.Attempt > 0 {
		attempt = fmt.Sprintf(" (attempt %d, failed)", c.Attempt)
	}
	status := strconv.Itoa(c.Status)
	if c.Status == 0 {
		status = "no answer"
	}
	stream := ""
	if c.Streamed {
		stream = ", streamed"
	}
	used := ""
	if u := c.Usage; u != nil {
		used = fmt.Sprintf(", %s tokens", numfmt.Count(float64(u.Input+u.Output+u.CacheRead+u.CacheWrite+u.Reasoning)))
		if c.CostUSD != nil {
			used += ", " + numfmt.USD(*c.CostUSD)
		} else {
			used += ", unpriced"
		}
	} else if c.Status != 0 {
		used = ", no usage reported, unpriced"
	}
	waited := ""
	if c.Sends > 1 {
		waited = fmt.Sprintf(", sent %d times", c.Sends)
	}
	if c.QueueMs > 0 {
		waited += ", waited " + numfmt.Duration(c.QueueMs) + " in the gateway"
	}
	fmt.Fprintf(w, "%s#%d %s %s %s  %s  %s, %s%s, %s%s%s%s\n", indent, c.Ordinal, c.Method, c.Upstream, c.Path, orDash(c.Model), status,
		c.Source, stream, numfmt.Duration(c.DurationMs), waited, used, attempt)
	if c.Error != "" {
		fmt.Fprintf(w, "%s   error: %s\n", indent, firstLineOf(c.Error))
	}
	if bodies {
		for _, part := range []struct {
			name string
			raw  json.RawMessage
		}{{"request", c.Request}, {"response", c.Response}} {
			var v any
			_ = json.Unmarshal(part.raw, &v)
			out, _ := json.MarshalIndent(v, indent+"     ", "  ")
			fmt.Fprintf(w, "%s   %s: %s\n", indent, part.name, out)
		}
	}
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func printLogs(w io.Writer, lines []jsondoc.LogLine, all bool) {
	if len(lines) == 0 {
		return
	}
	start := 0
	if !all && len(lines) > shownLogLines {
		start = len(lines) - shownLogLines
		fmt.Fprintf(w, "       … %d earlier log lines (--logs shows them)\n", start)
	}
	for _, l := range lines[start:] {
		fmt.Fprintf(w, "       %s | %s\n", l.Stream, l.Line)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
