package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

func (a *app) forkCommand() *cobra.Command {
	f := &runFlags{}
	var from string
	cmd := &cobra.Command{
		Use:   "fork BATCH_ID --from NODE [FILE]",
		Short: "Re-run only the nodes after NODE, starting from a prior batch's checkpoints",
		Long: `Fork a new batch from the stored checkpoints of BATCH_ID: the nodes up to and
including NODE are not run again; every execution starts from the parent's
checkpoint after NODE and runs only the nodes after it. With FILE the new
batch uses that file's workflow and variants (say, a new prompt variant for
the last node); without it, the parent's own spec runs again (new samples of
nondeterministic nodes).

The nodes up to NODE must be configured as they were when the parent ran
(command, params, env, scripts, environment); otherwise the fork is refused,
naming the node that changed. The new batch records its parent, and
` + "`wtb compare PARENT CHILD`" + ` compares them.`,
		Example: `  wtb fork 20261125-101010-1a2b3c4d --from retrieve bench.hcl
  wtb compare 20261125-101010-1a2b3c4d latest --cases`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return exitf(ExitConfig, "wtb fork needs --from NODE: the last node whose checkpoints are reused")
			}
			file := ""
			if len(args) == 2 {
				file = args[1]
			}
			return a.fork(cmd.Context(), args[0], from, file, f)
		},
	}
	addRunFlags(cmd, f)
	cmd.Flags().StringVar(&from, "from", "", "reuse the checkpoints up to and including this node")
	return cmd
}

func (a *app) fork(ctx context.Context, parentID, node, file string, f *runFlags) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	// With FILE, the database is the one that file names (unless --db or
	// WTB_DATABASE_URL say otherwise), as for `wtb run FILE`.
	var cfg *config.Config
	var bd *config.BatchDecl
	dbFromFile := ""
	if file != "" {
		var err error
		if cfg, err = a.loadConfig(file, f.vars); err != nil {
			return err
		}
		if bd, err = cfg.Batch(f.batch); err != nil {
			return exitf(ExitConfig, "%v", err)
		}
		dbFromFile = cfg.Database
	}
	st, err := a.openStore(ctx, dbFromFile)
	if err != nil {
		return err
	}
	defer st.Close()
	parentRec, parentSpec, err := a.batchOrLatest(ctx, st, parentID)
	if err != nil {
		return err
	}
	bus := events.New(10000)
	var b *spec.Batch
	var ps *plugins
	if file != "" {
		p, d, err := a.startPluginsFromConfig(ctx, cfg, bd, bus, true)
		a.printDiagnostics(cfg.Files(), d)
		if err != nil {
			return exitf(ExitRuntime, "%v", err)
		}
		if d.HasErrors() {
			return exitf(ExitConfig, "%s has %s", file, plural(countErrors(d), "error", "errors"))
		}
		b, ps = bd.Spec, p
	} else {
		copySpec := *parentSpec
		b = &copySpec
		if ps, err = a.startPluginsFromSpec(ctx, b, bus); err != nil {
			return exitf(ExitRuntime, "%v", err)
		}
	}
	defer ps.close()
	if !ps.runner.HasCapability(sdk.CapabilityStartState) {
		return exitf(ExitConfig, "runner plugin %s cannot start from a checkpoint, so it cannot run a fork", b.Runner.Plugin)
	}

	id := newBatchID()
	if parentSpec.FileHashes == nil {
		fmt.Fprintf(a.stderr, "warning: batch %s was stored by an older wtb that did not record its scripts' contents; the scripts of the reused nodes are compared as they are now\n", parentRec.ID)
	}
	plan.RecordFiles(b)
	parentPlan := plan.Build(parentSpec, plan.Options{BatchID: parentRec.ID})
	next := plan.Build(b, plan.Options{BatchID: id})
	match, err := plan.MatchFork(parentPlan, next, node)
	if err != nil {
		return exitf(ExitConfig, "cannot fork batch %s at node %q: %v", parentRec.ID, node, err)
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
			return exitf(ExitConfig, "cannot fork batch %s: checkpoint of node %q is not stored (did that batch finish?): %v", parentRec.ID, step.Node.Name, err)
		}
		parent := next.RootIDs[step.Executions[0].Case.ID]
		if step.Parent != nil {
			parent = step.Parent.ID
		}
		copies = append(copies, store.Checkpoint{ID: step.ID, BatchID: id, ParentID: parent, Node: cp.Node, Position: cp.Position,
			Variant: cp.Variant, ConfigHash: cp.ConfigHash, Source: store.SourceForked, SegmentKey: "fork:" + cp.ID,
			State: cp.State, Output: cp.Output, Metrics: cp.Metrics, DurationMs: cp.DurationMs, WorkerID: cp.WorkerID, CreatedAt: now})
	}
	name := file
	if name == "" {
		name = parentRec.File
	}
	evaluator, err := compileEvaluators(b)
	if err != nil {
		return err
	}
	rec := newBatchRecord(id, b, name)
	rec.ParentID, rec.ForkNode = parentRec.ID, node
	ctx, l, err := a.create(ctx, st, rec)
	if err != nil {
		return err
	}
	defer l.release()
	if err := st.Write(ctx, store.WriteSet{Checkpoints: copies}); err != nil {
		a.abandon(st, id, err)
		return exitf(ExitRuntime, "copying checkpoints: %v", err)
	}
	fmt.Fprintf(a.stderr, "fork of batch %s at node %s: %d checkpoints reused, only the nodes after %s run\n", parentRec.ID, node, len(copies), node)
	return a.execute(ctx, batchRun{st: st, ps: ps, bus: bus, rec: rec, spec: b, evaluator: evaluator, lease: l}, f)
}
