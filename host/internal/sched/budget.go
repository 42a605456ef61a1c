package sched

import (
	"fmt"
	"strings"
	"sync"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/trajectory"
	"github.com/wtbench/wtb/sdk"
)

// Spent is what the calls a batch sent to its upstreams cost: live and
// recorded calls, failed attempts' included (they were paid for); replayed
// calls cost nothing.
type Spent struct {
	USD    float64
	Tokens int64
	Calls  int
	// Unpriced counts the calls whose usage could not be priced (their
	// model has no price); FirstUnpriced names the model of the first.
	Unpriced      int
	FirstUnpriced string
}

// Add counts one stored call.
func (s *Spent) Add(c store.ModelCall) {
	if c.Source == sdk.SourceReplayed {
		return
	}
	s.Calls++
	s.Tokens += modelcalls.UsageOf(c).Total()
	if c.Priced {
		s.USD += c.CostUSD
		return
	}
	if !c.UsageReported {
		// No usage to price: a call that got no answer (cut off, refused,
		// unreachable) — nothing a price table could count.
		return
	}
	s.Unpriced++
	if s.FirstUnpriced == "" {
		s.FirstUnpriced = c.Model
		if s.FirstUnpriced == "" {
			s.FirstUnpriced = "(a response that named no model)"
		}
	}
}

// budget keeps the batch's spending within its budget block.
type budget struct {
	b *spec.Budget

	mu    sync.Mutex
	spent Spent
}

func newBudget(b *spec.Budget, before Spent) *budget {
	if b == nil {
		return nil
	}
	return &budget{b: b, spent: before}
}

func (k *budget) add(c store.ModelCall) {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.spent.Add(c)
	k.mu.Unlock()
}

