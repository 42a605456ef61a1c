package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// BaselineFormat is the format_version of the baseline files this wtb writes
// and reads; it changes only when a field is removed, renamed or retyped.
const BaselineFormat = 1

// BaselineKind is a baseline file's kind.
const BaselineKind = "baseline"

// Baseline is what a comparison needs of batch A, as a file a repository can
// commit (`wtb export BATCH --baseline FILE`), so CI compares a new batch
// against it without the main branch's database: the batch's evaluators,
// combinations, thresholds and pass score, a digest of each case, and per
// execution its scores, latency and the digests of the states after each of
// its nodes. It holds no states, outputs, logs, errors or sensitive values:
// a comparison against it gives the same figures and verdicts as against the
// stored batch, and where an execution first diverges is found from the
// digests (the node, not what changed in it).
type Baseline struct {
	FormatVersion int    `json:"format_version"`
	Kind          string `json:"kind"`
	// WTBVersion is the wtb that exported it.
	WTBVersion string           `json:"wtb_version"`
	Batch      BaselineBatch    `json:"batch"`
	Spec       BaselineSpec     `json:"spec"`
	Cases      []BaselineCase   `json:"cases"`
	Executions []BaselineResult `json:"executions"`

	// path is the file it was read from ("" when exported in memory).
	path string
}

// BaselineBatch describes the exported batch. Its bench file is named
// relative to the file's directory's git repository when it can be, so no
// home directory ends up in a repository.
type BaselineBatch struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	File       string           `json:"file"`
	Status     string           `json:"status"`
	Runner     string           `json:"runner"`
	Total      int              `json:"total_executions"`
	WTBVersion string           `json:"wtb_version"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at"`
	Verdict    string           `json:"verdict"`
	CasesHash  string           `json:"cases_hash"`
	Git        *dataset.Git     `json:"git"`
	Decisions  []store.Decision `json:"decisions"`
}

// BaselineSpec is the part of the batch's spec a comparison reads. Evaluator
// commands name scripts relative to the bench file's directory, and
// sensitive values are masked.
type BaselineSpec struct {
	Name         string             `json:"name"`
	Nodes        []string           `json:"nodes"`
	Combinations []spec.Combination `json:"combinations"`
	Repeat       int                `json:"repeat"`
	Evaluators   []spec.Evaluator   `json:"evaluators"`
	PassScore    float64            `json:"pass_score"`
	Thresholds   spec.Thresholds    `json:"thresholds"`
}

// BaselineCase is a case by id and digest (dataset.CaseDigest): enough to
// tell whether a later batch ran it alike.
type BaselineCase struct {
	ID     string `json:"id"`
	Digest string `json:"digest"`
}

// BaselineResult is one execution's outcome.
type BaselineResult struct {
	Key         string             `json:"key"`
	Combination string             `json:"combination"`
	Case        string             `json:"case"`
	Repeat      int                `json:"repeat"`
	Status      string             `json:"status"`
	Passed      bool               `json:"passed"`
	Score       float64            `json:"score"`
	Scores      map[string]float64 `json:"scores"`
	DurationMs  float64            `json:"duration_ms"`
	FailedNode  string             `json:"failed_node"`
	Nodes       []NodeDigest       `json:"nodes"`
}

// NodeDigest is the digest of the state after one node of an execution.
type NodeDigest struct {
	Node  string `json:"node"`
	State string `json:"state"`
}

// StateDigest identifies a state by value: its JSON with keys sorted and
// numbers as written, hashed. Two states have the same digest exactly when
// compare finds them equal.
func StateDigest(state json.RawMessage) string {
	canonical, err := json.Marshal(DecodeState(state))
	if err != nil {
		canonical = state
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:8])
}

