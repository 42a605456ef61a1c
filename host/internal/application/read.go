package application

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/judge"
	"github.com/wtbench/wtb/host/internal/leaderboard"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/statediff"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/suggest"
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
			return nil, nil, configErr("%w: %s is not in %s.%s", ErrNoBatch, id, st.Describe(), closestBatch(ctx, st, id))
		}
	}
	if err != nil {
		return nil, nil, runtimeErr("%w", err)
	}
	var b spec.Batch
	if err := json.Unmarshal(rec.Spec, &b); err != nil {
		return nil, nil, runtimeErr("batch %s: its stored spec is unreadable: %v", rec.ID, err)
	}
	if rec.CasesHash == "" {
		// Stored before the hash was recorded: the stored spec has the cases
		// it ran, so the hash is what it would have recorded.
		rec.CasesHash = dataset.HashOf(b.Cases)
	}
	return rec, &b, nil
}

// Redactor masks the sensitive values of a stored batch's spec.
func Redactor(rec *store.Batch) *spec.Redactor {
	var b spec.Batch
	if json.Unmarshal(rec.Spec, &b) != nil {
		return nil
	}
	return b.Redactor()
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
	Summary leaderboard.Summary
	// Failures are the first failed executions by key (at most MaxFailures).
	Failures []store.Result
}

// Leaderboard ranks a stored batch's combinations. A batch that ended has its
// summary stored with it, computed from the same results when it ended; one
// that is running (or stopped before writing it) is summarized now, reading
// its results one at a time.
func Leaderboard(ctx context.Context, st store.Store, id string) (*Board, error) {
	rec, b, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	if sum, ok := storedSummary(rec); ok {
		sum.MarkJudged(b.Thresholds.AppliesTo) // a summary stored before the field
		failures, _, err := st.Results().Query(ctx, rec.ID, store.ResultQuery{Status: store.ResultFailed, Limit: MaxFailures, NoTotal: true})
		if err != nil {
			return nil, runtimeErr("%w", err)
		}
		return &Board{Batch: rec, Spec: b, Summary: sum, Failures: failures}, nil
	}
	sum, failures, err := summarize(ctx, st, rec.ID, b, rec.Decisions)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	return &Board{Batch: rec, Spec: b, Summary: sum, Failures: failures}, nil
}

// storedSummary is the summary a finished batch stored, if it has one this
// wtb can show whole (summaries from before score histograms are computed
// again).
func storedSummary(rec *store.Batch) (leaderboard.Summary, bool) {
	var sum leaderboard.Summary
	if rec.Status == store.StatusRunning || len(rec.Summary) == 0 || json.Unmarshal(rec.Summary, &sum) != nil {
		return sum, false
	}
	for _, c := range sum.Combos {
		if len(c.Scores.Counts) == 0 || (c.Executions > 0 && c.PassCI95[1] == 0) {
			return sum, false // stored by a wtb without histograms or Wilson intervals
		}
	}
	return sum, sum.Stored > 0 || sum.Total == 0
}

// Executions lists the results of a batch that q selects, one page of them
// in execution key order, and how many q selects in all.
func Executions(ctx context.Context, st store.Store, id string, q store.ResultQuery) ([]store.Result, int, error) {
	rows, total, err := st.Results().Query(ctx, id, q)
	if err != nil {
		return nil, 0, runtimeErr("%w", err)
	}
	if rows == nil {
		rows = []store.Result{}
	}
	return rows, total, nil
}

// ExecutionView is one execution node by node.
type ExecutionView struct {
	Batch  *store.Batch
	Spec   *spec.Batch
	Result *store.Result
	// Chain is the execution's checkpoints, the case's input first.
	Chain []*store.Checkpoint
	// ModelCalls are the calls its node runs made through the gateway: of
	// the runs in Chain that ran in this batch (RunID = checkpoint id), and
	// of the failed attempts of its nodes (RunID = step id#aN).
	ModelCalls []store.ModelCall
	// JudgeCalls are the calls of its llm_judge evaluators, by evaluator.
	JudgeCalls map[string][]store.ModelCall
	// Spans are the spans of the same node runs (RunID as for ModelCalls).
	Spans []store.NodeSpans
	// Case is the case as the batch ran it (zero if its spec lacks it).
	Case spec.Case
	// Reasons say why each evaluator scored the execution as it did,
	// passes included (eval.Explain).
	Reasons map[string]string
	// Output is what the execution came out with, as the grid shows it: the
	// value at OutputPath in the final state (Found false when there is
	// none), or with a nil path the output of OutputNode, the node that
	// produced the final state. OutputFrom names the evaluator whose path
	// it is.
	Output     json.RawMessage
	Found      bool
	OutputPath store.Path
	OutputFrom string
	OutputNode string
}

// ErrNoExecution is wrapped by the error for an execution key a batch does
// not hold.
var ErrNoExecution = errors.New("no such execution")

