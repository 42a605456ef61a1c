package traceout

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
)

// Target is where a batch's trace goes.
type Target struct {
	// URL is the collector's OTLP/HTTP endpoint: a base URL to which
	// /v1/traces is added (as OTEL_EXPORTER_OTLP_ENDPOINT), or a URL that
	// ends in /v1/traces already. "" takes the OTEL_EXPORTER_OTLP_*
	// variables (and localhost:4318 when they name none).
	URL string
	// Headers are sent with every request (beside those of
	// OTEL_EXPORTER_OTLP_HEADERS); never stored.
	Headers map[string]string
	// Buffer bounds the finished executions waiting to be sent; past it
	// they are dropped and counted.
	Buffer int
	// FlushTimeout bounds the wait at the end for what waits, the batch's
	// span included.
	FlushTimeout time.Duration
	// Parent, when set, is the span the batch's trace joins (TRACEPARENT):
	// its trace id becomes the batch's, and the batch's span its child.
	Parent *Parent
	// From says where the target was configured, for messages
	// ("--otlp-endpoint", "bridge \"otlp\"", "OTEL_EXPORTER_OTLP_ENDPOINT").
	From string
}

// Defaults of a target.
const (
	DefaultBuffer       = 10000
	DefaultFlushTimeout = 5 * time.Second
)

// TracesURL is the URL requests go to for a base or full endpoint URL.
func TracesURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("an OTLP endpoint is an http:// or https:// URL such as http://127.0.0.1:4318; got %q", raw)
	}
	if !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// Describe names the target without credentials.
func (t Target) Describe() string {
	if t.URL == "" {
		return "the endpoint of the OTEL_EXPORTER_OTLP_* variables"
	}
	full, err := TracesURL(t.URL)
	if err != nil {
		return "<otlp endpoint>"
	}
	u, _ := url.Parse(full)
	return u.Redacted()
}

// uploader sends OTLP requests with the OpenTelemetry Go exporter's client:
// protobuf over HTTP, gzip, retries with backoff on 429/502/503/504, and
// the OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression,
// certificates) as any OTel tool reads them; the target's URL and headers,
// when set, win over the variables.
type uploader struct {
	client otlptrace.Client
	// json: the variables chose http/json, whose encoder reads the spans'
	// messages, not the bytes the trace holds (see upload).
	json bool
}

func newUploader(ctx context.Context, t Target) (*uploader, error) {
	opts := []otlptracehttp.Option{
		// A collector that is down costs a few seconds per request, not the
		// client's default minute: the batch's end waits for the last one.
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond,
			MaxInterval: time.Second, MaxElapsedTime: 3 * time.Second}),
	}
	if t.URL != "" {
		full, err := TracesURL(t.URL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(full))
	}
	if len(t.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(t.Headers))
	}
	c := otlptracehttp.NewClient(opts...)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return &uploader{client: c, json: jsonProtocol(os.Getenv)}, nil
}

// jsonProtocol says the OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL variables
// choose http/json, as the client reads them (the traces variable first).
func jsonProtocol(getenv func(string) string) bool {
	p := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if p == "" {
		p = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	return p == "http/json"
}

// upload sends the trace: its spans as the bytes it holds (written in
// OTLP's wire format, which the client's protobuf encoding copies as they
// are), or, for http/json, decoded into messages (the JSON encoder reads
// only those: handed the bytes, it sent every scope without its spans).
func (u *uploader) upload(ctx context.Context, tr *Trace) error {
	if tr.Len() == 0 {
		return nil
	}
	if u.json {
		rs, err := tr.decoded()
		if err != nil {
			return err
		}
		return u.client.UploadTraces(ctx, rs)
	}
	return u.client.UploadTraces(ctx, tr.wireResourceSpans())
}

func (u *uploader) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = u.client.Stop(ctx)
}