// ExportBaseline describes stored batch id as a baseline. A batch that is
// still running is refused: its figures would move under the file.
func ExportBaseline(ctx context.Context, st store.Store, id, version string) (*Baseline, error) {
	rec, b, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	if rec.Status == store.StatusRunning && rec.LeaseLive {
		return nil, configErr("batch %s is still running: export it once it has ended (`wtb cancel %s --wait` stops it)", rec.ID, rec.ID)
	}
	out := &Baseline{FormatVersion: BaselineFormat, Kind: BaselineKind, WTBVersion: version,
		Batch: BaselineBatch{ID: rec.ID, Name: rec.Name, File: portableFile(ctx, rec.File, b.Dir), Status: DisplayStatus(rec),
			Runner: rec.Runner, Total: rec.Total, WTBVersion: rec.Version, StartedAt: rec.StartedAt.UTC(),
			CasesHash: rec.CasesHash, Decisions: rec.Decisions},
		Spec: BaselineSpec{Name: b.Name, Combinations: []spec.Combination{}, Repeat: b.Repeat, PassScore: b.PassScore,
			Thresholds: b.Thresholds, Nodes: []string{}},
		Cases: []BaselineCase{}, Executions: []BaselineResult{}}
	if rec.FinishedAt != nil {
		t := rec.FinishedAt.UTC()
		out.Batch.FinishedAt = &t
	}
	if out.Batch.Decisions == nil {
		out.Batch.Decisions = []store.Decision{}
	}
	if sum, ok := storedSummary(rec); ok {
		out.Batch.Verdict = sum.Verdict
	}
	if rec.GitCommit != "" {
		out.Batch.Git = &dataset.Git{Commit: rec.GitCommit, Branch: rec.GitBranch, Dirty: rec.GitDirty}
	}
	for _, n := range b.Workflow.Nodes {
		out.Spec.Nodes = append(out.Spec.Nodes, n.Name)
	}
	for _, c := range b.Combinations {
		if c.Variants == nil {
			c.Variants = map[string]string{}
		}
		out.Spec.Combinations = append(out.Spec.Combinations, c)
	}
	out.Spec.Evaluators = portableEvaluators(redactedEvaluators(b), b.Dir)
	for _, c := range b.Cases {
		out.Cases = append(out.Cases, BaselineCase{ID: c.ID, Digest: dataset.CaseDigest(c)})
	}
	sort.Slice(out.Cases, func(i, j int) bool { return out.Cases[i].ID < out.Cases[j].ID })
	// States are shared by prefix sharing and read once each.
	digests := map[string]chainLink{}
	err = st.Results().EachScored(ctx, rec.ID, func(r *store.Result) error {
		nodes, err := nodeDigests(ctx, st, r.FinalCheckpointID, digests)
		if err != nil {
			return fmt.Errorf("reading the checkpoints of %s: %w", r.ExecutionKey, err)
		}
		scores := r.Scores
		if scores == nil {
			scores = map[string]float64{}
		}
		out.Executions = append(out.Executions, BaselineResult{Key: r.ExecutionKey, Combination: r.Combination, Case: r.CaseID,
			Repeat: r.Repeat, Status: r.Status, Passed: r.Passed, Score: r.OverallScore, Scores: scores,
			DurationMs: r.DurationMs, FailedNode: r.FailedNode, Nodes: nodes})
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	return out, nil
}

// chainLink is a checkpoint as a baseline needs it.
type chainLink struct {
	parent, node, digest string
}

// nodeDigests lists the digests of the states after each node of the
// execution whose last checkpoint is id, first node first.
func nodeDigests(ctx context.Context, st store.Store, id string, seen map[string]chainLink) ([]NodeDigest, error) {
	var rev []NodeDigest
	for n := 0; id != "" && n < 10000; n++ {
		l, ok := seen[id]
		if !ok {
			cp, err := st.Checkpoints().Get(ctx, id)
			if err != nil {
				return nil, err
			}
			l = chainLink{parent: cp.ParentID, node: cp.Node}
			if cp.Node != "" {
				l.digest = StateDigest(cp.State)
			}
			seen[id] = l
		}
		if l.node != "" {
			rev = append(rev, NodeDigest{Node: l.node, State: l.digest})
		}
		id = l.parent
	}
	out := make([]NodeDigest, 0, len(rev))
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out, nil
}

// portableEvaluators writes the paths under dir in evaluator commands
// relative to it.
func portableEvaluators(evs []spec.Evaluator, dir string) []spec.Evaluator {
	out := make([]spec.Evaluator, len(evs))
	for i, ev := range evs {
		if ev.Command != nil {
			cmd := make([]string, len(ev.Command))
			for j, arg := range ev.Command {
				cmd[j] = spec.RelativeTo(dir, arg)
			}
			ev.Command = cmd
		}
		out[i] = ev
	}
	return out
}

// portableFile names a bench file relative to the root of the git
// repository it is in, or by its base name outside one.
func portableFile(ctx context.Context, file, dir string) string {
	if file == "" {
		return ""
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return filepath.Base(file)
	}
	if root := dataset.RepositoryRoot(ctx, dir); root != "" {
		if rel := spec.RelativeTo(root, abs); rel != abs {
			return strings.TrimPrefix(rel, "./")
		}
	}
	return filepath.Base(file)
}

// ParseBaseline reads a baseline file's contents (path names it in
// messages). A file of another kind, or written by a newer wtb, is refused.
func ParseBaseline(data []byte, path string) (*Baseline, error) {
	var head struct {
		FormatVersion int    `json:"format_version"`
		Kind          string `json:"kind"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, configErr("%s is not a baseline file: %v", path, err)
	}
	switch {
	case head.Kind != BaselineKind:
		return nil, configErr("%s is not a baseline file (its kind is %q; `wtb export BATCH --baseline FILE` writes one)", path, head.Kind)
	case head.FormatVersion > BaselineFormat:
		return nil, configErr("%s was written by a newer wtb (baseline format %d; this wtb reads %d): upgrade wtb", path, head.FormatVersion, BaselineFormat)
	case head.FormatVersion < 1:
		return nil, configErr("%s: format_version %d is not a baseline format", path, head.FormatVersion)
	}
	// Fields this wtb does not know are read past: a newer wtb adds fields
	// without changing the format (a baseline exported by a developer's
	// newer wtb still reads in a CI that pins an older one).
	var b Baseline
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, configErr("%s is not a readable baseline file: %v", path, err)
	}
	if b.Batch.ID == "" {
		return nil, configErr("%s is not a baseline file: it names no batch", path)
	}
	b.path = path
	return &b, nil
}

// Path is the file the baseline was read from.
func (b *Baseline) Path() string { return b.path }

// side is the baseline as batch A of a comparison.
func (b *Baseline) side() *side {
	sp := &spec.Batch{Name: b.Spec.Name, Combinations: b.Spec.Combinations, Repeat: b.Spec.Repeat,
		Evaluators: b.Spec.Evaluators, PassScore: b.Spec.PassScore, Thresholds: b.Spec.Thresholds}
	for _, n := range b.Spec.Nodes {
		sp.Workflow.Nodes = append(sp.Workflow.Nodes, spec.Node{Name: n})
	}
	cases := map[string]string{}
	for _, c := range b.Cases {
		cases[c.ID] = c.Digest
		sp.Cases = append(sp.Cases, spec.Case{ID: c.ID})
	}
	specJSON, _ := json.Marshal(sp)
	succeeded := 0
	for _, x := range b.Executions {
		if x.Status == store.ResultSucceeded {
			succeeded++
		}
	}
	summary, _ := json.Marshal(map[string]any{"verdict": b.Batch.Verdict, "stored": len(b.Executions), "succeeded": succeeded,
		"failed": len(b.Executions) - succeeded})
	rec := &store.Batch{ID: b.Batch.ID, Name: b.Batch.Name, File: b.Batch.File, Status: b.Batch.Status, Spec: specJSON,
		Runner: b.Batch.Runner, Total: b.Batch.Total, Version: b.Batch.WTBVersion, StartedAt: b.Batch.StartedAt,
		FinishedAt: b.Batch.FinishedAt, Summary: summary, Decisions: b.Batch.Decisions, CasesHash: b.Batch.CasesHash}
	if g := b.Batch.Git; g != nil {
		rec.GitCommit, rec.GitBranch, rec.GitDirty = g.Commit, g.Branch, g.Dirty
	}
	return &side{rec: rec, spec: sp, cases: cases, baseline: b.path,
		each: func(ctx context.Context, fn func(*store.Result, []NodeDigest) error) error {
			for i := range b.Executions {
				x := &b.Executions[i]
				r := store.Result{BatchID: rec.ID, ExecutionKey: x.Key, Combination: x.Combination, CaseID: x.Case,
					Repeat: x.Repeat, Status: x.Status, Success: x.Status == store.ResultSucceeded, Passed: x.Passed,
					OverallScore: x.Score, Scores: x.Scores, DurationMs: x.DurationMs, FailedNode: x.FailedNode}
				nodes := x.Nodes
				if nodes == nil {
					nodes = []NodeDigest{}
				}
				if err := fn(&r, nodes); err != nil {
					return err
				}
			}
			return nil
		}}
}
