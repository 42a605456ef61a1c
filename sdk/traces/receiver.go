// Package traces is the OTLP receiver that runs beside the nodes: an
// OTLP/HTTP server on loopback (protobuf and JSON, /v1/traces) that a node's
// own OpenTelemetry instrumentation exports to, so what the agent did inside
// a node (its model turns, its tool calls) comes back with the node run.
//
// Attribution follows the model-call gateway: every node run gets a Run with
// a token of its own, and the endpoint in the node's environment carries that
// token in its path (http://127.0.0.1:PORT/otlp/TOKEN). A span belongs to the
// run whose endpoint it was sent to, whatever trace id it carries: a node that
// starts traces of its own still has them attributed to it, and a process
// that outlives its node run is refused rather than counted against another.
//
// A run keeps at most Limits.MaxSpans spans and Limits.MaxBytes bytes of
// them; the rest are dropped, counted (Spans.Dropped), and the exporter is
// told so in OTLP's partial_success.
package traces

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// Default bounds per node run.
const (
	DefaultMaxSpans = 2000
	DefaultMaxBytes = 4 << 20
)

// maxRequestBytes bounds one export request's body (decompressed).
const maxRequestBytes = 32 << 20

// Receiver is one listener on loopback serving every node run of an executor.
type Receiver struct {
	ln   net.Listener
	srv  *http.Server
	base string

	mu   sync.Mutex
	runs map[string]*Run

	// Stats counts what the receiver did, for the executor's metrics.
	Stats Stats
}

// Stats counts spans accepted, dropped past a bound, and refused (sent to
// no node run's endpoint).
type Stats struct {
	Accepted, Dropped, Refused atomic.Int64
}

// New starts a receiver on a free loopback port.
func New() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("OTLP receiver: listening on loopback: %w", err)
	}
	r := &Receiver{ln: ln, base: "http://" + ln.Addr().String(), runs: map[string]*Run{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Addr is the receiver's address (127.0.0.1:PORT).
func (r *Receiver) Addr() string { return r.ln.Addr().String() }

// Close stops the receiver.
func (r *Receiver) Close() error { return r.srv.Close() }

// Limits bound what one node run keeps.
type Limits struct {
	MaxSpans int
	MaxBytes int64
}

// Run is one node run's use of the receiver.
type Run struct {
	recv   *Receiver
	token  string
	node   string
	limits Limits
	// traceID and spanID name the node run itself: TRACEPARENT carries them,
	// so the node's spans join the node run's trace under its span.
	traceID, spanID string
	start           time.Time

	mu      sync.Mutex
	spans   []sdk.Span
	bytes   int64
	dropped int64
	done    bool
}

// NewRun starts a node run's use of the receiver.
func (r *Receiver) NewRun(node string, lim Limits) (*Run, error) {
	if lim.MaxSpans <= 0 {
		lim.MaxSpans = DefaultMaxSpans
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxBytes
	}
	var b [16 + 8 + 16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("OTLP receiver: making a token: %w", err)
	}
	run := &Run{recv: r, node: node, limits: lim, traceID: hex.EncodeToString(b[:16]),
		spanID: hex.EncodeToString(b[16:24]), token: hex.EncodeToString(b[24:]), start: time.Now()}
	r.mu.Lock()
	r.runs[run.token] = run
	r.mu.Unlock()
	return run, nil
}

// pathPrefix starts every endpoint: /otlp/TOKEN/v1/traces.
const pathPrefix = "/otlp/"

// Env is what a node process needs to export its spans to this run: the
// OTLP endpoints (the general one, to which SDKs append /v1/traces, and the
// traces one, used as is), the protocol, a service name (the node's) and a
// TRACEPARENT naming the node run.
func (run *Run) Env() map[string]string {
	endpoint := run.recv.base + pathPrefix + run.token
	return map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        endpoint,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint + "/v1/traces",
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/protobuf",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
		"OTEL_SERVICE_NAME":                  run.node,
		"TRACEPARENT":                        run.Traceparent(),
	}
}

// Traceparent is the W3C traceparent of the node run's own span.
func (run *Run) Traceparent() string { return "00-" + run.traceID + "-" + run.spanID + "-01" }

// TraceID and SpanID name the node run's span.
func (run *Run) TraceID() string { return run.traceID }

// SpanID is the node run's own span id (the parent of the node's root spans).
func (run *Run) SpanID() string { return run.spanID }

// add keeps spans within the run's bounds; it returns how many it dropped.
func (run *Run) add(spans []sdk.Span) (dropped int64, ok bool) {
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.done {
		return 0, false
	}
	for _, s := range spans {
		size := spanSize(&s)
		if len(run.spans) >= run.limits.MaxSpans || run.bytes+size > run.limits.MaxBytes {
			dropped++
			continue
		}
		run.spans = append(run.spans, s)
		run.bytes += size
	}
	run.dropped += dropped
	return dropped, true
}

func spanSize(s *sdk.Span) int64 {
	return int64(len(s.Name) + len(s.Attributes) + len(s.Events) + len(s.StatusMessage) + len(s.Service) + len(s.Scope) + 128)
}

// Finish ends the run: its token no longer works, and what it kept is
// returned in the order received.
func (run *Run) Finish() sdk.Spans {
	run.recv.mu.Lock()
	delete(run.recv.runs, run.token)
	run.recv.mu.Unlock()
	run.mu.Lock()
	defer run.mu.Unlock()
	run.done = true
	return sdk.Spans{Spans: run.spans, Dropped: run.dropped}
}

// Bound says what happens past a run's bounds, for messages and docs.
func (run *Run) Bound() string {
	return fmt.Sprintf("%d spans or %d MiB per node run", run.limits.MaxSpans, run.limits.MaxBytes>>20)
}

func (r *Receiver) run(token string) *Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[token]
}

