package gateway

import (
	"fmt"
	"sync"

	"github.com/wtbench/wtb/sdk"
)

// Budget is what one execution may still spend on calls, shared by the node
// runs of its request: the gateway refuses a call once it is spent (see
// sdk.CallBudget). Calls already sent finish and count, so the execution may
// end a little past it.
type Budget struct {
	limit  sdk.CallBudget
	prices *sdk.PriceTable

	mu     sync.Mutex
	tokens int64
	usd    float64
}

// NewBudget returns the budget of a request's execution, or nil when it has
// none.
func NewBudget(cfg *sdk.ModelCalls) *Budget {
	if cfg == nil || cfg.Budget == nil || (cfg.Budget.Tokens <= 0 && cfg.Budget.USD <= 0) {
		return nil
	}
	return &Budget{limit: *cfg.Budget, prices: sdk.NewPriceTable(cfg.Budget.Prices),
		tokens: cfg.Budget.SpentTokens, usd: cfg.Budget.SpentUSD}
}

// add counts a call that reached an upstream (live or recorded).
func (b *Budget) add(x sdk.Interaction) {
	if b == nil || x.Source == sdk.SourceReplayed || x.Upstream == "" {
		return
	}
	cost, _ := b.prices.Cost(x.Model, x.Usage)
	b.mu.Lock()
	b.tokens += x.Usage.Total()
	b.usd += cost
	b.mu.Unlock()
}

// refusal says why the next call must not be sent ("" while it may).
func (b *Budget) refusal() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.limit.Tokens > 0 && b.tokens >= b.limit.Tokens:
		return fmt.Sprintf("the execution's model calls used %d tokens, its budget is %d (execution_tokens in the budget block)",
			b.tokens, b.limit.Tokens)
	case b.limit.USD > 0 && b.usd >= b.limit.USD:
		return fmt.Sprintf("the execution's model calls cost $%.6g, its budget is $%.6g (execution_usd in the budget block)",
			b.usd, b.limit.USD)
	}
	return ""
}

// Spent is what the execution's calls have used so far, before this request
// included.
func (b *Budget) Spent() (tokens int64, usd float64) {
	if b == nil {
		return 0, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens, b.usd
}
