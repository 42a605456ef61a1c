package sdk

import "time"

// Model-call gateway modes.
const (
	// ModeLive forwards every call to its upstream and keeps nothing.
	ModeLive = "live"
	// ModeRecord forwards every call and records it.
	ModeRecord = "record"
	// ModeReplay answers every call from recordings; a call no recording
	// matches fails the node, and nothing reaches an upstream.
	ModeReplay = "replay"
	// ModeAuto replays what is recorded and records what is not.
	ModeAuto = "auto"
)

// Interaction sources.
const (
	SourceLive     = "live"
	SourceRecorded = "recorded"
	SourceReplayed = "replayed"
)

// ModelCalls configures the model-call gateway that runs beside the nodes (see
// package sdk/gateway): which upstreams the nodes call and what to do with the
// calls. The executor sets each node's environment so its SDK talks to the
// gateway, and returns the calls with the node's result.
type ModelCalls struct {
	// Mode is ModeLive, ModeRecord, ModeReplay or ModeAuto.
	Mode      string
	Upstreams []Upstream
	// Proxy gives nodes HTTPS_PROXY/HTTP_PROXY and a CA made by the gateway
	// instead of base-URL variables, for clients that have no base-URL
	// setting. OtherHosts says what happens to hosts that are no upstream:
	// "pass" (default) or "deny".
	Proxy      bool
	OtherHosts string
	// IgnoreJSONPaths are left out of request bodies when matching
	// ("$.user", "$.metadata.request_id", "$.messages[*].id").
	IgnoreJSONPaths []string
	// MatchHeaders are the request headers that take part in matching.
	MatchHeaders []string
	// RedactHeaders are never stored, beside Authorization, x-api-key,
	// api-key, cookies and proxy credentials.
	RedactHeaders []string
	// MaskEnv names environment variables whose values are masked in stored
	// bodies (beside every upstream's API key variable).
	MaskEnv []string
	// Pace is how streamed responses replay: "fast" (default) or "recorded".
	Pace string
	// MaxRecordingBytes bounds what one node run records; past it the run
	// fails rather than store a partial recording. Zero: 64 MiB.
	MaxRecordingBytes int64
	// Budget, when set, bounds what the request's execution spends on
	// calls: the gateway refuses a call once it is spent.
	Budget *CallBudget
}

// CallBudget bounds one execution's calls to the upstreams. The gateway
// counts what the calls of the request's node runs use, from SpentTokens and
// SpentUSD (what the execution spent before the request: earlier segments,
// perhaps on other workers), and refuses a call to an upstream once the
// total has reached Tokens or USD. Calls already sent finish, so an
// execution may end a little past its budget, never a whole node run past.
// Replayed calls spend nothing.
type CallBudget struct {
	// Tokens is the most tokens of every kind; zero: no bound in tokens.
	Tokens int64
	// USD is the most US dollars; zero: no bound in dollars.
	USD         float64
	SpentTokens int64
	SpentUSD    float64
	// Prices turn a call's usage into dollars; a call whose model has no
	// price counts none (the host reports it as unpriced).
	Prices []Price
}

// Recording says whether calls are recorded in this mode.
func (m *ModelCalls) Recording() bool {
	return m != nil && (m.Mode == ModeRecord || m.Mode == ModeAuto)
}

// Replaying says whether calls are answered from recordings in this mode.
func (m *ModelCalls) Replaying() bool {
	return m != nil && (m.Mode == ModeReplay || m.Mode == ModeAuto)
}

// Upstream is a model API the nodes call through the gateway.
type Upstream struct {
	Name string
	// URL is the base URL: what follows the gateway's path for this upstream
	// is appended to it.
	URL string
	// BaseURLEnv is the variable the node's SDK reads its base URL from
	// (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, ...).
	BaseURLEnv string
	// APIKeyEnv names the variable holding the API key. When replaying and the
	// node's environment has none, it is set to a placeholder: SDKs that
	// insist on a key start, and no key is needed.
	APIKeyEnv string
	// CAPEM are certificates trusted for this upstream beside the system's.
	CAPEM []byte
	// Timeout bounds one call; zero: only the node's timeout.
	Timeout time.Duration
	// Limits keep the calls to this upstream within what its provider
	// allows. They hold for every node run of one gateway (one per runner
	// process: the whole batch on the pool runner, one worker on Temporal or
	// Ray).
	Limits Limits
}

