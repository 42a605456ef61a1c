package judge

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// Rows are the wtb_model_calls rows of an execution's judge calls: one run
// per evaluator ("judge:NAME@EXECUTION"), replayable when the judge graded
// (outcome ran), kept for reading only when it did not (outcome failed).
func Rows(batchID, executionKey string, runs []eval.JudgeRun, prices *modelcalls.Prices, now time.Time) []store.ModelCall {
	var rows []store.ModelCall
	for _, r := range runs {
		outcome := store.OutcomeRan
		if r.Failed {
			outcome = store.OutcomeFailed
		}
		w := modelcalls.Where{BatchID: batchID, RunID: RunID(r.Evaluator, executionKey), RunKey: r.RunKey, Node: r.Node,
			ExecutionKey: executionKey, Outcome: outcome}
		for _, x := range r.Calls {
			rows = append(rows, modelcalls.ToStore(w, x, now, prices))
		}
	}
	return rows
}

// Count sets an execution's wtb.llm.judge.* metrics from its judge calls'
// rows, replacing any it had (a rescore counts its own judges' calls).
// Unpriced calls are counted as such, never as $0.
func Count(metrics map[string]float64, rows []store.ModelCall) {
	for _, k := range modelcalls.JudgeMetrics {
		delete(metrics, k)
	}
	if len(rows) == 0 {
		return
	}
	var u sdk.Usage
	var cost float64
	unpriced := 0
	for _, c := range rows {
		u = u.Plus(modelcalls.UsageOf(c))
		if c.Priced {
			cost += c.CostUSD
		} else {
			unpriced++
		}
	}
	metrics[modelcalls.MetricJudgeCalls] = float64(len(rows))
	metrics[modelcalls.MetricJudgeUnpriced] = float64(unpriced)
	metrics[modelcalls.MetricJudgeCost] = cost
	metrics[modelcalls.MetricJudgeInput] = float64(u.Input)
	metrics[modelcalls.MetricJudgeOutput] = float64(u.Output)
	metrics[modelcalls.MetricJudgeCacheRead] = float64(u.CacheRead)
	metrics[modelcalls.MetricJudgeCacheWrite] = float64(u.CacheWrite)
	metrics[modelcalls.MetricJudgeReasoning] = float64(u.Reasoning)
}

// FailedNode marks a result failed by its judge (not by its workflow):
// "judge:NAME".
func FailedNode(errs map[string]string) string {
	names := make([]string, 0, len(errs))
	for n := range errs {
		names = append(names, n)
	}
	sort.Strings(names)
	return Node(names[0])
}

// Fail makes a result whose judges could not grade an infrastructure
// failure at "judge:NAME" with every judge's reason: never a score. Its
// workflow ran and its final state is kept, so `wtb rescore` grades it again
// once the judge answers.
func Fail(r *store.Result, errs map[string]string) {
	if len(errs) == 0 {
		return
	}
	names := make([]string, 0, len(errs))
	for n := range errs {
		names = append(names, n)
	}
	sort.Strings(names)
	var msgs []string
	for _, n := range names {
		msgs = append(msgs, errs[n])
	}
	r.Success, r.Passed, r.OverallScore = false, false, 0
	r.Status = store.ResultFailed
	r.FailureKind = sdk.FailureInfrastructure.String()
	r.FailedNode = FailedNode(errs)
	r.Error = fmt.Sprintf("the workflow finished, but its judge could not grade it (an evaluator error, not a score; `wtb rescore` grades it again): %s",
		strings.Join(msgs, "; "))
}

// FailedByJudge says whether a stored result failed only because a judge
// could not grade it: its workflow finished and its state can be scored.
func FailedByJudge(r *store.Result) bool {
	return !r.Success && IsNode(r.FailedNode) && r.FinalCheckpointID != ""
}
