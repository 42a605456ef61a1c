// Package modelcalls moves the model calls the gateway saw between their
// three forms: sdk.Interaction (what travels with a node run's result),
// store.ModelCall (a row of wtb_model_calls) and Call (the document stored in
// that row's request and response columns, shown by `wtb show` and written to
// cassette files). Bodies are kept readable: JSON as JSON, text as text,
// anything else as base64.
package modelcalls

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// Body is a request or response body, in the most readable form it allows:
// exactly one of JSON, Text and Base64 is set (none for an empty body).
type Body struct {
	JSON   json.RawMessage `json:"json,omitempty"`
	Text   *string         `json:"text,omitempty"`
	Base64 string          `json:"base64,omitempty"`
}

// NewBody picks the form for b.
func NewBody(b []byte) Body {
	trimmed := bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return Body{}
	case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed):
		return Body{JSON: json.RawMessage(trimmed)}
	case utf8.Valid(b) && !bytes.ContainsRune(b, 0):
		s := string(b)
		return Body{Text: &s}
	}
	return Body{Base64: base64.StdEncoding.EncodeToString(b)}
}

// Bytes returns the body's bytes.
func (b Body) Bytes() []byte {
	switch {
	case len(b.JSON) > 0:
		return []byte(b.JSON)
	case b.Text != nil:
		return []byte(*b.Text)
	case b.Base64 != "":
		out, _ := base64.StdEncoding.DecodeString(b.Base64)
		return out
	}
	return nil
}

// Request is the request column: headers (secrets never among them) and the
// body.
type Request struct {
	Headers map[string]string `json:"headers"`
	Body
}

// Response is the response column: headers, and the body whole or, when it
// streamed, in its chunks.
type Response struct {
	Headers map[string]string `json:"headers"`
	Body
	Chunks []Chunk `json:"chunks,omitempty"`
}

// Chunk is a piece of a streamed response and when it came.
type Chunk struct {
	Body
	AtMs float64 `json:"at_ms"`
}

// Where a call belongs: the node run that made it.
type Where struct {
	BatchID, RunID, RunKey, Node, ExecutionKey, Outcome string
}

// ToStore turns a call into its row, priced by prices (nil: unpriced).
func ToStore(w Where, x sdk.Interaction, created time.Time, prices *Prices) store.ModelCall {
	req := Request{Headers: orEmpty(x.RequestHeaders), Body: NewBody(x.RequestBody)}
	resp := Response{Headers: orEmpty(x.ResponseHeaders), Body: NewBody(x.ResponseBody)}
	for _, c := range x.Chunks {
		resp.Chunks = append(resp.Chunks, Chunk{Body: NewBody(c.Data), AtMs: ms(c.Offset)})
	}
	reqJSON, _ := json.Marshal(req)
	respJSON, _ := json.Marshal(resp)
	m := store.ModelCall{BatchID: w.BatchID, RunID: w.RunID, Ordinal: x.Ordinal, RunKey: w.RunKey, Outcome: w.Outcome,
		Node: w.Node, ExecutionKey: w.ExecutionKey, Upstream: x.Upstream, Method: x.Method, Path: x.Path, Query: x.Query,
		Status: x.Status, Streamed: x.Streamed, Source: x.Source, Model: x.Model, Error: x.Error, MatchKey: x.MatchKey,
		StartedAt: x.Started, DurationMs: ms(x.Duration), FirstByteMs: ms(x.FirstByte), Request: reqJSON, Response: respJSON,
		CreatedAt: created, InputTokens: int(x.Usage.Input), OutputTokens: int(x.Usage.Output), CacheReadTokens: int(x.Usage.CacheRead),
		CacheWriteTokens: int(x.Usage.CacheWrite), ReasoningTokens: int(x.Usage.Reasoning), UsageReported: x.Usage.Reported,
		Attempts: x.Attempts, QueueMs: ms(x.QueueTime)}
	m.CostUSD, m.Priced = prices.Cost(x.Model, x.Usage)
	return m
}

// UsageOf is a stored call's usage.
func UsageOf(c store.ModelCall) sdk.Usage {
	return sdk.Usage{Input: int64(c.InputTokens), Output: int64(c.OutputTokens), CacheRead: int64(c.CacheReadTokens),
		CacheWrite: int64(c.CacheWriteTokens), Reasoning: int64(c.ReasoningTokens), Reported: c.UsageReported}
}

// FromStore turns a row back into a call, to replay it.
func FromStore(c store.ModelCall) sdk.Interaction {
	var req Request
	var resp Response
	_ = json.Unmarshal(c.Request, &req)
	_ = json.Unmarshal(c.Response, &resp)
	x := sdk.Interaction{Ordinal: c.Ordinal, Upstream: c.Upstream, Method: c.Method, Path: c.Path, Query: c.Query,
		RequestHeaders: req.Headers, RequestBody: req.Bytes(), Status: c.Status, ResponseHeaders: resp.Headers,
		ResponseBody: resp.Bytes(), Streamed: c.Streamed, Source: c.Source, Started: c.StartedAt,
		Duration: dur(c.DurationMs), FirstByte: dur(c.FirstByteMs), Error: c.Error, MatchKey: c.MatchKey, Model: c.Model,
		Usage: UsageOf(c)}
	for _, ch := range resp.Chunks {
		x.Chunks = append(x.Chunks, sdk.Chunk{Data: ch.Bytes(), Offset: dur(ch.AtMs)})
	}
	return x
}

// FromStoreAll converts rows.
func FromStoreAll(cs []store.ModelCall) []sdk.Interaction {
	out := make([]sdk.Interaction, len(cs))
	for i, c := range cs {
		out[i] = FromStore(c)
	}
	return out
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func dur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
