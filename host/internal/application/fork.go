package application

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// ForkOptions say what to fork.
type ForkOptions struct {
	// Parent is the batch id ("" or "latest": the latest batch).
	Parent string
	// Node is the last node whose checkpoints are reused.
	Node string
	// Prepared, when set, is the new batch (a file with, say, a new variant of
	// the last node); otherwise the parent's own spec runs again.
	Prepared *Prepared
	// File names the new batch's bench file.
	File string
	// OnlyNew runs only the combinations the parent did not run as they are
	// configured now (a variant added after the fork node): the others'
	// results are the parent's already.
	OnlyNew bool
	// OnNew hears the parent's id and which combinations are new, of how
	// many, before anything runs (when some are and some are not, without
	// OnlyNew, a caller can offer to run only those).
	OnNew func(parent string, news []string, total int)
}

// Fork runs a new batch that starts from a prior batch's checkpoints after
// Node, running only the nodes after it. The nodes up to Node must be
// configured as the parent ran them, scripts included (compared with the
// hashes stored with the parent); otherwise the fork is refused, naming the
// node and file.
func (a *App) Fork(ctx context.Context, st store.Store, o ForkOptions, opts RunOptions) (*Outcome, error) {
	parentRec, parentSpec, err := Batch(ctx, st, o.Parent)
	if err != nil {
		return nil, err
	}
	if parentRec.Lineage == store.LineageRescore {
		return nil, configErr("batch %s was rescored from %s and holds no checkpoints of its own: fork %s instead", parentRec.ID, parentRec.ParentID, parentRec.ParentID)
	}
	p := o.Prepared
	if p == nil {
		b := *parentSpec
		evaluator, err := eval.Compile(&b)
		if err != nil {
			return nil, configErr("%v", err)
		}
		bus := events.New(eventHistory)
		ps, err := a.startFromSpec(ctx, &b, bus)
		if err != nil {
			return nil, err
		}
		defer ps.Close()
		p = &Prepared{Spec: &b, Plugins: ps, Bus: bus, Evaluator: evaluator}
	}
	b := p.Spec
	if !p.Plugins.Runner.HasCapability(sdk.CapabilityStartState) {
		return nil, configErr("runner plugin %s cannot start from a checkpoint, so it cannot run a fork", b.Runner.Plugin)
	}
	if parentSpec.FileHashes == nil {
		a.notice("warning: batch %s was stored by an older wtb that did not record its scripts' contents; the scripts of the reused nodes are compared as they are now", parentRec.ID)
	}
	id := newBatchID()
	plan.RecordFiles(b)
	next := plan.Build(b, plan.Options{BatchID: id})
	parentPlan := plan.Build(parentSpec, plan.Options{BatchID: parentRec.ID})
	match, err := plan.MatchFork(parentPlan, next, o.Node)
	if err != nil {
		return nil, configErr("cannot fork batch %s at node %q: %v", parentRec.ID, o.Node, err)
	}
	news := plan.NewCombinations(parentPlan, next)
	if o.OnNew != nil {
		o.OnNew(parentRec.ID, news, len(b.Combinations))
	}
	if o.OnlyNew {
		if len(news) == 0 {
			return nil, configErr("nothing is new: batch %s ran every combination as it is configured now; drop --only-new to run them all again", parentRec.ID)
		}
		// The new batch is those combinations alone: its spec, total and
		// leaderboard say what it ran; compare shows the others as the
		// parent's.
		only := *b
		only.Combinations = nil
		for _, c := range b.Combinations {
			if slices.Contains(news, c.Name) {
				only.Combinations = append(only.Combinations, c)
			}
		}
		b = &only
		next = plan.Build(b, plan.Options{BatchID: id})
		if match, err = plan.MatchFork(parentPlan, next, o.Node); err != nil {
			return nil, configErr("cannot fork batch %s at node %q: %v", parentRec.ID, o.Node, err)
		}
	}
	// Every node of a combination runs in its environment: if a file or
	// directory the environment names changed, the reused nodes ran with
	// something the fork would not.
	for _, path := range spec.SortedKeys(parentSpec.EnvFiles) {
		if now, ok := b.EnvFiles[path]; ok && now != parentSpec.EnvFiles[path] && len(match.Parent) > 0 {
			return nil, configErr("cannot fork batch %s: %s, which its environment names, changed since it ran, so the nodes the fork would reuse ran with other contents; restore it, or run the file again as a new batch with `wtb run`",
				parentRec.ID, path)
		}
	}
	// Copy the parent's checkpoints up to the fork node into the new batch:
	// the scheduler then treats those node runs as done, as for a resume.
	var copies []store.Checkpoint
	now := time.Now()
	for _, step := range next.Steps {
		pid, ok := match.Parent[step.ID]
		if !ok {
			continue
		}
		cp, err := st.Checkpoints().Get(ctx, pid)
		if err != nil {
			return nil, configErr("cannot fork batch %s: checkpoint of node %q is not stored (did that batch finish?): %v", parentRec.ID, step.Node.Name, err)
		}
		parent := next.RootIDs[step.Executions[0].Case.ID]
		if step.Parent != nil {
			parent = step.Parent.ID
		}
		copies = append(copies, store.Checkpoint{ID: step.ID, BatchID: id, ParentID: parent, Node: cp.Node, Position: cp.Position,
			Variant: cp.Variant, ConfigHash: cp.ConfigHash, Source: store.SourceForked, SegmentKey: "fork:" + cp.ID,
			State: cp.State, Output: cp.Output, Metrics: cp.Metrics, DurationMs: cp.DurationMs, WorkerID: cp.WorkerID, CreatedAt: now,
			Logs: cp.Logs}) // the node's stderr and runner lines, as the parent stored them
	}
	file := o.File
	if file == "" {
		file = parentRec.File
	}
	rec := a.newBatchRecord(ctx, id, b, file)
	rec.ParentID, rec.ForkNode, rec.Lineage = parentRec.ID, o.Node, store.LineageFork
	ctx, l, err := a.create(ctx, st, rec)
	if err != nil {
		return nil, err
	}
	defer l.release()
	if err := st.Write(ctx, store.WriteSet{Checkpoints: copies}); err != nil {
		a.abandon(st, id, err)
		return nil, runtimeErr("copying checkpoints: %w", err)
	}
	what := ""
	if o.OnlyNew {
		what = fmt.Sprintf(" for the %d new of %d combinations", len(b.Combinations), len(p.Spec.Combinations))
	}
	a.notice("fork of batch %s at node %s%s: %d checkpoints reused, only the nodes after %s run", parentRec.ID, o.Node, what, len(copies), o.Node)
	return a.execute(ctx, job{st: st, plugins: p.Plugins, bus: p.Bus, rec: rec, spec: b, evaluator: p.Evaluator, lease: l}, opts)
}
