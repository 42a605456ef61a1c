package application

import (
	"context"
	"fmt"

	"github.com/wtbench/wtb/host/internal/sched"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// budgetFor applies --budget-usd and --budget-tokens to the batch's budget
// and, for a resumed batch with a budget, adds up what its earlier runs
// spent, which the budget counts too.
func budgetFor(ctx context.Context, st store.Store, batchID string, b *spec.Batch, opts RunOptions, resumed bool) (sched.Spent, error) {
	var spent sched.Spent
	if opts.BudgetUSD > 0 || opts.BudgetTokens > 0 {
		if b.Gateway == nil {
			return spent, configErr("--budget-usd and --budget-tokens count model calls through the gateway, and batch %s has no gateway block", b.Name)
		}
		nb := spec.Budget{}
		if b.Budget != nil {
			nb = *b.Budget
		}
		if opts.BudgetUSD > 0 {
			nb.USD = opts.BudgetUSD
		}
		if opts.BudgetTokens > 0 {
			nb.Tokens = opts.BudgetTokens
		}
		b.Budget = &nb
	}
	if b.Budget == nil || !resumed {
		return spent, nil
	}
	err := st.ModelCalls().Each(ctx, batchID, func(c *store.ModelCall) error {
		spent.Add(*c)
		return nil
	})
	if err != nil {
		return spent, fmt.Errorf("adding up what batch %s spent before: %w", batchID, err)
	}
	return spent, nil
}
