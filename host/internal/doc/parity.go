package doc

import "github.com/wtbench/wtb/host/internal/bench"

// Parity is a batch run on two runners, compared execution by execution
// (wtb parity).
type Parity struct {
	Header
	// Runners are the two runner blocks; Batches the two batches they ran,
	// in the same order.
	Runners [2]string `json:"runners"`
	Batches [2]string `json:"batches"`
	// Compared counts the executions of the first run; Agree says no
	// execution differs.
	Compared    int          `json:"compared"`
	Agree       bool         `json:"agree"`
	Differences []ParityDiff `json:"differences"`
}

// ParityDiff is one way an execution differs between the runs: kind is
// only_first, only_second, outcome, scores or state.
type ParityDiff struct {
	ExecutionKey string `json:"execution_key"`
	Kind         string `json:"kind"`
	Detail       string `json:"detail"`
}

// ParityOf describes a parity run.
func ParityOf(r *bench.ParityResult) Parity {
	d := Parity{Header: header(KindParity), Runners: r.Runners, Compared: r.Compared, Agree: len(r.Diffs) == 0, Differences: []ParityDiff{}}
	for i, out := range r.Outcomes {
		if out != nil {
			d.Batches[i] = out.Batch.ID
		}
	}
	for _, x := range r.Diffs {
		d.Differences = append(d.Differences, ParityDiff{ExecutionKey: x.ExecutionKey, Kind: x.Kind, Detail: x.Detail})
	}
	return d
}
