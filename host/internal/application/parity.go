package application

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/audit"
	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// Parity runs a batch once on each of two runner blocks (everything else
// identical) and compares them execution by execution. Both runs run every
// node of every execution (see paritySpec). A run that does not complete
// stops it: res.Stopped is that run, and nothing is compared or recorded.
func (a *App) Parity(ctx context.Context, st store.Store, cfg *config.Config, batch string, runners [2]string, po ParityOptions, opts RunOptions) (*ParityResult, error) {
	if err := po.check(); err != nil {
		return nil, err
	}
	// Both names first, and the ignored evaluators: a typo must not cost a
	// run on the first runner.
	for _, name := range runners {
		if _, ok := cfg.Runners[name]; !ok {
			return nil, unknownRunner(cfg, name)
		}
	}
	bd, err := cfg.Batch(batch)
	if err != nil {
		return nil, configErr("%v", err)
	}
	if err := po.checkIgnored("batch_test "+bd.Spec.Name+" has no evaluator", "it has", bd.Spec.Evaluators); err != nil {
		return nil, err
	}
	res := &ParityResult{Runners: runners, Options: po}
	var specs [2]*spec.Batch
	for i, name := range runners {
		p, diags, err := a.Prepare(ctx, cfg, PrepareOptions{Batch: batch, Runner: name})
		if err != nil {
			return nil, withDiagnostics(err, diags)
		}
		var off []string
		p.Spec, off = paritySpec(p.Spec)
		if len(off) > 0 && i == 0 {
			a.notice("parity: %s off for both runs, so each runner runs every node of every execution", strings.Join(off, ", "))
		}
		a.notice("parity: running %s on runner %s (%s)", p.Spec.Name, name, p.Spec.Runner.Plugin)
		rec := a.newBatchRecord(ctx, newBatchID(), p.Spec, cfg.Path)
		rec.Name = p.Spec.Name + " (parity: " + name + ")"
		runCtx, l, err := a.create(ctx, st, rec)
		if err != nil {
			p.Close()
			return nil, err
		}
		out, err := a.execute(runCtx, job{st: st, plugins: p.Plugins, bus: p.Bus, rec: rec, spec: p.Spec, evaluator: p.Evaluator, lease: l}, opts)
		l.release()
		p.Close()
		if err != nil {
			return nil, err
		}
		res.Outcomes[i], res.Batches[i], specs[i] = out, out.Batch, p.Spec
		if out.Err != nil || out.Status != store.StatusCompleted {
			// Interrupted, or the host failed: a part of a batch compared
			// with a whole one says nothing, so nothing is compared.
			res.Stopped = out
			return res, nil
		}
	}
	if err := a.compareParity(ctx, st, res, specs); err != nil {
		return nil, err
	}
	a.recordParity(ctx, st, res)
	return res, nil
}

// paritySpec is b as parity runs it on each runner, and what it turned off
// for that: the node cache (the second run would be served what the first
// computed, comparing a runner with itself), fail_fast, adaptive repeats and
// racing (each would stop a run at a point that depends on its timing or its
// scores, so the two runs would not run the same executions). It is the spec
// stored with the batch, so a resume runs the same way.
func paritySpec(b *spec.Batch) (*spec.Batch, []string) {
	c := *b
	var off []string
	cached := c.Cache
	c.Cache = false
	no := false
	c.Workflow.Nodes = slices.Clone(b.Workflow.Nodes)
	for i := range c.Workflow.Nodes {
		n := &c.Workflow.Nodes[i]
		if n.Cache != nil && *n.Cache {
			cached = true
		}
		n.Cache = &no
	}
	if cached {
		off = append(off, "the node cache")
	}
	if c.FailFast {
		c.FailFast = false
		off = append(off, "fail_fast")
	}
	if c.Adaptive != nil {
		c.Adaptive = nil // Repeat is its max
		off = append(off, fmt.Sprintf("adaptive repeats (each case runs %d times)", c.Repeat))
	}
	if c.Racing != nil {
		c.Racing = nil
		off = append(off, "racing")
	}
	return &c, off
}

