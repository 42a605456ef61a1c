package sched

import (
	"fmt"
	"sync"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
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
