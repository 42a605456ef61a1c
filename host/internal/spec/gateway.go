package spec

import "github.com/wtbench/wtb/sdk"

// Budget bounds what model calls may cost, in dollars (by the gateway's
// price table) and in tokens (every kind), for the batch and for each
// execution; zero is no bound. Only calls sent to an upstream count
// (live or recorded): a replayed call costs nothing.
type Budget struct {
	USD             float64 `json:"usd,omitempty"`
	Tokens          int64   `json:"tokens,omitempty"`
	ExecutionUSD    float64 `json:"execution_usd,omitempty"`
	ExecutionTokens int64   `json:"execution_tokens,omitempty"`
	// AllowUnpriced lets a dollar budget go on past calls with no price
	// (which it cannot count); otherwise the first one stops the batch.
	AllowUnpriced bool `json:"allow_unpriced,omitempty"`
}

// InDollars says whether the budget bounds dollars anywhere.
func (b *Budget) InDollars() bool { return b != nil && (b.USD > 0 || b.ExecutionUSD > 0) }

// Gateway is the gateway block: the model APIs the nodes call, through the
// model-call gateway beside them, and what to do with the calls.
type Gateway struct {
	// Mode is live, record, replay or auto (--model-calls overrides it).
	Mode string `json:"mode"`
	// Cassettes is a directory of exported recordings to replay from
	// (resolved against the bench file's directory); "" replays from the
	// database.
	Cassettes         string     `json:"cassettes,omitempty"`
	Proxy             bool       `json:"proxy,omitempty"`
	OtherHosts        string     `json:"other_hosts,omitempty"`
	IgnoreJSONPaths   []string   `json:"ignore_json_paths,omitempty"`
	MatchHeaders      []string   `json:"match_headers,omitempty"`
	RedactHeaders     []string   `json:"redact_headers,omitempty"`
	MaskEnv           []string   `json:"mask_env,omitempty"`
	Pace              string     `json:"pace,omitempty"`
	MaxRecordingBytes int64      `json:"max_recording_bytes,omitempty"`
	Upstreams         []Upstream `json:"upstreams"`
	// Prices are what model calls cost, per model (see Price).
	Prices []Price `json:"prices,omitempty"`
}

// Price is what a model's tokens cost (see sdk.Price): the gateway prices
// calls by the same type for an execution's budget.
type Price = sdk.Price

// PriceTier is a price for prompts past a size (see sdk.PriceTier).
type PriceTier = sdk.PriceTier

// Upstream is an upstream block of the gateway.
type Upstream struct {
	Name       string `json:"name"`
	URL        string `json:"url"`
	BaseURLEnv string `json:"base_url_env,omitempty"`
	APIKeyEnv  string `json:"api_key_env,omitempty"`
	// CAFile is where the CA came from; CAPEM its contents when the batch was
	// created (a resume, a remote worker need no file).
	CAFile  string   `json:"ca_file,omitempty"`
	CAPEM   string   `json:"ca_pem,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
	// The provider's limits the gateway keeps (sdk.Limits).
	MaxConcurrency    int      `json:"max_concurrency,omitempty"`
	RequestsPerMinute float64  `json:"requests_per_minute,omitempty"`
	TokensPerMinute   int64    `json:"tokens_per_minute,omitempty"`
	Retries           int      `json:"retries,omitempty"`
	MaxRetryWait      Duration `json:"max_retry_wait,omitempty"`
}

// Identity is what of the gateway a node run's recordings are kept under:
// the names of the upstreams it may call. Not their URLs — recordings made
// against a local or mock server replay under a bench file that names the
// real one (the request, model included, must still match exactly) — nor the
// mode (a recording replays under the identity it was recorded under), nor
// the matching rules.
func (g *Gateway) Identity() string {
	if g == nil {
		return ""
	}
	parts := []string{"gateway-v1"}
	for _, u := range g.Upstreams {
		parts = append(parts, u.Name)
	}
	return HashStrings(parts...)
}

// CacheIdentity is what of the gateway the node cache keys on: the
// upstreams and their URLs (a cached answer of one provider is no answer of
// another).
func (g *Gateway) CacheIdentity() string {
	if g == nil {
		return ""
	}
	parts := []string{"gateway-cache-v1"}
	for _, u := range g.Upstreams {
		parts = append(parts, u.Name+"="+u.URL)
	}
	return HashStrings(parts...)
}
