package config

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/wtbench/wtb/sdk/gateway"
)

// Gateway modes, as the gateway block and --model-calls spell them.
var GatewayModes = []string{"live", "record", "replay", "auto"}

// knownUpstreams fill in what a well-known upstream needs when its block
// leaves it out: the official SDKs' variables and the public base URLs.
var knownUpstreams = map[string]spec.Upstream{
	"openai":    {URL: "https://api.openai.com/v1", BaseURLEnv: "OPENAI_BASE_URL", APIKeyEnv: "OPENAI_API_KEY"},
	"anthropic": {URL: "https://api.anthropic.com", BaseURLEnv: "ANTHROPIC_BASE_URL", APIKeyEnv: "ANTHROPIC_API_KEY"},
}

var gatewaySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "mode"}, {Name: "cassettes"}, {Name: "proxy"}, {Name: "other_hosts"}, {Name: "ignore_json_paths"},
		{Name: "match_headers"}, {Name: "redact_headers"}, {Name: "mask_env"}, {Name: "pace"}, {Name: "max_recording_bytes"},
		{Name: "prices"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "upstream", LabelNames: []string{"name"}}, {Type: "price", LabelNames: []string{"model"}}},
}

var priceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "input", Required: true}, {Name: "output", Required: true}, {Name: "cache_read"},
		{Name: "cache_write"}, {Name: "reasoning"}, {Name: "date"}},
	Blocks: []hcl.BlockHeaderSchema{{Type: "tier"}},
}

var tierSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "above", Required: true}, {Name: "input", Required: true},
	{Name: "output", Required: true}, {Name: "cache_read"}, {Name: "cache_write"}, {Name: "reasoning"}}}

var upstreamSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "url"}, {Name: "base_url_env"}, {Name: "api_key_env"}, {Name: "ca_file"}, {Name: "timeout"},
	{Name: "max_concurrency"}, {Name: "requests_per_minute"}, {Name: "tokens_per_minute"}, {Name: "retries"}, {Name: "max_retry_wait"},
}}

// Retries of a call the upstream pushed back on (429, 503, 529) unless the
// upstream block says otherwise: with backoffs of 1, 2, 4 and 8 s (or the
// upstream's Retry-After), about 15 s of a provider's bad minute.
const (
	defaultRetries      = 4
	defaultMaxRetryWait = gateway.DefaultMaxRetryWait
)