// Execution loads one execution of a batch with its checkpoints. key is its
// execution key (combination/case/repeat) or the node-run key of its last node
// (case/repeat/variants, what the node saw as $WTB_EXECUTION_KEY); a node-run
// key several executions share fails with a *KeyError listing them.
func Execution(ctx context.Context, st store.Store, batchID, key string) (*ExecutionView, error) {
	rec, b, err := Batch(ctx, st, batchID)
	if err != nil {
		return nil, err
	}
	res, err := result(ctx, st, rec, b, key)
	if err != nil {
		var ke *KeyError
		if errors.As(err, &ke) && len(ke.Executions) == 0 {
			// A wrapped error's text is made when it is wrapped: wrap again.
			ke.Suggestion = closestKey(ctx, st, rec.ID, key)
			return nil, configErr("%w", ke)
		}
		return nil, err
	}
	cps, err := chain(ctx, st, res.FinalCheckpointID)
	if err != nil {
		return nil, runtimeErr("reading the checkpoints of %s: %v", res.ExecutionKey, err)
	}
	v := &ExecutionView{Batch: rec, Spec: b, Result: res, Chain: cps, Reasons: res.Notes}
	for _, c := range b.Cases {
		if c.ID == res.CaseID {
			v.Case = c
		}
	}
	v.OutputPath, v.OutputFrom, _ = outputPath(b, "")
	var final *store.Checkpoint
	if len(cps) > 0 && cps[len(cps)-1].Source != store.SourceRoot {
		final = cps[len(cps)-1]
	}
	switch {
	case final == nil:
	case v.OutputPath == nil:
		v.Output, v.Found, v.OutputNode = final.Output, true, final.Node
	default:
		v.Output, v.Found = v.OutputPath.Find(final.State)
	}
	if ev, err := eval.Compile(b); err == nil {
		in := eval.Input{Success: res.Success, Case: v.Case, DurationMs: res.DurationMs, Metrics: res.Metrics, Nodes: map[string]eval.NodeRun{}}
		if final != nil {
			in.State = final.State
		}
		for _, cp := range cps {
			if cp.Source != store.SourceRoot {
				in.Nodes[cp.Node] = eval.NodeRun{Output: cp.Output, DurationMs: cp.DurationMs}
			}
		}
		v.Reasons = ev.Explain(ctx, in, res.Scores, res.Notes)
	}
	ids := runIDs(rec, b, res)
	if b.Gateway != nil {
		if v.ModelCalls, err = st.ModelCalls().ListByRuns(ctx, rec.ID, ids); err != nil {
			return nil, runtimeErr("reading the model calls of %s: %v", res.ExecutionKey, err)
		}
		if v.JudgeCalls, err = judgeCalls(ctx, st, rec.ID, b, res.ExecutionKey); err != nil {
			return nil, runtimeErr("reading the judges' calls of %s: %v", res.ExecutionKey, err)
		}
	}
	if v.Spans, err = st.Spans().ListByRuns(ctx, rec.ID, ids); err != nil {
		return nil, runtimeErr("reading the spans of %s: %v", res.ExecutionKey, err)
	}
	return v, nil
}

// judgeCalls are the calls of an execution's llm_judge evaluators by
// evaluator: each is one run of the node "judge:NAME" under a run id of its
// own (judge.RunID), kept in the batch that graded it (a rescore's in the
// rescore).
func judgeCalls(ctx context.Context, st store.Store, batchID string, b *spec.Batch, key string) (map[string][]store.ModelCall, error) {
	byRun := map[string]string{}
	var ids []string
	for _, ev := range b.Evaluators {
		if ev.Type == "llm_judge" {
			id := judge.RunID(ev.Name, key)
			byRun[id] = ev.Name
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	calls, err := st.ModelCalls().ListByRuns(ctx, batchID, ids)
	if err != nil {
		return nil, err
	}
	out := map[string][]store.ModelCall{}
	for _, c := range calls {
		out[byRun[c.RunID]] = append(out[byRun[c.RunID]], c)
	}
	return out, nil
}

// runIDs are the ids the model calls of an execution's node runs are kept
// under: its steps' (the checkpoints they made) and their failed attempts'.
func runIDs(rec *store.Batch, b *spec.Batch, res *store.Result) []string {
	ci := -1
	for i := range b.Cases {
		if b.Cases[i].ID == res.CaseID {
			ci = i
		}
	}
	if ci < 0 {
		return nil
	}
	p := plan.NewPlanner(b, plan.Options{BatchID: rec.ID, FileHasher: plan.StoredHashes(b.FileHashes)})
	g := p.Group(res.Repeat*len(b.Cases) + ci)
	var ids []string
	for _, ex := range g.Executions {
		if ex.Key != res.ExecutionKey {
			continue
		}
		for _, st := range ex.Steps {
			ids = append(ids, st.ID)
			for a := 1; a <= b.MaxRetries+1; a++ {
				ids = append(ids, fmt.Sprintf("%s#a%d", st.ID, a))
			}
		}
	}
	return ids
}

// maxKeysSuggested bounds the execution keys read to suggest one: past it,
// the suggestion would cost more than the mistake.
const maxKeysSuggested = 200000

// closestKey is " Did you mean …?" for the stored execution key closest to
// key (a typo in the case id, a repeat left off), or "".
func closestKey(ctx context.Context, st store.Store, batchID, key string) string {
	if n, err := st.Results().Count(ctx, batchID); err != nil || n > maxKeysSuggested {
		return ""
	}
	var keys []string
	if st.Results().EachKey(ctx, batchID, func(k string) { keys = append(keys, k) }) != nil {
		return ""
	}
	return suggest.DidYouMean(key, keys)
}

// closestBatch is " Did you mean …?" for a recent batch id close to id.
func closestBatch(ctx context.Context, st store.Store, id string) string {
	recent, err := st.Batches().List(ctx, 100)
	if err != nil {
		return ""
	}
	ids := make([]string, len(recent))
	for i, b := range recent {
		ids[i] = b.ID
	}
	return suggest.DidYouMean(id, ids)
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

// DecodeState decodes a state, keeping numbers exact.
func DecodeState(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

// StateDiff lists what changed between two states, one line per change, down
// to the leaves (at most 20 lines).
func StateDiff(before, after any) []string {
	changes, more := statediff.Diff(before, after, 20)
	out := make([]string, 0, len(changes)+1)
	for _, c := range changes {
		out = append(out, c.Line(70))
	}
	if more {
		out = append(out, "… more changes")
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
