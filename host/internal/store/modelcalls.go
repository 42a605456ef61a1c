package store

import (
	"context"
	"encoding/json"
	"time"
)

// ModelCall is one call a node run made to a model API through the gateway:
// one row of wtb_model_calls. Calls are kept under the node run that made
// them (RunID: its checkpoint id, or the failed attempt) and its identity
// (RunKey), which replay looks recordings up by.
type ModelCall struct {
	BatchID string
	RunID   string
	Ordinal int
	RunKey  string
	// Outcome is OutcomeRan (the node run finished: its calls can be
	// replayed) or OutcomeFailed.
	Outcome      string
	Node         string
	ExecutionKey string
	Upstream     string
	Method       string
	Path         string
	Query        string
	Status       int
	Streamed     bool
	// Source is live, recorded or replayed.
	Source      string
	Model       string
	Error       string
	MatchKey    string
	StartedAt   time.Time
	DurationMs  float64
	FirstByteMs float64
	// Request and Response are JSON documents: {"headers": {...}} with the
	// body as "json", "text" or "base64", and a streamed response's
	// "chunks" with their timing (see package modelcalls).
	Request   json.RawMessage
	Response  json.RawMessage
	CreatedAt time.Time
	// Usage, as the response reported it (UsageReported false: it said
	// nothing, which is not 0 tokens).
	InputTokens      int
	OutputTokens     int
	CacheReadTokens  int
	CacheWriteTokens int
	ReasoningTokens  int
	UsageReported    bool
	// CostUSD is the call's cost by the price table; Priced is false when the
	// model has no price (the cost is unknown, never $0).
	Priced  bool
	CostUSD float64
	// Attempts is how many times the gateway sent the call (0: replayed);
	// QueueMs how long it waited in the gateway, apart from DurationMs.
	Attempts int
	QueueMs  float64
}

// Model-call outcomes.
const (
	OutcomeRan    = "ran"
	OutcomeFailed = "failed"
)

// ModelCalls is the wtb_model_calls table.
var ModelCalls = Table[ModelCall]{Name: "wtb_model_calls", Conflict: "(batch_test_id, run_id, ordinal)", Columns: []Column[ModelCall]{
	{"batch_test_id", Text, func(c *ModelCall) any { return &c.BatchID }},
	{"run_id", Text, func(c *ModelCall) any { return &c.RunID }},
	{"ordinal", Int, func(c *ModelCall) any { return &c.Ordinal }},
	{"run_key", Text, func(c *ModelCall) any { return &c.RunKey }},
	{"outcome", Text, func(c *ModelCall) any { return &c.Outcome }},
	{"node", Text, func(c *ModelCall) any { return &c.Node }},
	{"execution_key", Text, func(c *ModelCall) any { return &c.ExecutionKey }},
	{"upstream", Text, func(c *ModelCall) any { return &c.Upstream }},
	{"method", Text, func(c *ModelCall) any { return &c.Method }},
	{"path", Text, func(c *ModelCall) any { return &c.Path }},
	{"query", Text, func(c *ModelCall) any { return &c.Query }},
	{"status", Int, func(c *ModelCall) any { return &c.Status }},
	{"streamed", Bool, func(c *ModelCall) any { return &c.Streamed }},
	{"source", Text, func(c *ModelCall) any { return &c.Source }},
	{"model", Text, func(c *ModelCall) any { return &c.Model }},
	{"error", Text, func(c *ModelCall) any { return &c.Error }},
	{"match_key", Text, func(c *ModelCall) any { return &c.MatchKey }},
	{"started_at", Time, func(c *ModelCall) any { return &c.StartedAt }},
	{"duration_ms", Float, func(c *ModelCall) any { return &c.DurationMs }},
	{"first_byte_ms", Float, func(c *ModelCall) any { return &c.FirstByteMs }},
	{"request", JSON, func(c *ModelCall) any { return &c.Request }},
	{"response", JSON, func(c *ModelCall) any { return &c.Response }},
	{"created_at", Time, func(c *ModelCall) any { return &c.CreatedAt }},
	{"input_tokens", Int, func(c *ModelCall) any { return &c.InputTokens }},
	{"output_tokens", Int, func(c *ModelCall) any { return &c.OutputTokens }},
	{"cache_read_tokens", Int, func(c *ModelCall) any { return &c.CacheReadTokens }},
	{"cache_write_tokens", Int, func(c *ModelCall) any { return &c.CacheWriteTokens }},
	{"reasoning_tokens", Int, func(c *ModelCall) any { return &c.ReasoningTokens }},
	{"usage_reported", Bool, func(c *ModelCall) any { return &c.UsageReported }},
	{"priced", Bool, func(c *ModelCall) any { return &c.Priced }},
	{"cost_usd", Float, func(c *ModelCall) any { return &c.CostUSD }},
	{"attempts", Int, func(c *ModelCall) any { return &c.Attempts }},
	{"queue_ms", Float, func(c *ModelCall) any { return &c.QueueMs }},
}}

// ModelCallRepository reads stored model calls (they are written with the
// checkpoints and results of a WriteSet).
type ModelCallRepository interface {
	// ForRuns returns, for each run key that has any, the calls of the most
	// recent finished node run recorded under it (from any batch), in order.
	ForRuns(ctx context.Context, runKeys []string) (map[string][]ModelCall, error)
	// Nearest returns the calls of the most recent finished run of node
	// (any run key), for a replay miss to compare against.
	Nearest(ctx context.Context, node string) ([]ModelCall, error)
	// ListByRuns returns the calls of a batch's node runs, by run id then
	// ordinal.
	ListByRuns(ctx context.Context, batchID string, runIDs []string) ([]ModelCall, error)
	// Each calls fn with each call of a batch, by run id then ordinal.
	Each(ctx context.Context, batchID string, fn func(*ModelCall) error) error
	// Count says how many calls a batch stored, by source.
	Count(ctx context.Context, batchID string) (map[string]int, error)
}
