package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/report"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// chain returns the checkpoints from the root to id, root first.
func chain(ctx context.Context, st store.Store, id string) ([]*store.Checkpoint, error) {
	var out []*store.Checkpoint
	for id != "" && len(out) < 10000 {
		cp, err := st.Checkpoints().Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
		id = cp.ParentID
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func decodeState(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

// stateDiff lists what changed between two states, one line per key.
func stateDiff(before, after map[string]any) []string {
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var out []string
	for _, k := range spec.SortedKeys(keys) {
		b, hadB := before[k]
		a, hasA := after[k]
		switch {
		case !hadB:
			out = append(out, fmt.Sprintf("+ %s = %s", k, brief(a)))
		case !hasA:
			out = append(out, fmt.Sprintf("- %s (was %s)", k, brief(b)))
		case !reflect.DeepEqual(a, b):
			out = append(out, fmt.Sprintf("~ %s: %s → %s", k, brief(b), brief(a)))
		}
	}
	return out
}

func brief(v any) string {
	raw, _ := json.Marshal(v)
	s := string(raw)
	if len(s) > 70 {
		s = s[:67] + "..."
	}
	return s
}

func (a *app) showCommand() *cobra.Command {
	var batchID string
	var full bool
	cmd := &cobra.Command{
		Use:   "show EXECUTION_KEY",
		Short: "Show one execution node by node: the state each node made, timings, and which runs were shared or cached",
		Long: `Show one execution of a batch (the latest by default) node by node: what
each node changed in the state, how long it took, on which worker, and whether
the node run was its own, shared with other executions (prefix sharing),
reused from the node cache, or forked from a parent batch.

EXECUTION_KEY is combination/case/repeat, e.g. "retrieve=bm25,answer=terse/q1/0";
` + "`wtb results --executions`" + ` lists them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.openReader(ctx, "")
			if err != nil {
				return err
			}
			defer st.Close()
			rec, _, err := a.batchOrLatest(ctx, st, batchID)
			if err != nil {
				return err
			}
			res, err := st.Results().Get(ctx, rec.ID, args[0])
			if err != nil {
				return exitf(ExitConfig, "batch %s has no stored execution %q (list them with `wtb%s results %s --executions`)", rec.ID, args[0], a.dbHint(), rec.ID)
			}
			cps, err := chain(ctx, st, res.FinalCheckpointID)
			if err != nil {
				return exitf(ExitRuntime, "reading the checkpoints of %s: %v", res.ExecutionKey, err)
			}
			a.printExecution(a.stdout, rec, res, cps, full)
			return nil
		},
	}
	cmd.Flags().StringVar(&batchID, "batch", "", "batch id (default: the latest)")
	cmd.Flags().BoolVar(&full, "state", false, "print the full final state too")
	return cmd
}

func (a *app) printExecution(w io.Writer, rec *store.Batch, res *store.Result, cps []*store.Checkpoint, full bool) {
	fmt.Fprintf(w, "execution %s (batch %s)\n", res.ExecutionKey, rec.ID)
	fmt.Fprintf(w, "  status %s, score %.3f, passed %v, %.1f ms, %d attempt(s), worker %s\n", res.Status, res.OverallScore, res.Passed,
		res.DurationMs, res.Attempts, orDash(res.WorkerID))
	if len(res.Scores) > 0 {
		var parts []string
		for _, k := range spec.SortedKeys(res.Scores) {
			parts = append(parts, fmt.Sprintf("%s=%.3f", k, res.Scores[k]))
		}
		fmt.Fprintf(w, "  scores: %s\n", strings.Join(parts, " "))
	}
	var prev map[string]any
	for _, cp := range cps {
		state := decodeState(cp.State)
		if cp.Source == store.SourceRoot {
			fmt.Fprintf(w, "\n  input (case %s): %s\n", res.CaseID, brief(state))
			prev = state
			continue
		}
		how := cp.Source
		if cp.Source == store.SourceRan && cp.SegmentKey != res.ExecutionKey {
			how = "shared"
		}
		variant := ""
		if cp.Variant != "" {
			variant = "=" + cp.Variant
		}
		fmt.Fprintf(w, "\n  %d. %s%s  [%s, %.1f ms, worker %s, checkpoint %s]\n", cp.Position, cp.Node, variant, how, cp.DurationMs,
			orDash(cp.WorkerID), short(cp.ID))
		for _, line := range stateDiff(prev, state) {
			fmt.Fprintf(w, "       %s\n", line)
		}
		if len(cp.Metrics) > 0 {
			fmt.Fprintf(w, "       metrics: %s\n", brief(cp.Metrics))
		}
		prev = state
	}
	if !res.Success {
		fmt.Fprintf(w, "\n  ✗ %s failed: %s\n", orDash(res.FailedNode), res.Error)
	}
	if full && prev != nil {
		out, _ := json.MarshalIndent(prev, "  ", "  ")
		fmt.Fprintf(w, "\n  final state:\n  %s\n", out)
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

func (a *app) compareCommand() *cobra.Command {
	var tolerance float64
	var cases bool
	var limit int
	var format string
	cmd := &cobra.Command{
		Use:   "compare BATCH_A BATCH_B",
		Short: "Compare two batches per combination, flag regressions, and show where per-case outputs first diverge",
		Long: `Compare batch B against batch A: per combination the change in mean score and
pass rate; a drop larger than --tolerance is flagged as a regression and
makes the exit code 1. With --cases, every execution whose score changed is
listed with the first node whose output differs between the two batches.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.openReader(ctx, "")
			if err != nil {
				return err
			}
			defer st.Close()
			recA, bA, err := a.batchOrLatest(ctx, st, args[0])
			if err != nil {
				return err
			}
			recB, bB, err := a.batchOrLatest(ctx, st, args[1])
			if err != nil {
				return err
			}
			resA, err := st.Results().List(ctx, recA.ID)
			if err != nil {
				return exitf(ExitRuntime, "%v", err)
			}
			resB, err := st.Results().List(ctx, recB.ID)
			if err != nil {
				return exitf(ExitRuntime, "%v", err)
			}
			if format != "table" && format != "json" {
				return exitf(ExitConfig, "unknown --format %q: use table or json", format)
			}
			rows, regressions := compareCombos(report.Summarize(bA, resA), report.Summarize(bB, resB), tolerance)
			var changed []caseDelta
			if cases {
				if changed, err = compareCases(ctx, st, resA, resB); err != nil {
					return exitf(ExitRuntime, "%v", err)
				}
			}
			if format == "json" {
				// One document, whatever the flags: machine readers parse it whole.
				doc := map[string]any{"a": recA.ID, "b": recB.ID, "combinations": rows, "regressions": regressions, "tolerance": tolerance}
				if cases {
					doc["cases"] = nonNil(changed)
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(doc); err != nil {
					return exitf(ExitRuntime, "%v", err)
				}
			} else {
				a.writeComboDeltas(recA, recB, rows, regressions, tolerance)
				if cases {
					a.writeCaseDeltas(changed, limit)
				}
			}
			if regressions > 0 {
				return exitCode(ExitThresholds)
			}
			return nil
		},
	}
	cmd.Flags().Float64Var(&tolerance, "tolerance", 0.05, "a mean score drop larger than this is a regression")
	cmd.Flags().BoolVar(&cases, "cases", false, "list changed executions with the first node whose output differs")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many executions in --cases")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

type comboDelta struct {
	Combination string   `json:"combination"`
	MeanA       *float64 `json:"mean_a,omitempty"`
	MeanB       *float64 `json:"mean_b,omitempty"`
	Delta       float64  `json:"delta"`
	PassA       float64  `json:"pass_rate_a"`
	PassB       float64  `json:"pass_rate_b"`
	Regression  bool     `json:"regression"`
}

func compareCombos(sa, sb report.Summary, tol float64) ([]comboDelta, int) {
	byA := map[string]report.Combo{}
	for _, c := range sa.Combos {
		byA[c.Combination] = c
	}
	byB := map[string]report.Combo{}
	for _, c := range sb.Combos {
		byB[c.Combination] = c
	}
	names := map[string]bool{}
	for k := range byA {
		names[k] = true
	}
	for k := range byB {
		names[k] = true
	}
	rows := []comboDelta{}
	regressions := 0
	for _, n := range spec.SortedKeys(names) {
		row := comboDelta{Combination: n}
		ca, okA := byA[n]
		cb, okB := byB[n]
		if okA {
			row.MeanA, row.PassA = &ca.Mean, ca.PassRate
		}
		if okB {
			row.MeanB, row.PassB = &cb.Mean, cb.PassRate
		}
		if okA && okB {
			row.Delta = cb.Mean - ca.Mean
			row.Regression = row.Delta < -tol
		}
		if row.Regression {
			regressions++
		}
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Delta < rows[j].Delta })
	return rows, regressions
}

func (a *app) writeComboDeltas(recA, recB *store.Batch, rows []comboDelta, regressions int, tol float64) {
	fmt.Fprintf(a.stdout, "Comparing %s (A, %s) → %s (B, %s)\n", recA.ID, recA.Name, recB.ID, recB.Name)
	if recB.ParentID == recA.ID {
		fmt.Fprintf(a.stdout, "B was forked from A at node %s\n", recB.ForkNode)
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMBINATION\tMEAN A\tMEAN B\tΔ MEAN\tPASS A\tPASS B\t")
	f := func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%.3f", *p)
	}
	for _, r := range rows {
		flag := ""
		if r.Regression {
			flag = "REGRESSION"
		} else if r.MeanA == nil {
			flag = "new in B"
		} else if r.MeanB == nil {
			flag = "only in A"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%+.3f\t%.0f%%\t%.0f%%\t%s\n", r.Combination, f(r.MeanA), f(r.MeanB), r.Delta, 100*r.PassA, 100*r.PassB, flag)
	}
	_ = tw.Flush()
	fmt.Fprintf(a.stdout, "%s (tolerance %.3f)\n", plural(regressions, "regression", "regressions"), tol)
}

// caseDelta is an execution whose score changed between two batches.
type caseDelta struct {
	ExecutionKey string  `json:"execution_key"`
	Node         string  `json:"first_differing_node"`
	Detail       string  `json:"detail"`
	Delta        float64 `json:"score_delta"`
}

// compareCases lists executions whose score changed, with the first node whose
// output (the state after it) differs between the two batches.
func compareCases(ctx context.Context, st store.Store, resA, resB []store.Result) ([]caseDelta, error) {
	byKey := map[string]store.Result{}
	for _, r := range resA {
		byKey[r.ExecutionKey] = r
	}
	var rows []caseDelta
	for _, rb := range resB {
		ra, ok := byKey[rb.ExecutionKey]
		if !ok || ra.OverallScore == rb.OverallScore && ra.Success == rb.Success {
			continue
		}
		node, detail, err := firstDivergence(ctx, st, ra, rb)
		if err != nil {
			return nil, err
		}
		rows = append(rows, caseDelta{rb.ExecutionKey, node, detail, rb.OverallScore - ra.OverallScore})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Delta < rows[j].Delta })
	return rows, nil
}

func (a *app) writeCaseDeltas(rows []caseDelta, limit int) {
	fmt.Fprintf(a.stdout, "\n%s whose score changed (first differing node → score change):\n", plural(len(rows), "execution", "executions"))
	for i, r := range rows {
		if i == limit {
			fmt.Fprintf(a.stdout, "  … %d more (raise --limit)\n", len(rows)-limit)
			break
		}
		fmt.Fprintf(a.stdout, "  %s\n    first differs at %s: %s  →  score %+.3f\n", r.ExecutionKey, r.Node, r.Detail, r.Delta)
	}
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func firstDivergence(ctx context.Context, st store.Store, ra, rb store.Result) (string, string, error) {
	ca, err := chain(ctx, st, ra.FinalCheckpointID)
	if err != nil {
		return "", "", err
	}
	cb, err := chain(ctx, st, rb.FinalCheckpointID)
	if err != nil {
		return "", "", err
	}
	stateAt := func(c []*store.Checkpoint) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, cp := range c {
			if cp.Node != "" {
				out[cp.Node] = decodeState(cp.State)
			}
		}
		return out
	}
	sa, sb := stateAt(ca), stateAt(cb)
	for _, cp := range cb {
		if cp.Node == "" {
			continue
		}
		before, ok := sa[cp.Node]
		if !ok {
			return cp.Node, "did not run in A", nil
		}
		if after := sb[cp.Node]; !reflect.DeepEqual(before, after) {
			return cp.Node, strings.Join(stateDiff(before, after), "; "), nil
		}
	}
	switch {
	case !ra.Success || !rb.Success:
		return orDash(rb.FailedNode + ra.FailedNode), fmt.Sprintf("A %s, B %s", ra.Status, rb.Status), nil
	}
	return "(none)", "same node outputs; the evaluators scored them differently", nil
}
