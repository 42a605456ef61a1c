package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/wtbench/wtb/sdk"
)

// newProxy is the gateway's HTTP handler: goproxy for proxy requests
// (CONNECT and absolute-form), serveBaseURL for the rest.
func (g *Gateway) newProxy() *goproxy.ProxyHttpServer {
	p := goproxy.NewProxyHttpServer()
	p.Logger = log.New(io.Discard, "", 0)
	p.NonproxyHandler = http.HandlerFunc(g.serveBaseURL)
	p.CertStore = &certCache{certs: map[string]*tls.Certificate{}}
	// goproxy's own transport skips TLS verification; it only ever carries
	// plain-HTTP traffic to hosts that are no upstream (other_hosts = "pass").
	p.Tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	p.OnRequest().HandleConnectFunc(g.connect)
	p.OnRequest().DoFunc(g.proxied)
	return p
}

// proxyToken reads the channel token from a request's proxy credentials
// (user "wtb", the token as password).
func proxyToken(r *http.Request) string {
	auth := r.Header.Get("Proxy-Authorization")
	enc, ok := strings.CutPrefix(auth, "Basic ")
	if !ok {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return ""
	}
	_, token, _ := strings.Cut(string(raw), ":")
	return token
}

// connect decides what happens to a CONNECT: intercepted when the host is an
// upstream, tunnelled or refused otherwise.
func (g *Gateway) connect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	ch := g.channel(proxyToken(ctx.Req))
	if ch == nil || !ch.cfg.Proxy {
		g.Stats.Refused.Add(1)
		return goproxy.RejectConnect, host
	}
	ctx.UserData = ch
	if _, ok := ch.upstreamForHost(host, "https"); ok {
		a, err := g.ca()
		if err != nil {
			return goproxy.RejectConnect, host
		}
		return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(&a.cert)}, host
	}
	if ch.cfg.OtherHosts == "deny" {
		g.Stats.Refused.Add(1)
		ch.denied("CONNECT " + host)
		return goproxy.RejectConnect, host
	}
	return goproxy.OkConnect, host
}

// proxied answers a request that came through the proxy: an intercepted one
// (inside a CONNECT) or an absolute-form plain-HTTP one.
func (g *Gateway) proxied(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	ch, _ := ctx.UserData.(*Channel)
	if ch == nil {
		ch = g.channel(proxyToken(r))
	}
	if ch == nil || !ch.cfg.Proxy {
		g.Stats.Refused.Add(1)
		return r, errorResponse(http.StatusProxyAuthRequired, "wtb_unknown_channel",
			"wtb model-call gateway: proxy credentials that belong to no node run")
	}
	up, ok := ch.upstreamForHost(r.URL.Host, r.URL.Scheme)
	if !ok {
		if ch.cfg.OtherHosts == "deny" {
			g.Stats.Refused.Add(1)
			ch.denied(r.Method + " " + r.URL.String())
			return r, errorResponse(http.StatusForbidden, "wtb_host_denied",
				fmt.Sprintf("wtb model-call gateway: %s is no upstream and other_hosts = \"deny\"", r.URL.Host))
		}
		r.Header.Del("Proxy-Authorization")
		return r, nil // goproxy forwards it
	}
	base, _ := url.Parse(up.URL)
	rel, under := strings.CutPrefix(r.URL.Path, strings.TrimSuffix(base.Path, "/"))
	if !under || (rel != "" && !strings.HasPrefix(rel, "/")) {
		return r, errorResponse(http.StatusNotFound, "wtb_outside_upstream",
			fmt.Sprintf("wtb model-call gateway: %s is outside upstream %s (%s)", r.URL.Path, up.Name, up.URL))
	}
	if rel == "" {
		rel = "/"
	}
	r.Header.Del("Proxy-Authorization")
	return r, g.exchange(r.Context(), r, ch, up, rel, r.URL.RawQuery)
}

// upstreamForHost finds the upstream served at host (HOST or HOST:PORT).
func (c *Channel) upstreamForHost(host, scheme string) (*sdk.Upstream, bool) {
	h, port := splitHostPort(host, scheme)
	for i := range c.cfg.Upstreams {
		u, err := url.Parse(c.cfg.Upstreams[i].URL)
		if err != nil {
			continue
		}
		uh, up := splitHostPort(u.Host, u.Scheme)
		if strings.EqualFold(uh, h) && up == port {
			return &c.cfg.Upstreams[i], true
		}
	}
	return nil, false
}

func splitHostPort(hostport, scheme string) (string, string) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
		p = "443"
		if scheme == "http" {
			p = "80"
		}
	}
	return strings.Trim(h, "[]"), p
}

// denied records, on the run bound to the channel (if any), a call refused
// because its host is no upstream: a replayed batch shows it made none.
func (c *Channel) denied(what string) {
	run := c.current()
	if run == nil {
		return
	}
	i := run.nextOrdinal()
	run.finish(i, sdk.Interaction{Method: "CONNECT", Path: what, Started: time.Now(), Source: sdk.SourceLive,
		Error: "refused: no upstream (other_hosts = \"deny\")"})
}

// certCache keeps the leaf certificates the CA signed, by host.
type certCache struct {
	mu    sync.Mutex
	certs map[string]*tls.Certificate
}

func (c *certCache) Fetch(host string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert := c.certs[host]; cert != nil {
		return cert, nil
	}
	cert, err := gen()
	if err != nil {
		return nil, err
	}
	c.certs[host] = cert
	return cert, nil
}

// authority is the CA proxy mode intercepts with. Its key lives in memory
// only; its certificate is written, with the system's roots, to a bundle that
// the trust variables of node processes name, removed when the gateway
// closes.
type authority struct {
	cert       tls.Certificate
	dir        string
	certPath   string // the CA alone (NODE_EXTRA_CA_CERTS adds to Node's roots)
	bundlePath string // the system's roots and the CA (SSL_CERT_FILE and friends replace them)
}

func (g *Gateway) ca() (*authority, error) {
	g.authOnce.Do(func() { g.authority, g.authErr = newAuthority() })
	return g.authority, g.authErr
}

func newAuthority() (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("model-call gateway: making a CA key: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "WTB model-call gateway (this batch only)", Organization: []string{"WTB"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("model-call gateway: making a CA certificate: %w", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	a := &authority{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}
	if a.dir, err = os.MkdirTemp("", "wtb-gateway-ca-"); err != nil {
		return nil, fmt.Errorf("model-call gateway: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	a.certPath = filepath.Join(a.dir, "ca.pem")
	a.bundlePath = filepath.Join(a.dir, "bundle.pem")
	bundle := append(systemRootsPEM(), '\n')
	bundle = append(bundle, certPEM...)
	if err := os.WriteFile(a.certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("model-call gateway: %w", err)
	}
	if err := os.WriteFile(a.bundlePath, bundle, 0o644); err != nil {
		return nil, fmt.Errorf("model-call gateway: %w", err)
	}
	return a, nil
}

func (a *authority) remove() { _ = os.RemoveAll(a.dir) }

// systemRootsPEM reads the system's root certificates, from where the
// platform keeps them (the places Go's crypto/x509 looks on Linux).
func systemRootsPEM() []byte {
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		if b, err := os.ReadFile(f); err == nil {
			return b
		}
	}
	for _, f := range []string{
		"/etc/ssl/certs/ca-certificates.crt",
		"/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/ca-bundle.pem",
		"/etc/pki/tls/cacert.pem",
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
		"/etc/ssl/cert.pem",
	} {
		if b, err := os.ReadFile(f); err == nil {
			return b
		}
	}
	return nil
}
