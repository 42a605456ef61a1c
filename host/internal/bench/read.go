package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/report"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// Batch loads a stored batch and its spec; id "" or "latest" is the latest.
func Batch(ctx context.Context, st store.Store, id string) (*store.Batch, *spec.Batch, error) {
	var rec *store.Batch
	var err error
	if id == "" || id == "latest" {
		rec, err = st.Batches().Latest(ctx)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, configErr("%w: %s holds no batches yet", ErrNoBatch, st.Describe())
		}
	} else {
		rec, err = st.Batches().Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, configErr("%w: %s is not in %s", ErrNoBatch, id, st.Describe())
		}
	}
	if err != nil {
		return nil, nil, runtimeErr("%w", err)
	}
	var b spec.Batch
	if err := json.Unmarshal(rec.Spec, &b); err != nil {
		return nil, nil, runtimeErr("batch %s: its stored spec is unreadable: %v", rec.ID, err)
	}
	return rec, &b, nil
}

// Batches lists the most recent batches, newest first.
func Batches(ctx context.Context, st store.Store, limit int) ([]store.Batch, error) {
	bs, err := st.Batches().List(ctx, limit)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	return bs, nil
}

// Board is a batch's leaderboard.
type Board struct {
	Batch   *store.Batch
	Spec    *spec.Batch
	Summary report.Summary
	// Failures are the first failed executions by key (at most MaxFailures).
	Failures []store.Result
}

// Leaderboard ranks a stored batch's combinations, reading its results one
// at a time.
func Leaderboard(ctx context.Context, st store.Store, id string) (*Board, error) {
	rec, b, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	sum, failures, err := summarize(ctx, st, rec.ID, b)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	return &Board{Batch: rec, Spec: b, Summary: sum, Failures: failures}, nil
}

// Executions lists a batch's results by execution key (only the failed ones
// with onlyFailed).
func Executions(ctx context.Context, st store.Store, id string, onlyFailed bool) ([]store.Result, error) {
	rows := []store.Result{}
	err := st.Results().Each(ctx, id, func(r *store.Result) error {
		if !onlyFailed || !r.Success {
			rows = append(rows, *r)
		}
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ExecutionKey < rows[j].ExecutionKey })
	return rows, nil
}

// ExecutionView is one execution node by node.
type ExecutionView struct {
	Batch  *store.Batch
	Result *store.Result
	// Chain is the execution's checkpoints, the case's input first.
	Chain []*store.Checkpoint
}

// ErrNoExecution is wrapped by the error for an execution key a batch does
// not hold.
var ErrNoExecution = errors.New("no such execution")

// Execution loads one execution of a batch with its checkpoints.
func Execution(ctx context.Context, st store.Store, batchID, key string) (*ExecutionView, error) {
	rec, _, err := Batch(ctx, st, batchID)
	if err != nil {
		return nil, err
	}
	res, err := st.Results().Get(ctx, rec.ID, key)
	if err != nil {
		return nil, configErr("%w: batch %s has no stored execution %q", ErrNoExecution, rec.ID, key)
	}
	cps, err := chain(ctx, st, res.FinalCheckpointID)
	if err != nil {
		return nil, runtimeErr("reading the checkpoints of %s: %v", res.ExecutionKey, err)
	}
	return &ExecutionView{Batch: rec, Result: res, Chain: cps}, nil
}

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

// ComboDelta is one combination compared across two batches.
type ComboDelta struct {
	Combination string   `json:"combination"`
	MeanA       *float64 `json:"mean_a,omitempty"`
	MeanB       *float64 `json:"mean_b,omitempty"`
	Delta       float64  `json:"delta"`
	PassA       float64  `json:"pass_rate_a"`
	PassB       float64  `json:"pass_rate_b"`
	Regression  bool     `json:"regression"`
}

// CaseDelta is an execution whose score changed between two batches.
type CaseDelta struct {
	ExecutionKey string  `json:"execution_key"`
	Node         string  `json:"first_differing_node"`
	Detail       string  `json:"detail"`
	Delta        float64 `json:"score_delta"`
}

