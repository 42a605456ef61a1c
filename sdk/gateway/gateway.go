// Package gateway is the model-call gateway that runs beside the nodes: an
// HTTP server on loopback that every node process talks to instead of its
// model API. It forwards calls to the real upstream, records them, or answers
// them from recordings, and tells which node run made each call.
//
// Two ways in:
//
//   - Base-URL mode (default): a node's SDK base-URL variable
//     (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, ...) points at
//     http://127.0.0.1:PORT/wtb/TOKEN/UPSTREAM; what follows is appended to
//     the upstream's URL. No certificate is involved.
//   - Proxy mode: HTTPS_PROXY/HTTP_PROXY point at the gateway with the token
//     as proxy credentials; connections to upstream hosts are intercepted
//     with a certificate from a CA the gateway makes (its key never leaves
//     memory; its certificate is added to a bundle the trust variables name),
//     other hosts pass through or are refused.
//
// Attribution: every token names a Channel, and a channel serves one node run
// at a time (Bind). A one-shot node process gets a channel of its own; a
// persistent worker process keeps one for its life and the executor binds it
// to each request it sends. A call on a channel with no run bound is refused,
// so a call is never counted against the wrong run.
package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/wtbench/wtb/sdk"
)

// Gateway is one listener on loopback serving every channel of an executor.
type Gateway struct {
	ln   net.Listener
	srv  *http.Server
	base string // http://127.0.0.1:PORT

	mu       sync.Mutex
	channels map[string]*Channel

	proxy      *goproxy.ProxyHttpServer
	authority  *authority // made on first use of proxy mode
	authErr    error
	authOnce   sync.Once
	transports sync.Map // transportKey -> *http.Transport
	limiters   sync.Map // upstream name, URL and limits -> *limiter

	// Counters for the executor's metrics.
	Stats Stats
}

// Stats counts what the gateway did.
type Stats struct {
	Live, Replayed, Misses, Refused, Errors atomic.Int64
}

// New starts a gateway on a free loopback port.
func New() (*Gateway, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("model-call gateway: listening on loopback: %w", err)
	}
	g := &Gateway{ln: ln, base: "http://" + ln.Addr().String(), channels: map[string]*Channel{}}
	g.proxy = g.newProxy()
	g.srv = &http.Server{Handler: g.proxy, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// Addr is the gateway's address (127.0.0.1:PORT).
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// Close stops the gateway and removes the trust bundle it wrote, if any.
func (g *Gateway) Close() error {
	err := g.srv.Close()
	if g.authority != nil {
		g.authority.remove()
	}
	g.transports.Range(func(_, v any) bool {
		v.(*http.Transport).CloseIdleConnections()
		return true
	})
	return err
}

// Channel is one way into the gateway, named by a token that is part of the
// URLs (or the proxy credentials) in a process's environment.
type Channel struct {
	g     *Gateway
	token string
	cfg   *sdk.ModelCalls

	mu  sync.Mutex
	run *Run
}

// NewChannel makes a channel for processes configured by cfg.
func (g *Gateway) NewChannel(cfg *sdk.ModelCalls) (*Channel, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("model-call gateway: making a token: %w", err)
	}
	c := &Channel{g: g, token: hex.EncodeToString(b[:]), cfg: cfg}
	if cfg.Proxy {
		if _, err := g.ca(); err != nil {
			return nil, err
		}
	}
	g.mu.Lock()
	g.channels[c.token] = c
	g.mu.Unlock()
	return c, nil
}

// Bind makes r the run whose calls this channel carries, until Unbind.
func (c *Channel) Bind(r *Run) {
	c.mu.Lock()
	c.run = r
	c.mu.Unlock()
}

// Unbind ends the current run's use of the channel: later calls are refused.
func (c *Channel) Unbind() {
	c.mu.Lock()
	c.run = nil
	c.mu.Unlock()
}

func (c *Channel) current() *Run {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.run
}

// Close forgets the channel; its token no longer works.
func (c *Channel) Close() {
	c.g.mu.Lock()
	delete(c.g.channels, c.token)
	c.g.mu.Unlock()
	c.Unbind()
}

