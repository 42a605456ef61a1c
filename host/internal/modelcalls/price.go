package modelcalls

import (
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/sdk"
)

// Prices answers what a call cost by a bench file's price table (the SDK's
// table: the gateway prices an execution's calls for its budget the same way).
type Prices = sdk.PriceTable

// NewPrices indexes a price table.
func NewPrices(ps []spec.Price) *Prices { return sdk.NewPriceTable(ps) }

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