// serve answers POST /otlp/TOKEN/v1/{traces,metrics,logs}.
func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	rest, ok := strings.CutPrefix(req.URL.Path, pathPrefix)
	if !ok {
		http.Error(w, "wtb OTLP receiver: unknown path "+req.URL.Path, http.StatusNotFound)
		return
	}
	token, signal, _ := strings.Cut(rest, "/")
	if req.Method != http.MethodPost {
		http.Error(w, "wtb OTLP receiver: POST only", http.StatusMethodNotAllowed)
		return
	}
	run := r.run(token)
	if run == nil {
		r.Stats.Refused.Add(1)
		http.Error(w, "wtb OTLP receiver: this endpoint belongs to no node run (a process that outlived its node?)", http.StatusNotFound)
		return
	}
	isJSON := strings.HasPrefix(req.Header.Get("Content-Type"), "application/json")
	switch signal {
	case "v1/traces":
	case "v1/metrics", "v1/logs":
		// The node's SDK may export its metrics and logs to the same
		// endpoint: they are accepted and not kept.
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, maxRequestBytes))
		writeResponse(w, isJSON, 0, "")
		return
	default:
		http.Error(w, "wtb OTLP receiver: unknown signal "+signal, http.StatusNotFound)
		return
	}
	body, err := readBody(req)
	if err != nil {
		http.Error(w, "wtb OTLP receiver: "+err.Error(), http.StatusBadRequest)
		return
	}
	var spans []sdk.Span
	if isJSON {
		spans, err = decodeJSON(body)
	} else {
		spans, err = decodeProto(body)
	}
	if err != nil {
		http.Error(w, "wtb OTLP receiver: "+err.Error(), http.StatusBadRequest)
		return
	}
	dropped, ok := run.add(spans)
	if !ok {
		r.Stats.Refused.Add(int64(len(spans)))
		http.Error(w, "wtb OTLP receiver: the node run this endpoint belonged to has ended", http.StatusNotFound)
		return
	}
	r.Stats.Accepted.Add(int64(len(spans)) - dropped)
	r.Stats.Dropped.Add(dropped)
	msg := ""
	if dropped > 0 {
		msg = fmt.Sprintf("wtb: node %q is past its bound of %s; %d spans dropped", run.node, run.Bound(), dropped)
	}
	writeResponse(w, isJSON, dropped, msg)
}

func readBody(req *http.Request) ([]byte, error) {
	var rd io.Reader = req.Body
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			return nil, fmt.Errorf("reading a gzip body: %w", err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q (identity or gzip)", req.Header.Get("Content-Encoding"))
	}
	body, err := io.ReadAll(io.LimitReader(rd, maxRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if len(body) > maxRequestBytes {
		return nil, errors.New("an export request over 32 MiB")
	}
	return body, nil
}
