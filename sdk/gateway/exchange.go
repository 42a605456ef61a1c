package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// maxRequestBody bounds a request the gateway reads whole (it must, to match
// and record it).
const maxRequestBody = 64 << 20

// secretHeaders are never stored, matched or shown.
var secretHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "x-api-key": true, "api-key": true,
	"cookie": true, "set-cookie": true, "x-goog-api-key": true,
}

// hopHeaders belong to one connection and are not forwarded (RFC 9110 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// SourceHeader tells a node where an answer came from (live or replayed).
const SourceHeader = "X-Wtb-Source"

// exchange answers one call: from a recording, or from the upstream (and
// then recorded when recording). The response it returns streams its body;
// the interaction is complete when the body has been read or closed.
func (g *Gateway) exchange(ctx context.Context, r *http.Request, ch *Channel, up *sdk.Upstream, path, query string) *http.Response {
	run := ch.current()
	if run == nil {
		g.Stats.Refused.Add(1)
		return errorResponse(http.StatusConflict, "wtb_no_run", "wtb model-call gateway: "+errNoRun.Error()+
			" (a worker calling after it answered, or a process that outlived its node)")
	}
	cfg := ch.cfg
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return errorResponse(http.StatusBadRequest, "wtb_bad_request", "wtb model-call gateway: reading the request: "+err.Error())
	}
	if len(body) > maxRequestBody {
		return errorResponse(http.StatusRequestEntityTooLarge, "wtb_request_too_large",
			fmt.Sprintf("wtb model-call gateway: a request body over %d MiB", maxRequestBody>>20))
	}
	header := r.Header.Clone()
	if strings.EqualFold(header.Get("Content-Encoding"), "gzip") {
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				body = plain
				header.Del("Content-Encoding")
			}
		}
	}
	stored := storedHeaders(header, cfg.RedactHeaders)
	// Masking replaces bytes in a copy: the upstream gets the body as sent.
	maskedBody := body
	if len(run.masker.pairs) > 0 {
		maskedBody = run.masker.bytes(bytes.Clone(body))
	}
	maskedQuery := run.masker.query(query)
	x := sdk.Interaction{Upstream: up.Name, Method: r.Method, Path: path, Query: maskedQuery, RequestHeaders: stored,
		RequestBody: maskedBody, Started: time.Now()}
	// One decoding of the body serves the model's name and the match key
	// (live calls need no key: nothing matches them).
	decoded, isJSON := decodeJSON(maskedBody)
	x.Model = requestModelOf(decoded, isJSON, path)
	if cfg.Recording() || cfg.Replaying() {
		x.MatchKey = run.matcher.keyDecoded(x.Method, x.Upstream, x.Path, x.Query, x.RequestHeaders, x.RequestBody, decoded, isJSON)
	}
	i := run.nextOrdinal()
	if i < 0 {
		g.Stats.Refused.Add(1)
		return errorResponse(http.StatusConflict, "wtb_no_run", "wtb model-call gateway: the node run this call belongs to has ended")
	}

	if cfg.Replaying() {
		if rec := run.take(x.MatchKey); rec != nil {
			g.Stats.Replayed.Add(1)
			return g.replay(ctx, run, i, x, rec, cfg.Pace == "recorded")
		}
		if cfg.Mode == sdk.ModeReplay {
			g.Stats.Misses.Add(1)
			miss := run.newMiss(x)
			run.missed(miss)
			x.Source, x.Error = sdk.SourceReplayed, "replay miss: no recording matches"
			run.finish(i, x)
			return errorResponse(http.StatusBadRequest, "wtb_replay_miss", miss.Error())
		}
	}

	x.Source = sdk.SourceLive
	if cfg.Recording() {
		x.Source = sdk.SourceRecorded
	}
	if why := run.refuseForBudget(); why != "" {
		g.Stats.Refused.Add(1)
		x.Error = "refused: over budget: " + why
		run.finish(i, x)
		// 402, which no SDK retries: the node sees at once that it may
		// spend no more, and the run fails with kind budget whatever the
		// node does about it.
		return errorResponse(http.StatusPaymentRequired, "wtb_budget_exceeded", "wtb model-call gateway: over budget: "+why)
	}
	target, err := upstreamURL(up.URL, path, query)
	if err != nil {
		x.Error = err.Error()
		run.finish(i, x)
		return errorResponse(http.StatusBadGateway, "wtb_bad_upstream", "wtb model-call gateway: "+err.Error())
	}
	tr, err := g.transport(up)
	if err != nil {
		x.Error = err.Error()
		run.finish(i, x)
		return errorResponse(http.StatusBadGateway, "wtb_bad_upstream", "wtb model-call gateway: "+err.Error())
	}
	lim := g.limiterFor(up)
	arrived := x.Started
	var (
		resp   *http.Response
		turn   *slot
		cancel context.CancelFunc
	)
	for attempt := 1; ; attempt++ {
		if lim != nil {
			if turn, err = lim.acquire(ctx); err != nil {
				run.waited(arrived, time.Now())
				x.Attempts, x.QueueTime = attempt-1, time.Since(arrived)
				x.Error = fmt.Sprintf("waiting for a turn at %s: %v", up.Name, err)
				run.finish(i, x)
				return errorResponse(http.StatusGatewayTimeout, "wtb_queue_abandoned", "wtb model-call gateway: "+x.Error)
			}
		}
		x.Started, x.Attempts = time.Now(), attempt
		x.QueueTime = x.Started.Sub(arrived)
		var out *http.Request
		out, cancel, err = upstreamRequest(ctx, r.Method, target, header, body, up.Timeout)
		if err != nil {
			turn.release(0, 0, 0)
			run.waited(arrived, x.Started)
			x.Error = err.Error()
			run.finish(i, x)
			return errorResponse(http.StatusBadGateway, "wtb_bad_upstream", "wtb model-call gateway: "+err.Error())
		}
		g.Stats.Live.Add(1)
		resp, err = roundTrip(tr, out)
		if err != nil && staleConnection(ctx, err) {
			// Sent on a kept-alive connection the upstream had just closed:
			// once more, on a new one.
			cancel()
			if out, cancel, err = upstreamRequest(ctx, r.Method, target, header, body, up.Timeout); err == nil {
				resp, err = tr.RoundTrip(out)
			} else {
				cancel = func() {}
			}
		}
		if err != nil {
			cancel()
			turn.release(0, 0, 0)
			run.waited(arrived, x.Started)
			g.Stats.Errors.Add(1)
			x.Error = fmt.Sprintf("calling %s: %v", up.Name, unwrapURLError(err))
			x.Duration = time.Since(x.Started)
			run.finish(i, x)
			return errorResponse(http.StatusBadGateway, "wtb_upstream_unreachable", "wtb model-call gateway: "+x.Error)
		}
		if lim == nil || !pushedBack(resp.StatusCode) {
			break
		}
		// Pushed back: wait as asked (or back off) and send it again, until
		// the retries run out; the node sees only the last answer.
		wait, asked := lim.retryWait(resp.Header, attempt, time.Now())
		hold := time.Duration(0)
		if asked {
			hold = wait
		}
		turn.release(resp.StatusCode, 0, hold)
		turn = nil
		if attempt > up.Limits.Retries {
			break
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		cancel()
		lim.retries.Add(1)
		if err := sleep(ctx, wait); err != nil {
			run.waited(arrived, time.Now())
			x.QueueTime = time.Since(arrived)
			x.Error = fmt.Sprintf("waiting to retry %s (it answered %d): %v", up.Name, resp.StatusCode, err)
			run.finish(i, x)
			return errorResponse(http.StatusGatewayTimeout, "wtb_queue_abandoned", "wtb model-call gateway: "+x.Error)
		}
	}
	run.waited(arrived, x.Started)
	x.Status = resp.StatusCode
	x.ResponseHeaders = storedHeaders(resp.Header, cfg.RedactHeaders)
	x.Streamed = isStream(resp.Header)
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	if resp.Uncompressed {
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
	}
	resp.Header.Set(SourceHeader, x.Source)
	resp.Body = &recorder{run: run, i: i, x: x, src: resp.Body, keep: cfg.Recording(), cancel: cancel, turn: turn}
	return resp
}