// Limits are an upstream's rate limits, as the gateway keeps them. A call
// waits in the gateway for its turn; the time it waits is its QueueTime, kept
// apart from its latency. Zero values mean no limit (and no retries).
type Limits struct {
	// MaxConcurrency bounds the calls in flight at once. Whatever it is, the
	// gateway halves the calls it lets through when the upstream pushes back
	// (429, 503, 529) and adds one per round of successes up to the bound
	// again (AIMD); zero is no bound until the upstream pushes back.
	MaxConcurrency int
	// RequestsPerMinute paces calls evenly (one every 60/N seconds).
	RequestsPerMinute float64
	// TokensPerMinute bounds the tokens (every kind the response reports)
	// per minute: a call waits while the minute's tokens are spent.
	TokensPerMinute int64
	// Retries is how many times a call the upstream pushed back on is sent
	// again, after its Retry-After (or a backoff of 1 s, 2 s, 4 s, ...); the
	// node sees only the last answer.
	Retries int
	// MaxRetryWait caps a Retry-After the gateway honours (and its backoff).
	MaxRetryWait time.Duration
}

// Limited says whether any limit is set.
func (l Limits) Limited() bool {
	return l.MaxConcurrency > 0 || l.RequestsPerMinute > 0 || l.TokensPerMinute > 0 || l.Retries > 0
}

// Recordings are what the gateway may replay for one node run.
type Recordings struct {
	// RunKey is the node run's identity (Node.RunKey).
	RunKey       string
	Interactions []Interaction
	// Nearest are recorded requests of other runs of the same node, sent only
	// so that a replay miss can show the closest recorded request. Never
	// served.
	Nearest []Interaction
	// Origin says where they came from (a batch, a cassette file).
	Origin string
}

// Interaction is one call to an upstream and its response, as the gateway saw
// it. Secrets are never in it: credentials headers are left out and the
// values of secret variables masked in bodies.
type Interaction struct {
	// Ordinal is the call's place in its node run, from 0.
	Ordinal  int
	Upstream string
	Method   string
	// Path below the upstream's base URL, and the raw query.
	Path           string
	Query          string
	RequestHeaders map[string]string
	RequestBody    []byte
	// Status is the HTTP status, 0 when no response came (see Error).
	Status          int
	ResponseHeaders map[string]string
	// ResponseBody is the whole body of a response that was not streamed;
	// Chunks are the pieces of one that was.
	ResponseBody []byte
	Chunks       []Chunk
	Streamed     bool
	// Source is SourceLive, SourceRecorded or SourceReplayed.
	Source    string
	Started   time.Time
	Duration  time.Duration
	FirstByte time.Duration
	Error     string
	// MatchKey is the hash replay matches requests on.
	MatchKey string
	// Model is the model the response (or the request) names.
	Model string
	// Usage is what the response says the call used.
	Usage Usage
	// Attempts is how many times the gateway sent the call (more than one
	// when the upstream pushed back and it retried); 0 for a replayed call.
	Attempts int
	// QueueTime is how long the call waited in the gateway before the
	// attempt that answered it: for a turn under the upstream's limits, and
	// for the attempts the upstream pushed back on with the waits after
	// them. Started is when that last attempt was sent; Duration and
	// FirstByte count from it, so latency never includes the queue.
	QueueTime time.Duration
}

// Usage is a call's tokens by kind, as its response reports them. The kinds
// are disjoint (they add up to the call's total, each billed at its own
// price): Input is the prompt not read from a cache, Output the answer
// without reasoning. Reported is false when the response said nothing of its
// usage — not a call of 0 tokens.
type Usage struct {
	Input      int64
	Output     int64
	CacheRead  int64
	CacheWrite int64
	Reasoning  int64
	Reported   bool
}

// Total is every token of the call.
func (u Usage) Total() int64 { return u.Input + u.Output + u.CacheRead + u.CacheWrite + u.Reasoning }

// Plus adds o's tokens to u's: the usage of two calls, or of a call and a
// total so far. It is reported when either is.
func (u Usage) Plus(o Usage) Usage {
	return Usage{Input: u.Input + o.Input, Output: u.Output + o.Output, CacheRead: u.CacheRead + o.CacheRead,
		CacheWrite: u.CacheWrite + o.CacheWrite, Reasoning: u.Reasoning + o.Reasoning, Reported: u.Reported || o.Reported}
}

// Chunk is a piece of a streamed response.
type Chunk struct {
	Data []byte
	// Offset is the time since the request started.
	Offset time.Duration
}
