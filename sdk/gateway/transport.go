package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// The connections to the upstreams: one transport per trusted CA, and the
// one failure of a kept-alive connection that a call may be sent again for.

type transportKey [32]byte

// transport returns the transport for an upstream: the system's roots plus
// the upstream's own CA, shared by every upstream trusting the same.
func (g *Gateway) transport(up *sdk.Upstream) (*http.Transport, error) {
	key := transportKey(sha256.Sum256(up.CAPEM))
	if t, ok := g.transports.Load(key); ok {
		return t.(*http.Transport), nil
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if len(up.CAPEM) > 0 && !roots.AppendCertsFromPEM(up.CAPEM) {
		return nil, fmt.Errorf("upstream %s: its CA (ca_file) holds no PEM certificate", up.Name)
	}
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 15 * time.Second,
	}
	actual, _ := g.transports.LoadOrStore(key, t)
	return actual.(*http.Transport), nil
}

// errStaleConnection marks a round trip that failed, before any answer, on a
// connection the transport had kept alive from an earlier call.
type errStaleConnection struct{ err error }

func (e errStaleConnection) Error() string { return e.err.Error() }
func (e errStaleConnection) Unwrap() error { return e.err }

// roundTrip sends a request, telling a failure on a reused connection apart.
// Servers close idle connections on their own clock (uvicorn, which serves
// LiteLLM's proxy and many model APIs, after 5 s), so a request written just
// as the server closes one meets EOF or a reset with nothing read. Go's
// transport sends such a request again itself only when its method is
// idempotent, and model APIs take POST.
func roundTrip(tr *http.Transport, out *http.Request) (*http.Response, error) {
	var reused atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) }}
	resp, err := tr.RoundTrip(out.WithContext(httptrace.WithClientTrace(out.Context(), trace)))
	if err != nil && reused.Load() {
		return nil, errStaleConnection{err}
	}
	return resp, err
}

// staleConnection says whether a failed round trip may be sent once more: it
// failed on a reused connection that the upstream closed (EOF, a reset)
// before answering, and the call is still wanted. A server that closes an
// idle connection has not read the request on it, so sending it again does
// not make the call twice.
func staleConnection(ctx context.Context, err error) bool {
	var stale errStaleConnection
	if ctx.Err() != nil || !errors.As(err, &stale) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "server closed idle connection")
}