// decodeGateway decodes the gateway block. Every problem is located; the
// block is kept (as far as it decoded) so later checks see it.
func (c *Config) decodeGateway(b *hcl.Block) hcl.Diagnostics {
	body, diags := content(b.Body, gatewaySchema)
	a := &attrs{m: body.Attributes, ctx: c.ctx, diags: diags}
	g := &spec.Gateway{Mode: a.str("mode", "live"), Proxy: a.boolean("proxy", false), OtherHosts: a.str("other_hosts", "pass"),
		Pace: a.str("pace", "fast")}
	oneOf := func(attr, got string, allowed []string) {
		for _, x := range allowed {
			if got == x {
				return
			}
		}
		a.errorf(attr, "Invalid value", "%q must be one of %s; got %q.%s", attr, quoteAll(allowed), got, suggest.DidYouMean(got, allowed))
	}
	oneOf("mode", g.Mode, GatewayModes)
	oneOf("other_hosts", g.OtherHosts, []string{"pass", "deny"})
	oneOf("pace", g.Pace, []string{"fast", "recorded"})
	if a.has("other_hosts") && !g.Proxy {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "other_hosts without proxy",
			Detail: "other_hosts only applies in proxy mode (proxy = true): in base-URL mode a node reaches other hosts directly.", Subject: a.rng("other_hosts")})
	}
	if s := a.str("cassettes", ""); s != "" {
		g.Cassettes = resolvePath(c.Dir, s)
		if fi, err := os.Stat(g.Cassettes); err == nil && !fi.IsDir() {
			a.errorf("cassettes", "Not a directory", "cassettes names %s, which is not a directory (wtb cassettes export BATCH DIR writes one).", g.Cassettes)
		}
	}
	if paths, ok := a.strings("ignore_json_paths"); ok {
		for _, p := range paths {
			if _, err := gateway.ParseJSONPath(p); err != nil {
				a.errorf("ignore_json_paths", "Invalid JSON path", "%s. Paths look like $.user, $.metadata.request_id or $.messages[*].id.", err)
			}
		}
		g.IgnoreJSONPaths = paths
	}
	for _, attr := range []struct {
		name string
		into *[]string
	}{{"match_headers", &g.MatchHeaders}, {"redact_headers", &g.RedactHeaders}, {"mask_env", &g.MaskEnv}} {
		if v, ok := a.strings(attr.name); ok {
			*attr.into = v
		}
	}
	for _, h := range g.MatchHeaders {
		if lh := strings.ToLower(h); lh == "authorization" || lh == "x-api-key" || lh == "api-key" || lh == "cookie" {
			a.errorf("match_headers", "A secret header cannot be matched", "%q carries a credential: it is never stored, so it cannot take part in matching.", h)
		}
	}
	if a.has("max_recording_bytes") {
		g.MaxRecordingBytes = int64(a.integer("max_recording_bytes", 0, 1, 1<<40))
	}
	if f := a.str("prices", ""); f != "" {
		ps, err := readPrices(resolvePath(c.Dir, f))
		if err != nil {
			a.errorf("prices", "Cannot read the price table", "%v.", err)
		}
		g.Prices = append(g.Prices, ps...)
	}
	seen := map[string]hcl.Range{}
	envs := map[string]string{}
	priced := map[string]hcl.Range{}
	for _, ub := range body.Blocks {
		if ub.Type == "price" {
			if prev, ok := priced[ub.Labels[0]]; ok {
				a.diags = append(a.diags, dupBlock("price", ub.Labels[0], ub.DefRange, prev))
				continue
			}
			priced[ub.Labels[0]] = ub.DefRange
			p, d := c.decodePrice(ub)
			a.diags = append(a.diags, d...)
			g.Prices = append(g.Prices, p)
			continue
		}
		name := ub.Labels[0]
		if prev, ok := seen[name]; ok {
			a.diags = append(a.diags, dupBlock("upstream", name, ub.DefRange, prev))
			continue
		}
		seen[name] = ub.DefRange
		u, d := c.decodeUpstream(ub, g.Proxy)
		a.diags = append(a.diags, d...)
		if u == nil {
			continue
		}
		if u.BaseURLEnv != "" {
			if other, dup := envs[u.BaseURLEnv]; dup {
				a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Two upstreams set one variable",
					Detail:  fmt.Sprintf("Upstreams %q and %q both set %s; a node can point one variable at one upstream.", other, name, u.BaseURLEnv),
					Subject: ub.DefRange.Ptr()})
			}
			envs[u.BaseURLEnv] = name
		}
		g.Upstreams = append(g.Upstreams, *u)
	}
	if len(g.Upstreams) == 0 && len(seen) == 0 {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "A gateway needs an upstream",
			Detail: `Name the model APIs the nodes call, e.g.
  upstream "openai" {}                     # https://api.openai.com/v1 via OPENAI_BASE_URL
  upstream "local" { url = "http://127.0.0.1:4000/v1", base_url_env = "OPENAI_BASE_URL" }`,
			Subject: b.DefRange.Ptr()})
	}
	// A missing cassettes directory is checked when the batch runs: the mode
	// that matters may come from --model-calls.
	c.Gateway, c.gatewayRange = g, b.DefRange
	return a.diags
}

func (c *Config) decodeUpstream(b *hcl.Block, proxy bool) (*spec.Upstream, hcl.Diagnostics) {
	name := b.Labels[0]
	body, diags := content(b.Body, upstreamSchema)
	a := &attrs{m: body.Attributes, ctx: c.ctx, diags: diags}
	if !validName(name) || strings.ContainsAny(name, "/.") {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid upstream name",
			Detail: fmt.Sprintf("%q cannot name an upstream: use letters, digits, - and _ (it is part of the base URL).", name), Subject: b.LabelRanges[0].Ptr()})
	}
	known := knownUpstreams[name]
	u := &spec.Upstream{Name: name, URL: a.str("url", known.URL), BaseURLEnv: a.str("base_url_env", known.BaseURLEnv),
		APIKeyEnv: a.str("api_key_env", known.APIKeyEnv), Timeout: spec.Duration(a.duration("timeout", 0)),
		MaxConcurrency: a.integer("max_concurrency", 0, 1, 100000), Retries: a.integer("retries", defaultRetries, 0, 100),
		MaxRetryWait: spec.Duration(a.duration("max_retry_wait", defaultMaxRetryWait))}
	if a.has("requests_per_minute") {
		if u.RequestsPerMinute = a.number("requests_per_minute", 0); u.RequestsPerMinute <= 0 && !a.failed("requests_per_minute") {
			a.errorf("requests_per_minute", "Value out of range", "requests_per_minute must be more than 0 (leave it out for no limit); got %s.",
				strconv.FormatFloat(u.RequestsPerMinute, 'g', -1, 64))
		}
	}
	if a.has("tokens_per_minute") {
		u.TokensPerMinute = int64(a.integer("tokens_per_minute", 0, 1, 1<<40))
	}
	if u.MaxRetryWait <= 0 && a.has("max_retry_wait") {
		a.errorf("max_retry_wait", "Value out of range", "max_retry_wait must be more than 0 (retries = 0 turns retries off).")
	}
	if u.URL == "" {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing upstream URL",
			Detail: fmt.Sprintf("Upstream %q needs url = \"https://…\" (only %s have a default).", name, quoteAll(sortedKnown())), Subject: b.DefRange.Ptr()})
	} else if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		a.errorf("url", "Invalid upstream URL", "url must be an absolute http:// or https:// URL such as \"https://api.openai.com/v1\"; got %q.", u.URL)
	}
	if !proxy && u.BaseURLEnv == "" {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No way for nodes to reach the upstream",
			Detail:  fmt.Sprintf("Upstream %q has no base_url_env: name the variable the node's SDK reads its base URL from (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, …), or set proxy = true in the gateway block for clients that have none.", name),
			Subject: b.DefRange.Ptr()})
	}
	if f := a.str("ca_file", ""); f != "" {
		u.CAFile = resolvePath(c.Dir, f)
		pemBytes, err := os.ReadFile(u.CAFile)
		switch {
		case err != nil:
			a.errorf("ca_file", "Cannot read the CA file", "%v.", err)
		case !x509.NewCertPool().AppendCertsFromPEM(pemBytes):
			a.errorf("ca_file", "No certificate in the CA file", "%s holds no PEM certificate.", u.CAFile)
		default:
			u.CAPEM = string(pemBytes)
		}
	}
	if a.diags.HasErrors() {
		return nil, a.diags
	}
	return u, a.diags
}

