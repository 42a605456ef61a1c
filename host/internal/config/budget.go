package config

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/wtbench/wtb/host/internal/spec"
)

var budgetSchema = &hcl.BodySchema{Attributes: attrSchema("usd", "tokens", "execution_usd", "execution_tokens", "allow_unpriced")}

// decodeBudget reads a batch's budget block. The gateway counts what calls
// cost, so a budget without one could never be kept.
func (c *Config) decodeBudget(b *hcl.Block, s *spec.Batch) hcl.Diagnostics {
	content, diags := content(b.Body, budgetSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	bg := &spec.Budget{AllowUnpriced: a.boolean("allow_unpriced", false)}
	dollars := func(name string) float64 {
		if !a.has(name) {
			return 0
		}
		v := a.number(name, 0)
		if v <= 0 && !a.failed(name) {
			a.errorf(name, "Value out of range", "%s must be more than 0 dollars (leave it out for no bound); got %g.", name, v)
		}
		return v
	}
	tokens := func(name string) int64 {
		return int64(a.integer(name, 0, 1, 1<<50))
	}
	bg.USD, bg.ExecutionUSD = dollars("usd"), dollars("execution_usd")
	bg.Tokens, bg.ExecutionTokens = tokens("tokens"), tokens("execution_tokens")
	if len(content.Attributes) == 0 || (bg.USD == 0 && bg.Tokens == 0 && bg.ExecutionUSD == 0 && bg.ExecutionTokens == 0 && !a.diags.HasErrors()) {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "An empty budget",
			Detail:  "A budget block bounds the batch's model calls: give usd, tokens, execution_usd or execution_tokens.",
			Subject: b.DefRange.Ptr()})
	}
	if c.Gateway == nil {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "A budget needs the gateway",
			Detail:  "The model-call gateway is what counts the calls' tokens and cost: add a gateway block with the upstreams the nodes call (and a price for each model, for a budget in dollars).",
			Subject: b.DefRange.Ptr()})
	}
	s.Budget = bg
	return a.diags
}
