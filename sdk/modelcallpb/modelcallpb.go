// Package modelcallpb converts the SDK's model-call types (sdk.ModelCalls,
// sdk.Recordings, sdk.Interaction) to and from their protobuf form
// (wtb.modelcall.v1), which both wtb.runner.v1 and wtb.remote.v1 carry. The
// SDK's own serving code uses it; so can a runner or a remote execution
// service that speaks the contract by hand.
package modelcallpb

import (
	"time"

	modelcallv1 "github.com/wtbench/wtb/proto/wtb/modelcall/v1"
	"github.com/wtbench/wtb/sdk"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ConfigToProto converts a gateway configuration (nil stays nil).
func ConfigToProto(c *sdk.ModelCalls) *modelcallv1.Config {
	if c == nil {
		return nil
	}
	p := &modelcallv1.Config{Mode: c.Mode, Proxy: c.Proxy, OtherHosts: c.OtherHosts, IgnoreJsonPaths: c.IgnoreJSONPaths,
		MatchHeaders: c.MatchHeaders, RedactHeaders: c.RedactHeaders, MaskEnv: c.MaskEnv, Pace: c.Pace,
		MaxRecordingBytes: c.MaxRecordingBytes, Budget: budgetToProto(c.Budget)}
	for _, u := range c.Upstreams {
		p.Upstreams = append(p.Upstreams, &modelcallv1.Upstream{Name: u.Name, Url: u.URL, BaseUrlEnv: u.BaseURLEnv,
			ApiKeyEnv: u.APIKeyEnv, CaPem: u.CAPEM, Timeout: duration(u.Timeout), Limits: limitsToProto(u.Limits)})
	}
	return p
}

// ConfigFromProto converts a wire gateway configuration (nil stays nil).
func ConfigFromProto(p *modelcallv1.Config) *sdk.ModelCalls {
	if p == nil {
		return nil
	}
	c := &sdk.ModelCalls{Mode: p.GetMode(), Proxy: p.GetProxy(), OtherHosts: p.GetOtherHosts(),
		IgnoreJSONPaths: p.GetIgnoreJsonPaths(), MatchHeaders: p.GetMatchHeaders(), RedactHeaders: p.GetRedactHeaders(),
		MaskEnv: p.GetMaskEnv(), Pace: p.GetPace(), MaxRecordingBytes: p.GetMaxRecordingBytes(), Budget: budgetFromProto(p.GetBudget())}
	for _, u := range p.GetUpstreams() {
		c.Upstreams = append(c.Upstreams, sdk.Upstream{Name: u.GetName(), URL: u.GetUrl(), BaseURLEnv: u.GetBaseUrlEnv(),
			APIKeyEnv: u.GetApiKeyEnv(), CAPEM: u.GetCaPem(), Timeout: u.GetTimeout().AsDuration(), Limits: limitsFromProto(u.GetLimits())})
	}
	return c
}

// RecordingsToProto converts the recordings of node runs.
func RecordingsToProto(rs []sdk.Recordings) []*modelcallv1.Recordings {
	if len(rs) == 0 {
		return nil
	}
	out := make([]*modelcallv1.Recordings, len(rs))
	for i, r := range rs {
		out[i] = &modelcallv1.Recordings{RunKey: r.RunKey, Interactions: InteractionsToProto(r.Interactions),
			Nearest: InteractionsToProto(r.Nearest), Origin: r.Origin}
	}
	return out
}

// RecordingsFromProto converts wire recordings.
func RecordingsFromProto(ps []*modelcallv1.Recordings) []sdk.Recordings {
	if len(ps) == 0 {
		return nil
	}
	out := make([]sdk.Recordings, len(ps))
	for i, p := range ps {
		out[i] = sdk.Recordings{RunKey: p.GetRunKey(), Interactions: InteractionsFromProto(p.GetInteractions()),
			Nearest: InteractionsFromProto(p.GetNearest()), Origin: p.GetOrigin()}
	}
	return out
}

// InteractionsToProto converts interactions.
func InteractionsToProto(is []sdk.Interaction) []*modelcallv1.Interaction {
	if len(is) == 0 {
		return nil
	}
	out := make([]*modelcallv1.Interaction, len(is))
	for i, x := range is {
		p := &modelcallv1.Interaction{Ordinal: int32(x.Ordinal), Upstream: x.Upstream, Method: x.Method, Path: x.Path,
			Query: x.Query, RequestHeaders: x.RequestHeaders, RequestBody: x.RequestBody, Status: int32(x.Status),
			ResponseHeaders: x.ResponseHeaders, ResponseBody: x.ResponseBody, Streamed: x.Streamed, Source: x.Source,
			Duration: duration(x.Duration), FirstByte: duration(x.FirstByte), Error: x.Error, MatchKey: x.MatchKey,
			Model: x.Model, Attempts: int32(x.Attempts), QueueTime: duration(x.QueueTime)}
		if x.Usage != (sdk.Usage{}) {
			p.Usage = &modelcallv1.Usage{InputTokens: x.Usage.Input, OutputTokens: x.Usage.Output, CacheReadTokens: x.Usage.CacheRead,
				CacheWriteTokens: x.Usage.CacheWrite, ReasoningTokens: x.Usage.Reasoning, Reported: x.Usage.Reported}
		}
		if !x.Started.IsZero() {
			p.Started = timestamppb.New(x.Started)
		}
		for _, c := range x.Chunks {
			p.Chunks = append(p.Chunks, &modelcallv1.Chunk{Data: c.Data, Offset: durationpb.New(c.Offset)})
		}
		out[i] = p
	}
	return out
}

// InteractionsFromProto converts wire interactions.
func InteractionsFromProto(ps []*modelcallv1.Interaction) []sdk.Interaction {
	if len(ps) == 0 {
		return nil
	}
	out := make([]sdk.Interaction, len(ps))
	for i, p := range ps {
		x := sdk.Interaction{Ordinal: int(p.GetOrdinal()), Upstream: p.GetUpstream(), Method: p.GetMethod(), Path: p.GetPath(),
			Query: p.GetQuery(), RequestHeaders: p.GetRequestHeaders(), RequestBody: p.GetRequestBody(), Status: int(p.GetStatus()),
			ResponseHeaders: p.GetResponseHeaders(), ResponseBody: p.GetResponseBody(), Streamed: p.GetStreamed(),
			Source: p.GetSource(), Duration: p.GetDuration().AsDuration(), FirstByte: p.GetFirstByte().AsDuration(),
			Error: p.GetError(), MatchKey: p.GetMatchKey(), Model: p.GetModel(), Attempts: int(p.GetAttempts()),
			QueueTime: p.GetQueueTime().AsDuration()}
		if u := p.GetUsage(); u != nil {
			x.Usage = sdk.Usage{Input: u.GetInputTokens(), Output: u.GetOutputTokens(), CacheRead: u.GetCacheReadTokens(),
				CacheWrite: u.GetCacheWriteTokens(), Reasoning: u.GetReasoningTokens(), Reported: u.GetReported()}
		}
		if t := p.GetStarted(); t != nil {
			x.Started = t.AsTime()
		}
		for _, c := range p.GetChunks() {
			x.Chunks = append(x.Chunks, sdk.Chunk{Data: c.GetData(), Offset: c.GetOffset().AsDuration()})
		}
		out[i] = x
	}
	return out
}

func budgetToProto(b *sdk.CallBudget) *modelcallv1.Budget {
	if b == nil {
		return nil
	}
	p := &modelcallv1.Budget{Tokens: b.Tokens, Usd: b.USD, SpentTokens: b.SpentTokens, SpentUsd: b.SpentUSD}
	for _, x := range b.Prices {
		q := &modelcallv1.Price{Model: x.Model, Input: x.Input, Output: x.Output, CacheRead: x.CacheRead,
			CacheWrite: x.CacheWrite, Reasoning: x.Reasoning, Date: x.Date}
		for _, t := range x.Tiers {
			q.Tiers = append(q.Tiers, &modelcallv1.PriceTier{Above: t.Above, Input: t.Input, Output: t.Output,
				CacheRead: t.CacheRead, CacheWrite: t.CacheWrite, Reasoning: t.Reasoning})
		}
		p.Prices = append(p.Prices, q)
	}
	return p
}

func budgetFromProto(p *modelcallv1.Budget) *sdk.CallBudget {
	if p == nil {
		return nil
	}
	b := &sdk.CallBudget{Tokens: p.GetTokens(), USD: p.GetUsd(), SpentTokens: p.GetSpentTokens(), SpentUSD: p.GetSpentUsd()}
	for _, q := range p.GetPrices() {
		x := sdk.Price{Model: q.GetModel(), Input: q.GetInput(), Output: q.GetOutput(), CacheRead: q.GetCacheRead(),
			CacheWrite: q.GetCacheWrite(), Reasoning: q.GetReasoning(), Date: q.GetDate()}
		for _, t := range q.GetTiers() {
			x.Tiers = append(x.Tiers, sdk.PriceTier{Above: t.GetAbove(), Input: t.GetInput(), Output: t.GetOutput(),
				CacheRead: t.GetCacheRead(), CacheWrite: t.GetCacheWrite(), Reasoning: t.GetReasoning()})
		}
		b.Prices = append(b.Prices, x)
	}
	return b
}

func limitsToProto(l sdk.Limits) *modelcallv1.Limits {
	if l == (sdk.Limits{}) {
		return nil
	}
	return &modelcallv1.Limits{MaxConcurrency: int32(l.MaxConcurrency), RequestsPerMinute: l.RequestsPerMinute,
		TokensPerMinute: l.TokensPerMinute, Retries: int32(l.Retries), MaxRetryWait: duration(l.MaxRetryWait)}
}

func limitsFromProto(p *modelcallv1.Limits) sdk.Limits {
	if p == nil {
		return sdk.Limits{}
	}
	return sdk.Limits{MaxConcurrency: int(p.GetMaxConcurrency()), RequestsPerMinute: p.GetRequestsPerMinute(),
		TokensPerMinute: p.GetTokensPerMinute(), Retries: int(p.GetRetries()), MaxRetryWait: p.GetMaxRetryWait().AsDuration()}
}

func duration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}
