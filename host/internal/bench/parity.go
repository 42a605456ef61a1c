package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/audit"
	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/statediff"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/suggest"
)

// ParityOptions say what parity tolerates. The zero value tolerates nothing:
// every score and every value of the final state must be equal.
type ParityOptions struct {
	// Tolerance is how far an evaluator's score may differ between the two
	// runs, in score units (scores are in [0, 1]).
	Tolerance float64
	// StateTolerance is how far a number in the final state may differ,
	// relative to the larger of the two: 0.01 lets 100 and 101 pass. Numbers
	// only; strings, booleans and shapes are compared exactly.
	StateTolerance float64
	// IgnoreEvaluators are left out: their scores are not compared (latency
	// differs between runners by nature).
	IgnoreEvaluators []string
}

func (o ParityOptions) check() error {
	if math.IsNaN(o.Tolerance) || o.Tolerance < 0 || o.Tolerance > 1 {
		return configErr("a score tolerance of %s is out of range: scores are in [0, 1], so it is a difference from 0 to 1", numfmt.Setting(o.Tolerance))
	}
	if math.IsNaN(o.StateTolerance) || math.IsInf(o.StateTolerance, 0) || o.StateTolerance < 0 {
		return configErr("a state tolerance of %s is out of range: it is a relative difference, 0 or more (0.01 lets 100 and 101 pass)", numfmt.Setting(o.StateTolerance))
	}
	return nil
}

func (o ParityOptions) ignored(name string) bool { return slices.Contains(o.IgnoreEvaluators, name) }

// checkIgnored refuses to ignore an evaluator no batch has: a misspelt name
// would ignore nothing while the user believes it does. none says who has
// none of that name, and has who has the others.
func (o ParityOptions) checkIgnored(none, has string, evs ...[]spec.Evaluator) error {
	names := map[string]bool{}
	for _, list := range evs {
		for _, e := range list {
			names[e.Name] = true
		}
	}
	known := spec.SortedKeys(names)
	for _, name := range o.IgnoreEvaluators {
		if !names[name] {
			return configErr("cannot ignore evaluator %q: %s of that name (%s: %s).%s",
				name, none, has, strings.Join(known, ", "), suggest.DidYouMean(name, known))
		}
	}
	return nil
}

// Kinds of ParityDiff.
const (
	ParityOnlyFirst  = "only_first"  // the first batch ran the execution, the second did not
	ParityOnlySecond = "only_second" // and the other way round
	ParityOutcome    = "outcome"     // it succeeded on one side and failed on the other
	ParityFailure    = "failure"     // it failed on both, at another node or of another kind
	ParityScores     = "scores"      // an evaluator's scores differ by more than the tolerance
	ParityState      = "state"       // the final states differ (numbers beyond the state tolerance)
)

// ParityResult compares two batches of one bench file run on two runners,
// execution by execution.
type ParityResult struct {
	// Runners are the runner blocks of the two batches, Batches the batches.
	Runners [2]string
	Batches [2]*store.Batch
	// Outcomes are the two runs parity made; nil when it compared stored
	// batches.
	Outcomes [2]*Outcome
	// Stopped is the run that did not complete (interrupted, or the host
	// failed during it): parity stopped there and compared nothing.
	Stopped *Outcome
	Options ParityOptions
	// Compared counts the executions both batches ran; FailedAlike, those
	// of them that failed on both at the same node with the same kind.
	Compared    int
	FailedAlike int
	// Tolerated counts compared executions whose scores or state differ,
	// all within the tolerances; IgnoredOnly, those whose only difference
	// beyond them is in ignored evaluators. Neither is a difference.
	Tolerated   int
	IgnoredOnly int
	// Diffs lists every way an execution differs, by key.
	Diffs []ParityDiff
	// Notes say how the two batches differ besides their runners (stored
	// batches: another bench file, other cases): differences may come from
	// those rather than from the runners.
	Notes []string
	// Recorded says the verdict is in both batches' audit trails; RecordErr
	// says why not.
	Recorded  bool
	RecordErr error
}

// Differing counts the executions that differ (one may differ in several
// ways).
func (r *ParityResult) Differing() int {
	n := 0
	for i, d := range r.Diffs {
		if i == 0 || d.ExecutionKey != r.Diffs[i-1].ExecutionKey {
			n++
		}
	}
	return n
}

// Agree says no execution differs beyond what the options tolerate.
func (r *ParityResult) Agree() bool { return len(r.Diffs) == 0 }