func (g *Gateway) channel(token string) *Channel {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.channels[token]
}

// pathPrefix starts every base-URL path: /wtb/TOKEN/UPSTREAM/...
const pathPrefix = "/wtb/"

// BaseURL is where a client on this channel reaches an upstream in base-URL
// mode: what follows it is appended to the upstream's URL. For callers that
// are no node process (the host's llm_judge evaluator) and so read no
// environment.
func (c *Channel) BaseURL(upstream string) string {
	return c.g.base + pathPrefix + c.token + "/" + upstream
}

// Env is what a process using this channel needs in its environment. nodeEnv
// is the environment the node would get anyway: an upstream's API key
// variable is set to a placeholder only when replaying and the node has none.
func (c *Channel) Env(nodeEnv map[string]string, lookup func(string) (string, bool)) map[string]string {
	env := map[string]string{}
	cfg := c.cfg
	has := func(k string) bool {
		if v, ok := nodeEnv[k]; ok && v != "" {
			return true
		}
		if lookup != nil {
			if v, ok := lookup(k); ok && v != "" {
				return true
			}
		}
		return false
	}
	for _, u := range cfg.Upstreams {
		if !cfg.Proxy && u.BaseURLEnv != "" {
			env[u.BaseURLEnv] = c.g.base + pathPrefix + c.token + "/" + u.Name
		}
		if cfg.Mode == sdk.ModeReplay && u.APIKeyEnv != "" && !has(u.APIKeyEnv) {
			env[u.APIKeyEnv] = "wtb-replay-needs-no-key"
		}
	}
	if cfg.Proxy {
		proxy := "http://wtb:" + c.token + "@" + c.g.Addr()
		for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"} {
			env[k] = proxy
		}
		// Every call goes through the gateway, loopback upstreams included.
		env["NO_PROXY"], env["no_proxy"] = "", ""
		if a := c.g.authority; a != nil {
			for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "AWS_CA_BUNDLE", "GIT_SSL_CAINFO"} {
				env[k] = a.bundlePath
			}
			// Node adds these to its own roots, and (Node 22.21+, 24.5+)
			// honours the proxy variables only when asked to.
			env["NODE_EXTRA_CA_CERTS"] = a.certPath
			env["NODE_USE_ENV_PROXY"] = "1"
		}
	}
	return env
}

// serveBaseURL answers requests made to a base URL the gateway handed out.
func (g *Gateway) serveBaseURL(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, pathPrefix)
	if !ok {
		http.Error(w, "wtb model-call gateway: unknown path "+r.URL.Path, http.StatusNotFound)
		return
	}
	token, rest, _ := strings.Cut(rest, "/")
	name, rest, _ := strings.Cut(rest, "/")
	ch := g.channel(token)
	if ch == nil {
		g.Stats.Refused.Add(1)
		writeError(w, http.StatusForbidden, "wtb_unknown_channel", "wtb model-call gateway: this base URL belongs to no node run (a process that outlived its node?)")
		return
	}
	up := ch.upstream(name)
	if up == nil {
		g.Stats.Refused.Add(1)
		writeError(w, http.StatusNotFound, "wtb_unknown_upstream", fmt.Sprintf("wtb model-call gateway: no upstream named %q", name))
		return
	}
	g.serve(w, r, ch, up, "/"+rest, r.URL.RawQuery)
}

func (c *Channel) upstream(name string) *sdk.Upstream {
	for i := range c.cfg.Upstreams {
		if c.cfg.Upstreams[i].Name == name {
			return &c.cfg.Upstreams[i]
		}
	}
	return nil
}

// serve answers one call on ch to upstream up, writing the response to w as
// it comes (streams are flushed piece by piece).
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, ch *Channel, up *sdk.Upstream, path, query string) {
	resp := g.exchange(r.Context(), r, ch, up, path, query)
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// copyBuffers hold the buffers responses are copied through: one per call
// in flight, not one allocated per call.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeError answers in the shape OpenAI- and Anthropic-style SDKs show.
func writeError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(kind, msg))
}

var errNoRun = errors.New("no node run is using this gateway channel now")
