package jsondoc

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// ModelCall is one call a node run made to a model API through the gateway:
// its request and response as stored (credentials are never stored; secret
// values are masked).
type ModelCall struct {
	Ordinal int `json:"ordinal"`
	// Attempt is the failed attempt it belongs to, 0 for the node run that
	// finished.
	Attempt     int       `json:"attempt"`
	Upstream    string    `json:"upstream"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Query       string    `json:"query"`
	Model       string    `json:"model"`
	Status      int       `json:"status"`
	Source      string    `json:"source"` // live, recorded or replayed
	Streamed    bool      `json:"streamed"`
	StartedAt   time.Time `json:"started_at"`
	DurationMs  float64   `json:"duration_ms"`
	FirstByteMs float64   `json:"first_byte_ms"`
	// Sends is how many times the gateway sent the call (more than 1 after
	// a push back; 0 when replayed); QueueMs how long it waited in the
	// gateway, which DurationMs leaves out.
	Sends    int             `json:"sends"`
	QueueMs  float64         `json:"queue_ms"`
	Error    string          `json:"error"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
	// Usage is what the response reported (null: it reported none, which is
	// not 0 tokens); CostUSD what it cost by the price table (null:
	// unpriced, never $0).
	Usage   *Usage   `json:"usage"`
	CostUSD *float64 `json:"cost_usd"`
}

// Usage is a call's tokens by kind (the kinds are disjoint).
type Usage struct {
	Input      int `json:"input_tokens"`
	Output     int `json:"output_tokens"`
	CacheRead  int `json:"cache_read_tokens"`
	CacheWrite int `json:"cache_write_tokens"`
	Reasoning  int `json:"reasoning_tokens"`
}

// modelCallsByNode sorts an execution's calls into its nodes.
func modelCallsByNode(calls []store.ModelCall, red *spec.Redactor) map[string][]ModelCall {
	out := map[string][]ModelCall{}
	for _, c := range calls {
		out[c.Node] = append(out[c.Node], modelCallOf(c, red))
	}
	return out
}

// modelCallOf describes one stored call.
func modelCallOf(c store.ModelCall, red *spec.Redactor) ModelCall {
	attempt := 0
	if i := strings.LastIndex(c.RunID, "#a"); i >= 0 {
		attempt, _ = strconv.Atoi(c.RunID[i+2:])
	}
	m := ModelCall{Ordinal: c.Ordinal, Attempt: attempt, Upstream: c.Upstream, Method: c.Method,
		Path: c.Path, Query: red.String(c.Query), Model: c.Model, Status: c.Status, Source: c.Source, Streamed: c.Streamed,
		StartedAt: c.StartedAt, DurationMs: c.DurationMs, FirstByteMs: c.FirstByteMs, Sends: c.Attempts, QueueMs: c.QueueMs, Error: red.String(c.Error),
		Request: red.JSON(c.Request), Response: red.JSON(c.Response)}
	if c.UsageReported {
		m.Usage = &Usage{Input: c.InputTokens, Output: c.OutputTokens, CacheRead: c.CacheReadTokens, CacheWrite: c.CacheWriteTokens,
			Reasoning: c.ReasoningTokens}
	}
	if c.Priced {
		cost := c.CostUSD
		m.CostUSD = &cost
	}
	return m
}