// Sides names the two batches for a reader: by runner block when those
// differ, else by batch id.
func (r *ParityResult) Sides() [2]string {
	if r.Runners[0] != r.Runners[1] {
		return r.Runners
	}
	return [2]string{"batch " + r.Batches[0].ID, "batch " + r.Batches[1].ID}
}

// ParityDiff is one way an execution differs between the two batches.
type ParityDiff struct {
	ExecutionKey string
	// Kind is one of the Parity* kinds.
	Kind   string
	Detail string
	// Scores are the evaluators that differ (kind scores).
	Scores []ScoreDifference
	// Outcomes are how the execution ended on each side (kinds outcome and
	// failure).
	Outcomes [2]*SideOutcome
	// State lists the changes from the first final state to the second
	// (kind state), at most MaxParityChanges; MoreState says there are more.
	State     []statediff.Change
	MoreState bool
}

// MaxParityChanges bounds the state changes a ParityDiff lists.
const MaxParityChanges = 20

func (d ParityDiff) String() string { return d.ExecutionKey + ": " + d.Detail }

// ScoreDifference is one evaluator's scores on the two sides (nil where the
// evaluator gave none).
type ScoreDifference struct {
	Evaluator     string
	First, Second *float64
}

// SideOutcome is how an execution ended on one side. Error is shown, never
// compared: it names paths, processes and hosts that differ between runners.
type SideOutcome struct {
	Status, FailureKind, FailedNode, Error string
}

func (o *SideOutcome) brief() string {
	if o.Status == store.ResultSucceeded {
		return "succeeded"
	}
	return fmt.Sprintf("failed (%s at node %s)", o.FailureKind, o.FailedNode)
}

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

// parityRow is what parity keeps of an execution of the first batch while it
// reads the second: not the whole result.
type parityRow struct {
	success    bool
	kind, node string
	scores     map[string]float64
	checkpoint string
}

// parityPair is an execution both batches ran alike so far, whose final
// states are still to compare.
type parityPair struct {
	key                string
	first, second      string // final checkpoint ids
	tolerated, ignored bool   // scores differed within the tolerance, or in ignored evaluators
}

