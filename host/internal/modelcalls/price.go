package modelcalls

import (
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/sdk"
)

// Prices answers what a call cost by a bench file's price table.
type Prices struct {
	exact    map[string]spec.Price
	prefixes []spec.Price // longest prefix first
}

// NewPrices indexes a price table.
func NewPrices(ps []spec.Price) *Prices {
	p := &Prices{exact: map[string]spec.Price{}}
	for _, x := range ps {
		if pre, ok := strings.CutSuffix(x.Model, "*"); ok {
			x.Model = pre
			p.prefixes = append(p.prefixes, x)
			continue
		}
		p.exact[x.Model] = x
	}
	sort.SliceStable(p.prefixes, func(i, j int) bool { return len(p.prefixes[i].Model) > len(p.prefixes[j].Model) })
	return p
}

// Find returns the price of a model: its exact entry, else the longest prefix
// that covers it.
func (p *Prices) Find(model string) (spec.Price, bool) {
	if p == nil || model == "" {
		return spec.Price{}, false
	}
	if x, ok := p.exact[model]; ok {
		return x, true
	}
	for _, x := range p.prefixes {
		if strings.HasPrefix(model, x.Model) {
			return x, true
		}
	}
	return spec.Price{}, false
}

// Cost is what a call used by the table, in US dollars; false when its model
// has no price or its response reported no usage — an unpriced call, never
// $0. A tier applies by the prompt's size (input, cache reads and writes).
func (p *Prices) Cost(model string, u sdk.Usage) (float64, bool) {
	price, ok := p.Find(model)
	if !ok || !u.Reported {
		return 0, false
	}
	in, out, cr, cw, rs := price.Input, price.Output, price.CacheRead, price.CacheWrite, price.Reasoning
	prompt := u.Input + u.CacheRead + u.CacheWrite
	tiers := append([]spec.PriceTier(nil), price.Tiers...)
	sort.Slice(tiers, func(i, j int) bool { return tiers[i].Above > tiers[j].Above })
	for _, t := range tiers {
		if prompt > t.Above {
			in, out, cr, cw, rs = t.Input, t.Output, t.CacheRead, t.CacheWrite, t.Reasoning
			break
		}
	}
	const perToken = 1e-6 // prices are per million tokens
	cost := (float64(u.Input)*in + float64(u.Output)*out + float64(u.CacheRead)*cr + float64(u.CacheWrite)*cw +
		float64(u.Reasoning)*rs) * perToken
	return cost, true
}

// Metrics keys under which an execution's model calls are counted in its
// result's metrics.
const (
	MetricCalls      = "wtb.llm.calls"
	MetricUnpriced   = "wtb.llm.unpriced_calls"
	MetricCost       = "wtb.llm.cost_usd"
	MetricInput      = "wtb.llm.input_tokens"
	MetricOutput     = "wtb.llm.output_tokens"
	MetricCacheRead  = "wtb.llm.cache_read_tokens"
	MetricCacheWrite = "wtb.llm.cache_write_tokens"
	MetricReasoning  = "wtb.llm.reasoning_tokens"
	// MetricQueueMs is the time the execution's calls waited in the gateway
	// (their upstream's limits, the waits before retries), summed over its
	// calls; its latency leaves it out. Set only when there was any.
	MetricQueueMs = "wtb.llm.queue_ms"
	// MetricRetries counts the attempts the gateway sent again after the
	// upstream pushed back. Set only when there were any.
	MetricRetries = "wtb.llm.retries"
)

// Metrics keys of an execution's llm_judge calls, counted apart from its
// workflow's (the wtb.llm.* above count only the nodes' calls).
const (
	MetricJudgeCalls      = "wtb.llm.judge.calls"
	MetricJudgeUnpriced   = "wtb.llm.judge.unpriced_calls"
	MetricJudgeCost       = "wtb.llm.judge.cost_usd"
	MetricJudgeInput      = "wtb.llm.judge.input_tokens"
	MetricJudgeOutput     = "wtb.llm.judge.output_tokens"
	MetricJudgeCacheRead  = "wtb.llm.judge.cache_read_tokens"
	MetricJudgeCacheWrite = "wtb.llm.judge.cache_write_tokens"
	MetricJudgeReasoning  = "wtb.llm.judge.reasoning_tokens"
)

// JudgeMetrics are every wtb.llm.judge.* key.
var JudgeMetrics = []string{MetricJudgeCalls, MetricJudgeUnpriced, MetricJudgeCost, MetricJudgeInput, MetricJudgeOutput,
	MetricJudgeCacheRead, MetricJudgeCacheWrite, MetricJudgeReasoning}

// JudgeTokens is every token an execution's judge calls used.
func JudgeTokens(m map[string]float64) float64 {
	return m[MetricJudgeInput] + m[MetricJudgeOutput] + m[MetricJudgeCacheRead] + m[MetricJudgeCacheWrite] + m[MetricJudgeReasoning]
}

// Tokens is every token an execution's metrics count.
func Tokens(m map[string]float64) float64 {
	return m[MetricInput] + m[MetricOutput] + m[MetricCacheRead] + m[MetricCacheWrite] + m[MetricReasoning]
}
