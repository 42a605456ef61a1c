package jsondoc

import (
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/statediff"
)

// Parity is two batches of one bench file on two runners, compared
// execution by execution (wtb parity).
type Parity struct {
	Header
	// Mode is runners (parity ran the batch on both) or batches (it
	// compared two stored batches).
	Mode string `json:"mode"`
	// Runners are the two runner blocks; Batches the two batches, in the
	// same order.
	Runners [2]string `json:"runners"`
	Batches [2]string `json:"batches"`
	// What was tolerated: an evaluator's score may differ by Tolerance, a
	// number in the final state by StateTolerance of the larger; the
	// IgnoredEvaluators' scores are not compared.
	Tolerance         float64  `json:"tolerance"`
	StateTolerance    float64  `json:"state_tolerance"`
	IgnoredEvaluators []string `json:"ignored_evaluators"`
	// Compared counts the executions both batches ran; FailedAlike, those
	// that failed on both at the same node with the same kind; Tolerated,
	// those that differ only within the tolerances; IgnoredOnly, those that
	// differ only in ignored evaluators. Agree says no execution differs.
	Compared    int  `json:"compared"`
	FailedAlike int  `json:"failed_alike"`
	Tolerated   int  `json:"tolerated"`
	IgnoredOnly int  `json:"ignored_only"`
	Agree       bool `json:"agree"`
	// Notes say how two stored batches differ besides their runners.
	Notes []string `json:"notes"`
	// Recorded says the verdict is in both batches' audit trails.
	Recorded    bool         `json:"recorded"`
	Differences []ParityDiff `json:"differences"`
}

// ParityDiff is one way an execution differs between the batches: kind is
// only_first, only_second, outcome, failure, scores or state. Scores lists
// the evaluators that differ (kind scores), Outcomes how the execution ended
// on each side (outcome and failure), State the changes from the first final
// state to the second (state).
type ParityDiff struct {
	ExecutionKey   string             `json:"execution_key"`
	Kind           string             `json:"kind"`
	Detail         string             `json:"detail"`
	Scores         []ParityScore      `json:"scores"`
	Outcomes       []ParityOutcome    `json:"outcomes"`
	State          []statediff.Change `json:"state"`
	StateTruncated bool               `json:"state_truncated"`
}

// ParityScore is one evaluator's scores on each side (null: none).
type ParityScore struct {
	Evaluator string   `json:"evaluator"`
	First     *float64 `json:"first"`
	Second    *float64 `json:"second"`
}

// ParityOutcome is how an execution ended on one side. The error text is
// shown, not compared.
type ParityOutcome struct {
	Status      string `json:"status"`
	FailureKind string `json:"failure_kind"`
	FailedNode  string `json:"failed_node"`
	Error       string `json:"error"`
}

// ParityOf describes a parity check.
func ParityOf(r *application.ParityResult) Parity {
	d := Parity{Header: header(KindParity), Mode: "batches", Runners: r.Runners, Tolerance: r.Options.Tolerance,
		StateTolerance: r.Options.StateTolerance, IgnoredEvaluators: list(r.Options.IgnoreEvaluators),
		Compared: r.Compared, FailedAlike: r.FailedAlike, Tolerated: r.Tolerated, IgnoredOnly: r.IgnoredOnly,
		Agree: r.Agree(), Notes: list(r.Notes), Recorded: r.Recorded, Differences: []ParityDiff{}}
	if r.Outcomes[0] != nil {
		d.Mode = "runners"
	}
	for i, b := range r.Batches {
		if b != nil {
			d.Batches[i] = b.ID
		}
	}
	for _, x := range r.Diffs {
		pd := ParityDiff{ExecutionKey: x.ExecutionKey, Kind: x.Kind, Detail: x.Detail, Scores: []ParityScore{},
			Outcomes: []ParityOutcome{}, State: list(x.State), StateTruncated: x.MoreState}
		for _, s := range x.Scores {
			pd.Scores = append(pd.Scores, ParityScore{Evaluator: s.Evaluator, First: s.First, Second: s.Second})
		}
		if x.Outcomes[0] != nil && x.Outcomes[1] != nil {
			for _, o := range x.Outcomes {
				pd.Outcomes = append(pd.Outcomes, ParityOutcome{Status: o.Status, FailureKind: o.FailureKind, FailedNode: o.FailedNode, Error: o.Error})
			}
		}
		d.Differences = append(d.Differences, pd)
	}
	return d
}