// ParityBatches compares two stored batches as Parity compares its two runs:
// the same bench file run on two runners at different times or places (a
// nightly batch on the cluster, one on a laptop). Both must have ended; what
// differs between them besides the runner is in Notes.
func (a *App) ParityBatches(ctx context.Context, st store.Store, ids [2]string, po ParityOptions) (*ParityResult, error) {
	if err := po.check(); err != nil {
		return nil, err
	}
	res := &ParityResult{Options: po}
	var specs [2]*spec.Batch
	for i, id := range ids {
		rec, b, err := Batch(ctx, st, id)
		if err != nil {
			return nil, err
		}
		if rec.Status == store.StatusRunning && !Interrupted(rec) {
			return nil, configErr("batch %s is still running (%s): parity compares batches that have ended", rec.ID, orNobody(rec.Owner))
		}
		res.Batches[i], specs[i], res.Runners[i] = rec, b, b.Runner.Block
	}
	if res.Batches[0].ID == res.Batches[1].ID {
		return nil, configErr("parity compares two batches; both are %s", res.Batches[0].ID)
	}
	if err := po.checkIgnored(fmt.Sprintf("neither batch %s nor batch %s has an evaluator", res.Batches[0].ID, res.Batches[1].ID), "they have",
		specs[0].Evaluators, specs[1].Evaluators); err != nil {
		return nil, err
	}
	res.Notes = parityNotes(res.Batches, specs, po)
	if err := a.compareParity(ctx, st, res, specs); err != nil {
		return nil, err
	}
	a.recordParity(ctx, st, res)
	return res, nil
}

// parityNotes say what differs between two stored batches besides their
// runners and environments: what would make their executions differ whatever
// the runners do.
func parityNotes(recs [2]*store.Batch, specs [2]*spec.Batch, po ParityOptions) []string {
	notes := []string{}
	for _, rec := range recs {
		if rec.Status != store.StatusCompleted || Interrupted(rec) {
			notes = append(notes, fmt.Sprintf("batch %s %s: executions it did not run are differences", rec.ID, DisplayStatus(rec)))
		}
		if len(rec.Decisions) > 0 {
			notes = append(notes, fmt.Sprintf("batch %s stopped %s early (adaptive repeats or racing): executions it did not run are differences",
				rec.ID, plural(len(rec.Decisions), "combination", "combinations")))
		}
	}
	a, b := specs[0], specs[1]
	if a.Workflow.Name != b.Workflow.Name {
		notes = append(notes, fmt.Sprintf("they ran different workflows (%s and %s)", a.Workflow.Name, b.Workflow.Name))
	} else {
		nodesB := map[string]spec.Node{}
		for _, n := range b.Workflow.Nodes {
			nodesB[n.Name] = n
		}
		for _, n := range a.Workflow.Nodes {
			m, ok := nodesB[n.Name]
			delete(nodesB, n.Name)
			if !ok {
				notes = append(notes, fmt.Sprintf("node %s is only in batch %s", n.Name, recs[0].ID))
				continue
			}
			n.Cache, m.Cache, n.Worker, m.Worker = nil, nil, nil, nil // how it runs, not what it computes
			if ja, jb := mustJSON(n), mustJSON(m); ja != jb {
				notes = append(notes, fmt.Sprintf("node %s is configured differently", n.Name))
			}
		}
		for _, name := range spec.SortedKeys(nodesB) {
			notes = append(notes, fmt.Sprintf("node %s is only in batch %s", name, recs[1].ID))
		}
	}
	for _, path := range spec.SortedKeys(a.FileHashes) {
		if h, ok := b.FileHashes[path]; ok && h != a.FileHashes[path] {
			notes = append(notes, fmt.Sprintf("%s had other contents", path))
		}
	}
	if sets, _ := diffCases(dataset.Digests(a.Cases), dataset.Digests(b.Cases)); sets.OnlyA+sets.OnlyB+sets.Changed > 0 {
		notes = append(notes, fmt.Sprintf("their cases differ: %d only in batch %s, %d only in batch %s, %d with other input or expectations",
			sets.OnlyA, recs[0].ID, sets.OnlyB, recs[1].ID, sets.Changed))
	}
	if a.Repeat != b.Repeat {
		notes = append(notes, fmt.Sprintf("they ran %d and %d repeats", a.Repeat, b.Repeat))
	}
	evs, _ := diffEvaluators(a.Evaluators, b.Evaluators, a.Dir, b.Dir)
	for _, d := range evs {
		if po.ignored(d.Name) || d.Comparable {
			continue
		}
		switch d.Status {
		case EvaluatorOnlyA:
			notes = append(notes, fmt.Sprintf("evaluator %s is only in batch %s", d.Name, recs[0].ID))
		case EvaluatorOnlyB:
			notes = append(notes, fmt.Sprintf("evaluator %s is only in batch %s", d.Name, recs[1].ID))
		default:
			notes = append(notes, fmt.Sprintf("evaluator %s scored differently: %s", d.Name, strings.Join(d.Changes, ", ")))
		}
	}
	return notes
}

func mustJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// recordParity writes the verdict to the audit trail of both batches, each
// entry naming the other batch: a batch's trail says it was checked against
// another runner, and with what result. A failure to write is kept in the
// result (the verdict stands; it is printed either way).
func (a *App) recordParity(ctx context.Context, st store.Store, res *ParityResult) {
	counts := res.KindCounts()
	var kinds []string
	for _, k := range []string{ParityOnlyFirst, ParityOnlySecond, ParityOutcome, ParityFailure, ParityScores, ParityState} {
		if counts[k] > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	var first []string
	for _, d := range res.Diffs {
		if len(first) == 5 {
			break
		}
		first = append(first, d.String())
	}
	now := time.Now()
	var entries []store.AuditEntry
	for i, rec := range res.Batches {
		other := res.Batches[1-i]
		msg := fmt.Sprintf("parity with batch %s (runner %s): ", other.ID, res.Runners[1-i])
		e := events.Event{Type: events.ParityChecked, BatchID: rec.ID, Time: now, Data: map[string]any{
			"other_batch": other.ID, "batches": []string{res.Batches[0].ID, res.Batches[1].ID}, "runners": res.Runners[:],
			"agree": res.Agree(), "compared": res.Compared, "failed_alike": res.FailedAlike, "differences": len(res.Diffs),
			"kinds": counts, "tolerance": res.Options.Tolerance, "state_tolerance": res.Options.StateTolerance,
			"ignored_evaluators": append([]string{}, res.Options.IgnoreEvaluators...), "tolerated": res.Tolerated,
			"ignored_only": res.IgnoredOnly, "differing_executions": res.Differing(), "first_differences": append([]string{}, first...),
			"notes": append([]string{}, res.Notes...)}}
		if res.Agree() {
			msg += fmt.Sprintf("they agree on %s", plural(res.Compared, "execution", "executions"))
		} else {
			msg += fmt.Sprintf("%d of %d executions differ (%s); first: %s", res.Differing(), res.Compared+counts[ParityOnlyFirst]+counts[ParityOnlySecond],
				strings.Join(kinds, ", "), oneLineBrief(first[0], 200))
			e.Error = "differences found"
		}
		if t := res.Options.Describe(); t != "" {
			msg += " (" + t + ")"
		}
		e.Message = msg
		entry, _ := audit.Entry(e, false)
		entries = append(entries, entry)
	}
	if err := st.Audit().Append(ctx, entries); err != nil {
		res.RecordErr = err
		return
	}
	res.Recorded = true
}
