package eval

import (
	"context"
	"fmt"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/sdk"
)

// judgeCall is what scoring one llm_judge evaluator called and whether it
// could score.
type judgeCall struct {
	run *JudgeRun
	err error
}

// Judger asks a model to grade what an llm_judge evaluator selected.
type Judger interface {
	Judge(ctx context.Context, req JudgeRequest) (JudgeResult, error)
}

// JudgeRequest is one grading: the evaluator, what its path selected, the
// case (its input and expectation go into the prompt) and the execution.
type JudgeRequest struct {
	Evaluator    spec.Evaluator
	Subject      any
	Case         spec.Case
	ExecutionKey string
}

// JudgeResult is a judge's grade, normalised to 0..1, and why; Run holds its
// calls whether it graded or not.
type JudgeResult struct {
	Score     float64
	Reasoning string
	Run       JudgeRun
}

// JudgeRun is one llm_judge evaluator's calls for one execution: the run of
// "judge:NAME" whose identity (RunKey) replay looks them up by.
type JudgeRun struct {
	Evaluator string
	Node      string
	RunKey    string
	Calls     []sdk.Interaction
	// Failed is set when the judge gave no grade: its calls are kept, never
	// replayed.
	Failed bool
}

// SetJudge gives the llm_judge evaluators their way to the model. Without
// one an llm_judge cannot score (an evaluator error, never a 0).
func (e *Evaluator) SetJudge(j Judger) { e.judge = j }

// Judges says whether any evaluator is an llm_judge.
func (e *Evaluator) Judges() bool {
	for _, ev := range e.evs {
		if ev.Type == "llm_judge" {
			return true
		}
	}
	return false
}

// runJudge asks the judge to grade what the evaluator's path selected. A
// judge that could not grade (no judge, a failed call, an answer it could not
// read) is an evaluator error: Evaluate reports it, never as a score.
func (e *Evaluator) runJudge(ctx context.Context, ev compiled, subject any, in Input) (float64, string) {
	if in.judged == nil {
		// Explain: reading results calls no model.
		return 0, ""
	}
	if e.judge == nil {
		in.judged.err = fmt.Errorf("evaluator %q (llm_judge): no model-call gateway to call the judge through", ev.Name)
		return 0, ""
	}
	res, err := e.judge.Judge(ctx, JudgeRequest{Evaluator: ev.Evaluator, Subject: subject, Case: in.Case, ExecutionKey: in.Key})
	if res.Run.RunKey != "" {
		run := res.Run
		in.judged.run = &run
	}
	if err != nil {
		in.judged.err = fmt.Errorf("evaluator %q (llm_judge): %w", ev.Name, err)
		return 0, ""
	}
	return res.Score, res.Reasoning
}