// upstreamRequest is one attempt's request: the body as the node sent it
// (decompressed), without the hop-by-hop headers, bounded by the upstream's
// timeout.
func upstreamRequest(ctx context.Context, method, target string, header http.Header, body []byte, timeout time.Duration) (*http.Request, context.CancelFunc, error) {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, timeout)
	}
	out, err := http.NewRequestWithContext(cctx, method, target, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, nil, err
	}
	out.Header = header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	// The transport asks for gzip itself and decompresses: bodies are
	// stored, and reach the node, decompressed.
	out.Header.Del("Accept-Encoding")
	out.Header.Del("Content-Length")
	out.ContentLength = int64(len(body))
	return out, cancel, nil
}

// storedHeaders are the headers kept with an interaction: lower-case names,
// no secrets, no connection-level headers.
func storedHeaders(h http.Header, redact []string) map[string]string {
	drop := map[string]bool{}
	for _, r := range redact {
		drop[strings.ToLower(r)] = true
	}
	for _, hh := range hopHeaders {
		drop[strings.ToLower(hh)] = true
	}
	out := map[string]string{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if secretHeaders[lk] || drop[lk] || lk == "content-length" {
			continue
		}
		out[lk] = strings.Join(vs, ", ")
	}
	return out
}

// isStream says a response arrives in pieces meant to be read as they come.
func isStream(h http.Header) bool {
	ct := strings.ToLower(h.Get("Content-Type"))
	return strings.HasPrefix(ct, "text/event-stream") || strings.Contains(ct, "ndjson") || strings.Contains(ct, "jsonl")
}

