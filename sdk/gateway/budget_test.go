package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wtbench/wtb/sdk"
)

// A budget in dollars is kept by the gateway's own pricing: calls go through
// until the execution has spent it, the next is refused with 402 and never
// reaches the upstream, and the node runs of the request share it.
func TestADollarBudgetRefusesCallsOnceSpent(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	cfg := config(sdk.ModeLive, up.as("openai"))
	// 15 tokens a call ("hi": 12 in, 3 out) at $1,000 a million: $0.015.
	cfg.Budget = &sdk.CallBudget{USD: 0.04, SpentUSD: 0.01,
		Prices: []sdk.Price{{Model: "gpt-test*", Input: 1000, Output: 1000}, {Model: "other", Input: 1}}}
	budget := NewBudget(cfg)

	run, env, done := openRun(t, g, cfg, nil)
	run.WithBudget(budget)
	for i, want := range []int{200, 200, 402} {
		status, body, _ := call(t, env, "hi", false)
		if status != want {
			t.Fatalf("call %d: %d %s; want %d", i+1, status, body, want)
		}
		if status == 402 && !strings.Contains(body, "wtb_budget_exceeded") || status == 402 && !strings.Contains(body, "its budget is $0.04") {
			t.Errorf("the refusal says %s", body)
		}
	}
	done()
	calls, problem := run.Finish()
	if up.count() != 2 || len(calls) != 3 {
		t.Fatalf("the upstream saw %d calls, the run kept %d; want 2 and 3", up.count(), len(calls))
	}
	if problem == nil || problem.Kind != sdk.FailureBudget || problem.Retryable || !strings.Contains(problem.Message, "the gateway refused its next call") {
		t.Fatalf("problem %+v; want a budget failure, not retried", problem)
	}
	if tokens, usd := budget.Spent(); tokens != 30 || usd < 0.0399 || usd > 0.0401 {
		t.Errorf("spent %d tokens and $%g; want 30 and $0.04", tokens, usd)
	}

	// The next node run of the execution starts past it: refused at once.
	next, env, done := openRun(t, g, cfg, nil)
	next.WithBudget(budget)
	if status, _, _ := call(t, env, "hi", false); status != http.StatusPaymentRequired {
		t.Errorf("the next node run's first call: %d; want 402", status)
	}
	done()
	if _, p := next.Finish(); p == nil || p.Kind != sdk.FailureBudget {
		t.Errorf("the next node run: %+v", p)
	}
	if up.count() != 2 {
		t.Errorf("the upstream saw %d calls; want 2", up.count())
	}
}

// No budget, or one with no bound, refuses nothing.
func TestNoBudgetRefusesNothing(t *testing.T) {
	for _, b := range []*sdk.CallBudget{nil, {SpentTokens: 1 << 40}} {
		cfg := config(sdk.ModeLive)
		cfg.Budget = b
		if NewBudget(cfg) != nil {
			t.Errorf("%+v: a budget with no bound", b)
		}
	}
	var none *Budget
	if none.refusal() != "" {
		t.Error("a nil budget refuses")
	}
}