// decodePrice decodes a price block: dollars per million tokens, cache and
// reasoning prices defaulting to the input and output prices (an
// approximation the README states; set them when the provider differs).
func (c *Config) decodePrice(b *hcl.Block) (spec.Price, hcl.Diagnostics) {
	body, diags := content(b.Body, priceSchema)
	a := &attrs{m: body.Attributes, ctx: c.ctx, diags: diags}
	p := spec.Price{Model: b.Labels[0], Date: a.str("date", "")}
	p.Input, p.Output, p.CacheRead, p.CacheWrite, p.Reasoning = prices(a)
	for _, tb := range body.Blocks {
		tbody, d := content(tb.Body, tierSchema)
		ta := &attrs{m: tbody.Attributes, ctx: c.ctx, diags: d}
		t := spec.PriceTier{Above: int64(ta.integer("above", 0, 0, 1<<40))}
		t.Input, t.Output, t.CacheRead, t.CacheWrite, t.Reasoning = prices(ta)
		a.diags = append(a.diags, ta.diags...)
		p.Tiers = append(p.Tiers, t)
	}
	if strings.Count(p.Model, "*") > 1 || (strings.Contains(p.Model, "*") && !strings.HasSuffix(p.Model, "*")) {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid model pattern",
			Detail: fmt.Sprintf("%q: a price names a model, or a prefix ending in * (\"gpt-4o-mini*\").", p.Model), Subject: b.LabelRanges[0].Ptr()})
	}
	return p, a.diags
}

// prices reads the per-million prices of a price or tier block.
func prices(a *attrs) (in, out, cacheRead, cacheWrite, reasoning float64) {
	get := func(name string, def float64) float64 {
		if !a.has(name) {
			return def
		}
		v := a.number(name, def)
		if v < 0 {
			a.errorf(name, "Invalid price", "%q is dollars per million tokens and cannot be negative; got %g.", name, v)
		}
		return v
	}
	in, out = get("input", 0), get("output", 0)
	return in, out, get("cache_read", in), get("cache_write", in), get("reasoning", out)
}

// readPrices reads a price table file: a JSON array of prices as the
// gateway block's price blocks write them ({"model", "input", "output",
// "cache_read", "cache_write", "reasoning", "date", "tiers"}).
func readPrices(path string) ([]spec.Price, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		spec.Price
		CacheRead  *float64 `json:"cache_read"`
		CacheWrite *float64 `json:"cache_write"`
		Reasoning  *float64 `json:"reasoning"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: a price table is a JSON array of {\"model\", \"input\", \"output\", …} in dollars per million tokens: %v", path, err)
	}
	out := make([]spec.Price, len(raw))
	for i, r := range raw {
		p := r.Price
		p.CacheRead, p.CacheWrite, p.Reasoning = p.Input, p.Input, p.Output
		if r.CacheRead != nil {
			p.CacheRead = *r.CacheRead
		}
		if r.CacheWrite != nil {
			p.CacheWrite = *r.CacheWrite
		}
		if r.Reasoning != nil {
			p.Reasoning = *r.Reasoning
		}
		if p.Model == "" {
			return nil, fmt.Errorf("%s: entry %d names no model", path, i+1)
		}
		out[i] = p
	}
	return out, nil
}

func sortedKnown() []string {
	var out []string
	for k := range knownUpstreams {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