// compareParity compares the two batches of res execution by execution. It
// holds a small row per execution of the first batch, not the results, and
// reads one pair of final states at a time. States are compared as stored;
// the values of sensitive variables are masked in what it shows.
func (a *App) compareParity(ctx context.Context, st store.Store, res *ParityResult, specs [2]*spec.Batch) error {
	first, second := res.Batches[0].ID, res.Batches[1].ID
	po := res.Options
	red := spec.NewRedactor(append(slices.Clone(specs[0].Sensitive), specs[1].Sensitive...))
	rows := map[string]*parityRow{}
	err := st.Results().EachScored(ctx, first, func(r *store.Result) error {
		rows[r.ExecutionKey] = &parityRow{success: r.Success, kind: r.FailureKind, node: r.FailedNode, scores: r.Scores, checkpoint: r.FinalCheckpointID}
		return nil
	})
	if err != nil {
		return runtimeErr("reading the results of batch %s: %w", first, err)
	}
	sides := res.Sides()
	var pairs []parityPair
	var ended []int // diffs whose outcomes need their error texts
	err = st.Results().EachScored(ctx, second, func(y *store.Result) error {
		x, ok := rows[y.ExecutionKey]
		if !ok {
			res.Diffs = append(res.Diffs, ParityDiff{ExecutionKey: y.ExecutionKey, Kind: ParityOnlySecond, Detail: "only " + sides[1] + " ran it"})
			return nil
		}
		delete(rows, y.ExecutionKey)
		res.Compared++
		if x.success != y.Success || !x.success && (x.kind != y.FailureKind || x.node != y.FailedNode) {
			kind := ParityOutcome
			if !x.success && !y.Success {
				kind = ParityFailure
			}
			d := ParityDiff{ExecutionKey: y.ExecutionKey, Kind: kind, Outcomes: [2]*SideOutcome{
				{Status: status(x.success), FailureKind: x.kind, FailedNode: x.node},
				{Status: y.Status, FailureKind: y.FailureKind, FailedNode: y.FailedNode}}}
			ended = append(ended, len(res.Diffs))
			res.Diffs = append(res.Diffs, d)
			return nil // what follows a different ending differs too: it says nothing more
		}
		if !x.success {
			res.FailedAlike++
		}
		p := parityPair{key: y.ExecutionKey, first: x.checkpoint, second: y.FinalCheckpointID}
		var scores []ScoreDifference
		scores, p.tolerated, p.ignored = compareScores(x.scores, y.Scores, po)
		if len(scores) > 0 {
			res.Diffs = append(res.Diffs, ParityDiff{ExecutionKey: y.ExecutionKey, Kind: ParityScores, Scores: scores,
				Detail: "scores differ: " + scoreDiff(scores)})
		}
		pairs = append(pairs, p)
		return nil
	})
	if err != nil {
		return runtimeErr("reading the results of batch %s: %w", second, err)
	}
	for _, key := range spec.SortedKeys(rows) {
		res.Diffs = append(res.Diffs, ParityDiff{ExecutionKey: key, Kind: ParityOnlyFirst, Detail: "only " + sides[0] + " ran it"})
	}
	rows = nil
	scoresDiffer := map[string]bool{}
	for _, d := range res.Diffs {
		if d.Kind == ParityScores {
			scoresDiffer[d.ExecutionKey] = true
		}
	}
	for _, p := range pairs {
		sa, err := finalState(ctx, st, p.first)
		if err != nil {
			return runtimeErr("reading the final state of %s in batch %s: %w", p.key, first, err)
		}
		sb, err := finalState(ctx, st, p.second)
		if err != nil {
			return runtimeErr("reading the final state of %s in batch %s: %w", p.key, second, err)
		}
		changes, more, tolerated := compareStates(sa, sb, po.StateTolerance)
		if len(changes) > 0 {
			for i := range changes {
				changes[i].Before, changes[i].After = redactValue(red, changes[i].Before), redactValue(red, changes[i].After)
			}
			lines := make([]string, 0, len(changes)+1)
			for _, c := range changes {
				lines = append(lines, c.Line(70))
			}
			if more {
				lines = append(lines, "… more changes")
			}
			res.Diffs = append(res.Diffs, ParityDiff{ExecutionKey: p.key, Kind: ParityState, State: changes, MoreState: more,
				Detail: "final state differs: " + strings.Join(lines, "; ")})
			continue
		}
		if scoresDiffer[p.key] {
			continue
		}
		if p.tolerated || tolerated {
			res.Tolerated++
		}
		if p.ignored {
			res.IgnoredOnly++
		}
	}
	// The error texts of executions that ended differently: shown, not
	// compared, and read only for those.
	for _, i := range ended {
		d := &res.Diffs[i]
		for side, id := range []string{first, second} {
			if r, err := st.Results().Get(ctx, id, d.ExecutionKey); err == nil {
				d.Outcomes[side].Error = r.Error
			}
		}
		d.Detail = outcomeDetail(d, sides)
	}
	order := map[string]int{ParityOnlyFirst: 0, ParityOnlySecond: 1, ParityOutcome: 2, ParityFailure: 3, ParityScores: 4, ParityState: 5}
	sort.SliceStable(res.Diffs, func(i, j int) bool {
		if res.Diffs[i].ExecutionKey != res.Diffs[j].ExecutionKey {
			return res.Diffs[i].ExecutionKey < res.Diffs[j].ExecutionKey
		}
		return order[res.Diffs[i].Kind] < order[res.Diffs[j].Kind]
	})
	return nil
}

// redactValue masks sensitive values in a decoded JSON value.
func redactValue(red *spec.Redactor, v any) any {
	if v == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	masked := red.JSON(raw)
	if string(masked) == string(raw) {
		return v
	}
	return statediff.Decode(masked)
}

func status(success bool) string {
	if success {
		return store.ResultSucceeded
	}
	return store.ResultFailed
}

// outcomeDetail says how an execution ended on each side, with the error
// texts cut to one line.
func outcomeDetail(d *ParityDiff, sides [2]string) string {
	x, y := d.Outcomes[0], d.Outcomes[1]
	var parts []string
	for i, o := range []*SideOutcome{x, y} {
		part := o.brief() + " on " + sides[i]
		if o.Error != "" {
			part += ": " + oneLineBrief(o.Error, 100)
		}
		parts = append(parts, part)
	}
	if d.Kind == ParityFailure {
		return "failed differently: " + strings.Join(parts, "; ")
	}
	return strings.Join(parts, "; ")
}