// Comparison is batch B against batch A.
type Comparison struct {
	A, B         *store.Batch
	Tolerance    float64
	Combinations []ComboDelta
	Regressions  int
	// Cases is set when asked for: executions whose score changed, with the
	// first node whose output differs.
	Cases []CaseDelta
}

// Compare compares batch b against batch a per combination (a mean score
// drop larger than tolerance is a regression) and, with cases, per execution.
func Compare(ctx context.Context, st store.Store, a, b string, tolerance float64, cases bool) (*Comparison, error) {
	recA, specA, err := Batch(ctx, st, a)
	if err != nil {
		return nil, err
	}
	recB, specB, err := Batch(ctx, st, b)
	if err != nil {
		return nil, err
	}
	resA, err := st.Results().List(ctx, recA.ID)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	resB, err := st.Results().List(ctx, recB.ID)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	c := &Comparison{A: recA, B: recB, Tolerance: tolerance}
	c.Combinations, c.Regressions = compareCombos(report.Summarize(specA, resA), report.Summarize(specB, resB), tolerance)
	if cases {
		if c.Cases, err = compareCases(ctx, st, resA, resB); err != nil {
			return nil, runtimeErr("%w", err)
		}
	}
	return c, nil
}

func compareCombos(sa, sb report.Summary, tol float64) ([]ComboDelta, int) {
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
	rows := []ComboDelta{}
	regressions := 0
	for _, n := range spec.SortedKeys(names) {
		row := ComboDelta{Combination: n}
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

// compareCases lists executions whose score changed, with the first node whose
// output (the state after it) differs between the two batches.
func compareCases(ctx context.Context, st store.Store, resA, resB []store.Result) ([]CaseDelta, error) {
	byKey := map[string]store.Result{}
	for _, r := range resA {
		byKey[r.ExecutionKey] = r
	}
	rows := []CaseDelta{}
	for _, rb := range resB {
		ra, ok := byKey[rb.ExecutionKey]
		if !ok || ra.OverallScore == rb.OverallScore && ra.Success == rb.Success {
			continue
		}
		node, detail, err := firstDivergence(ctx, st, ra, rb)
		if err != nil {
			return nil, err
		}
		rows = append(rows, CaseDelta{rb.ExecutionKey, node, detail, rb.OverallScore - ra.OverallScore})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Delta < rows[j].Delta })
	return rows, nil
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
				out[cp.Node] = DecodeState(cp.State)
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
			return cp.Node, strings.Join(StateDiff(before, after), "; "), nil
		}
	}
	if !ra.Success || !rb.Success {
		node := rb.FailedNode + ra.FailedNode
		if node == "" {
			node = "-"
		}
		return node, fmt.Sprintf("A %s, B %s", ra.Status, rb.Status), nil
	}
	return "(none)", "same node outputs; the evaluators scored them differently", nil
}

// DecodeState decodes a state, keeping numbers exact.
func DecodeState(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

// StateDiff lists what changed between two states, one line per key.
func StateDiff(before, after map[string]any) []string {
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
			out = append(out, fmt.Sprintf("+ %s = %s", k, Brief(a)))
		case !hasA:
			out = append(out, fmt.Sprintf("- %s (was %s)", k, Brief(b)))
		case !reflect.DeepEqual(a, b):
			out = append(out, fmt.Sprintf("~ %s: %s → %s", k, Brief(b), Brief(a)))
		}
	}
	return out
}

// Brief is a value's JSON, cut at 70 characters.
func Brief(v any) string {
	raw, _ := json.Marshal(v)
	s := string(raw)
	if len(s) > 70 {
		s = s[:67] + "..."
	}
	return s
}

// Audit lists a batch's audit trail.
func Audit(ctx context.Context, st store.Store, id string, f store.AuditFilter) (*store.Batch, []store.AuditEntry, error) {
	rec, _, err := Batch(ctx, st, id)
	if err != nil {
		return nil, nil, err
	}
	entries, err := st.Audit().List(ctx, rec.ID, f)
	if err != nil {
		return nil, nil, runtimeErr("%w", err)
	}
	return rec, entries, nil
}