// upstreamURL joins an upstream's base URL and a path below it.
func upstreamURL(base, path, query string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("upstream URL %q is not an absolute URL", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(path, "/")
	u.RawPath = ""
	u.RawQuery = query
	return u.String(), nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// errorBody is an error in the shape OpenAI- and Anthropic-style SDKs show:
// {"error": {"message", "type"}} (Anthropic adds "type": "error" at the top).
func errorBody(kind, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"message": msg, "type": kind}})
	return b
}

func errorResponse(status int, kind, msg string) *http.Response {
	b := errorBody(kind, msg)
	return &http.Response{StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, Proto: "HTTP/1.1",
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(b))}, SourceHeader: {"wtb"}},
		ContentLength: int64(len(b)), Body: io.NopCloser(bytes.NewReader(b))}
}

// requestModelOf is the model a request names: its "model" field, or a
// Gemini-style path (/models/NAME:generateContent). v is its decoded body
// (ok: it was JSON).
func requestModelOf(v any, ok bool, path string) string {
	if ok {
		if m, ok := v.(map[string]any); ok {
			if s, ok := m["model"].(string); ok {
				return s
			}
		}
	}
	if i := strings.Index(path, "/models/"); i >= 0 {
		name := path[i+len("/models/"):]
		if j := strings.IndexAny(name, ":/"); j >= 0 {
			name = name[:j]
		}
		return name
	}
	return ""
}

// responseModel is the model a response names, or "".
func responseModel(body []byte, chunks []sdk.Chunk) string {
	if v, ok := decodeJSON(body); ok {
		if m, ok := v.(map[string]any); ok {
			for _, k := range []string{"model", "modelVersion"} {
				if s, ok := m[k].(string); ok {
					return s
				}
			}
		}
	}
	for _, c := range chunks {
		for _, line := range bytes.Split(c.Data, []byte("\n")) {
			payload, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data:"))
			if !ok {
				continue
			}
			if mdl := responseModel(bytes.TrimSpace(payload), nil); mdl != "" {
				return mdl
			}
			// Anthropic's message_start nests it: {"message": {"model": ...}}.
			if v, ok := decodeJSON(bytes.TrimSpace(payload)); ok {
				if m, ok := v.(map[string]any); ok {
					if msg, ok := m["message"].(map[string]any); ok {
						if s, ok := msg["model"].(string); ok {
							return s
						}
					}
				}
			}
		}
	}
	return ""
}