func oneLineBrief(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// compareScores lists the evaluators whose scores differ by more than the
// tolerance, ignored ones left out; tolerated says some differed within it,
// ignored that an ignored one differed.
func compareScores(a, b map[string]float64, po ParityOptions) (diffs []ScoreDifference, tolerated, ignored bool) {
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	for _, k := range spec.SortedKeys(names) {
		x, inA := a[k]
		y, inB := b[k]
		if inA && inB && x == y {
			continue
		}
		if po.ignored(k) {
			ignored = true
			continue
		}
		if inA && inB && math.Abs(x-y) <= po.Tolerance {
			tolerated = true
			continue
		}
		d := ScoreDifference{Evaluator: k}
		if inA {
			d.First = &x
		}
		if inB {
			d.Second = &y
		}
		diffs = append(diffs, d)
	}
	return diffs, tolerated, ignored
}

// compareStates lists the changes from a to b beyond the relative tolerance
// on numbers (at most MaxParityChanges; more says there were others);
// tolerated says some number differed within it.
func compareStates(a, b map[string]any, rel float64) (changes []statediff.Change, more, tolerated bool) {
	if reflect.DeepEqual(a, b) {
		return nil, false, false
	}
	all, _ := statediff.Diff(a, b, 0)
	for _, c := range all {
		if c.Op == statediff.Changed && sameNumber(c.Before, c.After) {
			continue // 1 and 1.0: one number, spelt two ways
		}
		if c.Op == statediff.Changed && rel > 0 && closeNumbers(c.Before, c.After, rel) {
			tolerated = true
			continue
		}
		if len(changes) == MaxParityChanges {
			more = true
			break
		}
		changes = append(changes, c)
	}
	return changes, more, tolerated
}

// sameNumber says x and y are JSON numbers of the same value, compared
// exactly (two large integers a float64 cannot tell apart are not the same).
func sameNumber(x, y any) bool {
	a, okA := x.(json.Number)
	b, okB := y.(json.Number)
	if !okA || !okB {
		return false
	}
	ra, okA := new(big.Rat).SetString(string(a))
	rb, okB := new(big.Rat).SetString(string(b))
	return okA && okB && ra.Cmp(rb) == 0
}

// closeNumbers says x and y are numbers that differ by at most rel of the
// larger magnitude.
func closeNumbers(x, y any, rel float64) bool {
	a, okA := jsonNumber(x)
	b, okB := jsonNumber(y)
	if !okA || !okB {
		return false
	}
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

func jsonNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

func finalState(ctx context.Context, st store.Store, checkpoint string) (map[string]any, error) {
	if checkpoint == "" {
		return nil, nil
	}
	cp, err := st.Checkpoints().Get(ctx, checkpoint)
	if err != nil {
		return nil, err
	}
	return DecodeState(cp.State), nil
}

// scoreDiff writes the evaluators whose scores differ, each as "name a vs b"
// with three decimals, or every digit where three would hide the difference.
func scoreDiff(diffs []ScoreDifference) string {
	var parts []string
	for _, d := range diffs {
		sx, sy := numfmt.Dash, numfmt.Dash
		if d.First != nil && d.Second != nil {
			sx, sy = numfmt.Score(*d.First), numfmt.Score(*d.Second)
			if sx == sy {
				sx, sy = numfmt.Setting(*d.First), numfmt.Setting(*d.Second)
			}
		} else if d.First != nil {
			sx = numfmt.Score(*d.First)
		} else if d.Second != nil {
			sy = numfmt.Score(*d.Second)
		}
		parts = append(parts, d.Evaluator+" "+sx+" vs "+sy)
	}
	return strings.Join(parts, ", ")
}

// KindCounts counts differences by kind.
func (r *ParityResult) KindCounts() map[string]int {
	out := map[string]int{}
	for _, d := range r.Diffs {
		out[d.Kind]++
	}
	return out
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

// Describe says what the options tolerate ("" when nothing).
func (o ParityOptions) Describe() string {
	var parts []string
	if o.Tolerance > 0 {
		parts = append(parts, "score tolerance "+numfmt.Setting(o.Tolerance))
	}
	if o.StateTolerance > 0 {
		parts = append(parts, "state tolerance "+numfmt.Setting(o.StateTolerance))
	}
	if len(o.IgnoreEvaluators) > 0 {
		parts = append(parts, "ignoring "+strings.Join(o.IgnoreEvaluators, ", "))
	}
	return strings.Join(parts, "; ")
}
