package bridge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wtbench/wtb/host/internal/spec"
)

// webhookSink POSTs events: one structured CloudEvent per request
// (application/cloudevents+json) when max_batch is 1, else up to max_batch
// in a JSON array (application/cloudevents-batch+json). A 2xx answer
// delivers them; 408, 429, 5xx and connection errors are retried; any other
// answer refuses them for good.
type webhookSink struct {
	client  *http.Client
	url     string
	shown   string
	headers map[string]string
	max     int
}

func newWebhook(b spec.Bridge) *webhookSink {
	return &webhookSink{client: &http.Client{Timeout: 10 * time.Second}, url: b.Endpoint(), shown: b.URL, headers: b.Headers, max: max(1, b.MaxBatch)}
}

func (s *webhookSink) batch() int { return s.max }

func (s *webhookSink) send(ctx context.Context, items []*item) (int, error) {
	var body []byte
	ctype := ContentType
	if s.max == 1 {
		items = items[:1]
		body = items[0].body
	} else {
		ctype = BatchContentType
		var b bytes.Buffer
		b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(it.body)
		}
		b.WriteByte(']')
		body = b.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, permanent{err}
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := s.client.Do(req)
	if err != nil {
		// The error names the URL, which may hold a password: name the
		// redacted one instead.
		return 0, fmt.Errorf("POST %s: %s", s.shown, errorCause(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return len(items), nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return 0, fmt.Errorf("POST %s: %s", s.shown, resp.Status)
	default:
		return 0, permanent{fmt.Errorf("POST %s: %s", s.shown, resp.Status)}
	}
}

// errorCause strips the request part of a client error (*url.Error).
func errorCause(err error) string {
	if u, ok := err.(interface{ Unwrap() error }); ok && u.Unwrap() != nil {
		return u.Unwrap().Error()
	}
	return err.Error()
}

func (s *webhookSink) close() { s.client.CloseIdleConnections() }
