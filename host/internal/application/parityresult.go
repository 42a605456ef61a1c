package application

import (
	"fmt"
	"math"
	"slices"
	"strings"

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

// KindCounts counts differences by kind.
func (r *ParityResult) KindCounts() map[string]int {
	out := map[string]int{}
	for _, d := range r.Diffs {
		out[d.Kind]++
	}
	return out
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