// exceeded says why the batch must stop ("" while it may go on).
func (k *budget) exceeded() string {
	if k == nil {
		return ""
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	sp, b := k.spent, k.b
	switch {
	case b.USD > 0 && sp.USD > b.USD:
		return fmt.Sprintf("its model calls cost %s, past the budget of %s", numfmt.USD(sp.USD), numfmt.USD(b.USD))
	case b.Tokens > 0 && sp.Tokens > b.Tokens:
		return fmt.Sprintf("its model calls used %s tokens, past the budget of %s", numfmt.Count(float64(sp.Tokens)), numfmt.Count(float64(b.Tokens)))
	case b.InDollars() && !b.AllowUnpriced && sp.Unpriced > 0:
		return fmt.Sprintf("a call to %s has no price, so a budget in dollars cannot be kept (give it a price, or allow_unpriced = true in the budget block)", sp.FirstUnpriced)
	}
	return ""
}

func (k *budget) snapshot() Spent {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.spent
}

// checkBudget stops the batch, as Ctrl-C would (what finished is stored, a
// resume with a larger budget runs the rest), once its calls have spent the
// budget.
func (s *scheduler) checkBudget() {
	if s.stopping {
		return
	}
	reason := s.budget.exceeded()
	if reason == "" {
		return
	}
	sp := s.budget.snapshot()
	s.tally.add(func(r *Report) { r.BudgetStop = reason })
	s.cfg.Bus.Publish(events.Event{Type: events.BudgetExceeded, BatchID: s.cfg.BatchID, Error: reason,
		Message: "batch stopped: " + reason,
		Data: map[string]any{"spent_usd": sp.USD, "spent_tokens": sp.Tokens, "calls": sp.Calls, "unpriced_calls": sp.Unpriced,
			"budget_usd": s.b.Budget.USD, "budget_tokens": s.b.Budget.Tokens}})
	s.stop("budget: " + reason)
}

// overExecutionBudget says why an execution's own calls are past the
// per-execution budget ("" when they are not, or there is none).
func (s *scheduler) overExecutionBudget(t llmTotals) string {
	b := s.b.Budget
	if b == nil {
		return ""
	}
	switch {
	case b.ExecutionUSD > 0 && t.liveUSD > b.ExecutionUSD:
		return fmt.Sprintf("its model calls cost %s, past the execution budget of %s", numfmt.USD(t.liveUSD), numfmt.USD(b.ExecutionUSD))
	case b.ExecutionTokens > 0 && t.liveTokens > b.ExecutionTokens:
		return fmt.Sprintf("its model calls used %s tokens, past the execution budget of %s",
			numfmt.Count(float64(t.liveTokens)), numfmt.Count(float64(b.ExecutionTokens)))
	}
	return ""
}

// withExecutionBudget is the gateway's configuration for an attempt: the
// batch's, with the execution budget and what the execution spent before
// the attempt's first node (earlier segments, a shared prefix, a resumed
// run's stored node runs), so the gateway beside the nodes refuses the
// call that would go on past it. The host still judges the execution when
// it ends: a call already sent when the budget ran out counts.
func (s *scheduler) withExecutionBudget(a *attempt) *sdk.ModelCalls {
	mc, b := s.cfg.ModelCalls, s.b.Budget
	if mc == nil || b == nil || (b.ExecutionTokens <= 0 && b.ExecutionUSD <= 0) {
		return mc
	}
	withBudget := *mc
	budget := &sdk.CallBudget{Tokens: b.ExecutionTokens, USD: b.ExecutionUSD}
	if g := s.b.Gateway; g != nil {
		budget.Prices = g.Prices
	}
	if exs := a.seg.Executions(); len(exs) > 0 && a.startIdx < len(a.seg.Steps) {
		first := a.seg.Steps[a.startIdx]
		for _, st := range exs[0].Steps {
			if st == first {
				break
			}
			if info, ok := a.group.infos[st]; ok {
				budget.SpentTokens += info.llm.liveTokens
				budget.SpentUSD += info.llm.liveUSD
			}
		}
	}
	withBudget.Budget = budget
	return &withBudget
}

// NodeUsageMetrics are the _metrics keys under which a node may report the
// usage of its own model calls, by the gateway's kinds.
var NodeUsageMetrics = []struct{ Key, Kind string }{
	{"llm.input_tokens", "input"}, {"llm.output_tokens", "output"}, {"llm.cache_read_tokens", "cache_read"},
	{"llm.cache_write_tokens", "cache_write"}, {"llm.reasoning_tokens", "reasoning"},
}

// compareUsage says so when a node run reported usage that differs from
// what the gateway counted of its calls. Nodes that report usage without
// calling through the gateway have only their own figures (kept as the
// node's metrics), nothing to compare.
func (s *scheduler) compareUsage(key, node string, metrics map[string]float64, t llmTotals) {
	if t.calls == 0 || !t.usage.Reported || len(metrics) == 0 {
		return
	}
	seen := map[string]int64{"input": t.usage.Input, "output": t.usage.Output, "cache_read": t.usage.CacheRead,
		"cache_write": t.usage.CacheWrite, "reasoning": t.usage.Reasoning}
	for _, m := range NodeUsageMetrics {
		reported, ok := metrics[m.Key]
		if !ok || int64(reported) == seen[m.Kind] {
			continue
		}
		s.cfg.Bus.Publish(events.Event{Type: events.UsageDisagrees, BatchID: s.cfg.BatchID, ExecutionKey: key, Node: node,
			Message: fmt.Sprintf("node %s reported %s %s tokens (_metrics %s); the gateway counted %s in its %s",
				node, numfmt.Count(reported), strings.ReplaceAll(m.Kind, "_", "-"), m.Key, numfmt.Count(float64(seen[m.Kind])),
				callsWord(t.calls)),
			Data: map[string]any{"kind": m.Kind, "reported": reported, "gateway": seen[m.Kind], "calls": t.calls}})
	}
}

// Node-run metrics that hold the usage the node's own gen_ai spans reported
// (trajectory.Usage): a second source beside the gateway's, and the only one
// for calls that do not go through the gateway.
const (
	MetricSpanInputTokens  = "llm.spans.input_tokens"
	MetricSpanOutputTokens = "llm.spans.output_tokens"
)

// withSpanUsage adds what the node's spans reported to its run's metrics
// (none when no span gave usage).
func withSpanUsage(metrics map[string]float64, u trajectory.SpanUsage) map[string]float64 {
	if u.Reported == 0 {
		return metrics
	}
	if metrics == nil {
		metrics = map[string]float64{}
	}
	metrics[MetricSpanInputTokens] = float64(u.Input)
	metrics[MetricSpanOutputTokens] = float64(u.Output)
	return metrics
}

// compareSpanUsage says so when the node's own spans report other usage than
// the gateway counted for the node run's calls. It compares only when both
// saw the same number of model calls and every span gave its tokens (else
// the sums measure different things, and the number of calls is what
// differs). The conventions differ in how they split tokens: a span's input
// includes cached prompt tokens and its output the reasoning ones, which the
// gateway counts apart, so those are added back before comparing.
func (s *scheduler) compareSpanUsage(key, node string, u trajectory.SpanUsage, t llmTotals) {
	if u.Reported == 0 || t.calls == 0 || !t.usage.Reported {
		return
	}
	say := func(kind string, spans, gateway int64, msg string) {
		s.cfg.Bus.Publish(events.Event{Type: events.UsageDisagrees, BatchID: s.cfg.BatchID, ExecutionKey: key, Node: node,
			Message: msg, Data: map[string]any{"kind": kind, "source": "spans", "reported": spans, "gateway": gateway, "calls": t.calls}})
	}
	if u.Turns != t.calls {
		say("calls", int64(u.Turns), int64(t.calls), fmt.Sprintf("node %s's spans describe %s; the gateway saw %s",
			node, modelCallsWord(u.Turns), modelCallsWord(t.calls)))
		return
	}
	if u.Reported != u.Turns {
		return
	}
	in := t.usage.Input + t.usage.CacheRead + t.usage.CacheWrite
	out := t.usage.Output + t.usage.Reasoning
	if u.Input != in {
		say("input", u.Input, in, fmt.Sprintf("node %s's spans reported %s input tokens (gen_ai.usage.input_tokens); the gateway counted %s in its %s",
			node, numfmt.Count(float64(u.Input)), numfmt.Count(float64(in)), callsWord(t.calls)))
	}
	if u.Output != out {
		say("output", u.Output, out, fmt.Sprintf("node %s's spans reported %s output tokens (gen_ai.usage.output_tokens); the gateway counted %s in its %s",
			node, numfmt.Count(float64(u.Output)), numfmt.Count(float64(out)), callsWord(t.calls)))
	}
}

func modelCallsWord(n int) string {
	if n == 1 {
		return "1 model call"
	}
	return fmt.Sprintf("%d model calls", n)
}

func callsWord(n int) string {
	if n == 1 {
		return "1 call"
	}
	return fmt.Sprintf("%d calls", n)
}
