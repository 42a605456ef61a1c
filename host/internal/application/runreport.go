package application

import (
	"time"

	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/sched"
	"github.com/wtbench/wtb/sdk"
)

// The types a caller of the application layer names: what a run reports,
// how it shows progress, the size of a plan and a loaded bench file. The
// command line renders them without importing the scheduler, the planner or
// the configuration loader.

// Config is a loaded bench file, as Load returns it and Prepare, Parity and
// Rescore take it. An alias: the loaded file is what every command that
// reads a bench file hands to this layer, and a copy would be a second
// name for the same thing.
type Config = config.Config

// PlanCounts is the size of a batch's plan (Plan, RunOptions.OnStart): an
// alias of the planner's, plain data that this layer hands on unchanged.
type PlanCounts = plan.Counts

// NodeStats is one node's line of PlanCounts.
type NodeStats = plan.NodeStats

// Progress shows a run as it goes. A Progress that is also a Retotaler hears
// the total shrink; one that is a LoadReporter hears the load.
type Progress interface {
	Start(total int)
	Add(succeeded, failed int)
	Finish()
}

// Retotaler is a Progress whose total can shrink while it runs (combinations
// that adaptive repeats or racing stopped early).
type Retotaler interface {
	SetTotal(total int)
}

// LoadReporter is a Progress that also shows the load: runner requests in
// flight and ready to send.
type LoadReporter interface {
	Load(inFlight, queued int)
}

// The scheduler asks a Progress for these by type assertion: the method sets
// must stay the same both ways.
var (
	_ sched.Progress     = Progress(nil)
	_ Progress           = sched.Progress(nil)
	_ sched.Retotaler    = Retotaler(nil)
	_ Retotaler          = sched.Retotaler(nil)
	_ sched.LoadReporter = LoadReporter(nil)
	_ LoadReporter       = sched.LoadReporter(nil)
)

// RunReport is what a run did (Outcome.Report).
type RunReport struct {
	Planned    int
	Succeeded  int
	Failed     int
	Unfinished int // planned executions not run (an interrupted batch)
	NodeRuns   int
	CachedRuns int
	Resumed    int // node runs reused from stored checkpoints
	Retries    int
	Cancelled  bool
	FailFast   bool
	Elapsed    time.Duration
	// RoundTrips is how many runner requests were made; RoundTripP50 and
	// RoundTripP95 their latency percentiles (dispatch to outcome, within 2 %).
	RoundTrips                 int
	RoundTripP50, RoundTripP95 time.Duration
	// ModelCalls counts the calls nodes made through the gateway, by source
	// (live, recorded, replayed); ReplayMisses those no recording matched.
	ModelCalls   map[string]int
	ReplayMisses int
	// LLM adds up the calls' usage and cost (every node run's once: what the
	// batch would cost live, replayed calls included).
	LLM CallTotals
	// BudgetStop says why the batch stopped for its budget ("" when it did
	// not).
	BudgetStop string
	// JudgeCalls and Judge count the llm_judge evaluators' calls (by source;
	// usage and cost) apart from the nodes'.
	JudgeCalls map[string]int
	Judge      CallTotals
}

// CallTotals is what a batch's model calls used and cost.
type CallTotals struct {
	Calls, Unpriced int
	Usage           sdk.Usage
	CostUSD         float64
}

func runReportOf(r sched.Report) RunReport {
	return RunReport{Planned: r.Planned, Succeeded: r.Succeeded, Failed: r.Failed, Unfinished: r.Unfinished,
		NodeRuns: r.NodeRuns, CachedRuns: r.CachedRuns, Resumed: r.Resumed, Retries: r.Retries,
		Cancelled: r.Cancelled, FailFast: r.FailFast, Elapsed: r.Elapsed,
		RoundTrips: r.RoundTrips, RoundTripP50: r.Percentile(0.5), RoundTripP95: r.Percentile(0.95),
		ModelCalls: r.ModelCalls, ReplayMisses: r.ReplayMisses, LLM: CallTotals(r.LLM), BudgetStop: r.BudgetStop,
		JudgeCalls: r.JudgeCalls, Judge: CallTotals(r.Judge)}
}
