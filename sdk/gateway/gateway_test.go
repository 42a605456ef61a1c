package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// upstream is a real HTTPS server standing in for a model API: it echoes the
// request's last message and counts calls. Streamed requests get SSE events.
type upstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls int
	auth  []string
	fail  int // answer this many calls with 500 first
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.calls++
		n := u.calls // every answer is numbered: a replay in the wrong order shows
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		fail := u.fail > 0
		if fail {
			u.fail--
		}
		u.mu.Unlock()
		if fail {
			http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(body, &req)
		last := ""
		if n := len(req.Messages); n > 0 {
			last = req.Messages[n-1].Content
		}
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, piece := range strings.Fields(last) {
				fmt.Fprintf(w, "data: {\"model\":%q,\"delta\":%q}\n\n", req.Model, piece)
				w.(http.Flusher).Flush()
				time.Sleep(5 * time.Millisecond)
			}
			fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n")
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"model":%q,"answer":%q,"n":%d,"path":%q,"usage":{"prompt_tokens":%d,"completion_tokens":3}}`,
			req.Model+"-2026", "echo: "+last, n, r.URL.Path, 10+len(last))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.srv.Certificate().Raw})
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

func config(mode string, ups ...sdk.Upstream) *sdk.ModelCalls {
	return &sdk.ModelCalls{Mode: mode, Upstreams: ups, IgnoreJSONPaths: []string{"$.metadata.request_id"}}
}

func (u *upstream) as(name string) sdk.Upstream {
	return sdk.Upstream{Name: name, URL: u.srv.URL + "/v1", BaseURLEnv: "OPENAI_BASE_URL", APIKeyEnv: "OPENAI_API_KEY", CAPEM: u.caPEM()}
}

func newGateway(t *testing.T) *Gateway {
	g, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// call posts a chat request the way an SDK would, to the base URL the
// channel hands out.
func call(t *testing.T, env map[string]string, content string, stream bool) (int, string, http.Header) {
	t.Helper()
	body := fmt.Sprintf(`{"model":"gpt-test","stream":%v,"metadata":{"request_id":%q},"messages":[{"role":"user","content":%q}]}`,
		stream, time.Now().String(), content)
	req, _ := http.NewRequest("POST", env["OPENAI_BASE_URL"]+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-secret-key-0123456789")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func openRun(t *testing.T, g *Gateway, cfg *sdk.ModelCalls, rec *sdk.Recordings) (*Run, map[string]string, func()) {
	t.Helper()
	run := NewRun(cfg, "answer", rec, map[string]string{"OPENAI_API_KEY": "sk-secret-key-0123456789"})
	ch, err := g.NewChannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch.Bind(run)
	return run, ch.Env(nil, nil), ch.Close
}

func TestRecordThenReplayWithTheUpstreamGone(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	rec := config(sdk.ModeRecord, up.as("openai"))
	run, env, done := openRun(t, g, rec, nil)
	var live []string
	for _, q := range []string{"hello", "hello", "bye"} { // identical calls replay in order
		status, body, h := call(t, env, q, false)
		if status != 200 || h.Get(SourceHeader) != sdk.SourceRecorded {
			t.Fatalf("recording: %d %s %v", status, body, h)
		}
		live = append(live, body)
	}
	done()
	calls, problem := run.Finish()
	if problem != nil || len(calls) != 3 {
		t.Fatalf("recorded %d calls, problem %v", len(calls), problem)
	}
	if live[0] == live[1] {
		t.Fatalf("two identical calls got the same answer; the test cannot tell their order: %s", live[0])
	}
	for i, c := range calls {
		if c.Ordinal != i || c.Upstream != "openai" || c.Path != "/chat/completions" || c.Status != 200 || c.Model != "gpt-test-2026" {
			t.Errorf("call %d: %+v", i, c)
		}
		if _, ok := c.RequestHeaders["authorization"]; ok {
			t.Errorf("call %d stored the Authorization header", i)
		}
	}
	if up.count() != 3 || up.auth[0] != "Bearer sk-secret-key-0123456789" {
		t.Fatalf("upstream saw %d calls, auth %q", up.count(), up.auth)
	}

	up.srv.Close()
	run, env, done = openRun(t, g, config(sdk.ModeReplay, up.as("openai")), &sdk.Recordings{RunKey: "k", Interactions: calls})
	for i, q := range []string{"hello", "hello", "bye"} {
		status, body, h := call(t, env, q, false)
		if status != 200 || body != live[i] || h.Get(SourceHeader) != sdk.SourceReplayed {
			t.Errorf("replay %d: %d %q (recorded %q) %v", i, status, body, live[i], h)
		}
	}
	done()
	replayed, problem := run.Finish()
	if problem != nil || len(replayed) != 3 || replayed[2].Source != sdk.SourceReplayed {
		t.Fatalf("replay: %d calls, problem %v", len(replayed), problem)
	}
	// Usage: read from every response, and a replay counts what it recorded.
	want := sdk.Usage{Input: int64(10 + len("hello")), Output: 3, Reported: true}
	if calls[0].Usage != want || replayed[0].Usage != want {
		t.Errorf("usage recorded %+v, replayed %+v, want %+v", calls[0].Usage, replayed[0].Usage, want)
	}
}

// Live calls keep no bodies, yet their usage is read, whole or streamed.
func TestLiveCallsReportTheirUsage(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	run, env, done := openRun(t, g, config(sdk.ModeLive, up.as("openai")), nil)
	call(t, env, "hi", false)
	call(t, env, "one two", true)
	done()
	calls, _ := run.Finish()
	if len(calls) != 2 || calls[0].ResponseBody != nil || calls[1].Chunks != nil {
		t.Fatalf("live calls kept bodies: %+v", calls)
	}
	if calls[0].Usage != (sdk.Usage{Input: 12, Output: 3, Reported: true}) || calls[1].Usage != (sdk.Usage{Input: 7, Output: 2, Reported: true}) {
		t.Errorf("usage of live calls: %+v, %+v", calls[0].Usage, calls[1].Usage)
	}
}

func TestAReplayMissShowsTheNearestCallAndCallsNothing(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	run, env, done := openRun(t, g, config(sdk.ModeRecord, up.as("openai")), nil)
	call(t, env, "what is the capital of France", false)
	done()
	calls, _ := run.Finish()
	before := up.count()

	run, env, done = openRun(t, g, config(sdk.ModeReplay, up.as("openai")), &sdk.Recordings{Interactions: calls, Origin: "batch B1"})
	status, body, _ := call(t, env, "what is the capital of Spain", false)
	done()
	if status != 400 || !strings.Contains(body, "wtb_replay_miss") {
		t.Fatalf("miss answered %d %s", status, body)
	}
	_, problem := run.Finish()
	if problem == nil || problem.Kind != sdk.FailureReplayMiss || problem.Retryable {
		t.Fatalf("problem %+v", problem)
	}
	for _, want := range []string{`- `, `"content": "what is the capital of France"`, `+ `, `"content": "what is the capital of Spain"`, "batch B1", "no live call was made"} {
		if !strings.Contains(problem.Message, want) {
			t.Errorf("the miss does not say %q:\n%s", want, problem.Message)
		}
	}
	if strings.Contains(problem.Message, "request_id") {
		t.Errorf("an ignored path shows in the diff:\n%s", problem.Message)
	}
	if up.count() != before {
		t.Errorf("a replay reached the upstream")
	}
}

func TestStreamsPassThroughAndReplayAsChunks(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	run, env, done := openRun(t, g, config(sdk.ModeRecord, up.as("openai")), nil)
	_, body, h := call(t, env, "one two three", true)
	done()
	calls, _ := run.Finish()
	if !strings.Contains(h.Get("Content-Type"), "text/event-stream") || strings.Count(body, "data:") != 5 {
		t.Fatalf("stream: %v %q", h, body)
	}
	c := calls[0]
	if !c.Streamed || len(c.Chunks) < 2 || c.Model != "gpt-test" || c.FirstByte <= 0 || c.FirstByte >= c.Duration {
		t.Fatalf("recorded stream: streamed %v, %d chunks, model %q, first byte %v of %v", c.Streamed, len(c.Chunks), c.Model, c.FirstByte, c.Duration)
	}
	_, env, done = openRun(t, g, config(sdk.ModeReplay, up.as("openai")), &sdk.Recordings{Interactions: calls})
	_, replayed, _ := call(t, env, "one two three", true)
	done()
	if replayed != body {
		t.Errorf("replayed stream %q, recorded %q", replayed, body)
	}
}

func TestSecretsAreNeverStored(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	run, env, done := openRun(t, g, config(sdk.ModeRecord, up.as("openai")), nil)
	call(t, env, "my key is sk-secret-key-0123456789", false)
	done()
	calls, _ := run.Finish()
	blob, _ := json.Marshal(calls)
	if bytes.Contains(blob, []byte("sk-secret-key-0123456789")) {
		t.Fatalf("the API key is in the recording: %s", blob)
	}
	if !bytes.Contains(calls[0].RequestBody, []byte("[masked:OPENAI_API_KEY]")) {
		t.Errorf("request body not masked: %s", calls[0].RequestBody)
	}
}

// 64 node runs in flight, each on its own channel: every call is stored
// under the run that made it, none under another.
func TestEveryCallBelongsToItsRunUnderConcurrency(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, up.as("openai"))
	const runs, each = 64, 5
	var wg sync.WaitGroup
	results := make([][]sdk.Interaction, runs)
	for r := 0; r < runs; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run, env, done := openRun(t, g, cfg, nil)
			for i := 0; i < each; i++ {
				call(t, env, fmt.Sprintf("run-%d call-%d", r, i), false)
			}
			done()
			results[r], _ = run.Finish()
		}()
	}
	wg.Wait()
	for r, calls := range results {
		if len(calls) != each {
			t.Fatalf("run %d has %d calls", r, len(calls))
		}
		for i, c := range calls {
			if want := fmt.Sprintf("run-%d call-%d", r, i); !bytes.Contains(c.RequestBody, []byte(want)) {
				t.Errorf("run %d call %d is %s", r, i, c.RequestBody)
			}
		}
	}
}

func TestACallOnAChannelWithNoRunIsRefused(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, up.as("openai"))
	ch, _ := g.NewChannel(cfg)
	env := ch.Env(nil, nil)
	status, body, _ := call(t, env, "hello", false)
	if status != http.StatusConflict || up.count() != 0 {
		t.Fatalf("unbound channel: %d %s, upstream saw %d", status, body, up.count())
	}
	ch.Close()
	if status, _, _ := call(t, env, "hello", false); status != http.StatusForbidden {
		t.Fatalf("closed channel: %d", status)
	}
}

func TestAnUpstreamThatKeepsFailingIsInfrastructure(t *testing.T) {
	up := newUpstream(t)
	up.fail = 1
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, up.as("openai"))
	run, env, done := openRun(t, g, cfg, nil)
	if status, _, _ := call(t, env, "x", false); status != 503 {
		t.Fatalf("status %d", status)
	}
	done()
	if _, p := run.Finish(); p == nil || p.Kind != sdk.FailureInfrastructure || !p.Retryable {
		t.Fatalf("a 503 with no later success: %+v", p)
	}
	// A failure followed by a success (the SDK retried) is no problem.
	up.fail = 1
	run, env, done = openRun(t, g, cfg, nil)
	call(t, env, "x", false)
	call(t, env, "x", false)
	done()
	if _, p := run.Finish(); p != nil {
		t.Fatalf("recovered: %+v", p)
	}
	// An unreachable upstream.
	dead := sdk.Upstream{Name: "dead", URL: "https://127.0.0.1:1/v1", BaseURLEnv: "OPENAI_BASE_URL"}
	run, env, done = openRun(t, g, config(sdk.ModeRecord, dead), nil)
	if status, body, _ := call(t, env, "x", false); status != http.StatusBadGateway || !strings.Contains(body, "wtb_upstream_unreachable") {
		t.Fatalf("unreachable: %d %s", status, body)
	}
	done()
	if _, p := run.Finish(); p == nil || p.Kind != sdk.FailureInfrastructure {
		t.Fatalf("unreachable: %+v", p)
	}
}

func TestARecordingPastItsLimitFailsTheRun(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, up.as("openai"))
	cfg.MaxRecordingBytes = 10
	run, env, done := openRun(t, g, cfg, nil)
	call(t, env, "a long enough answer", false)
	done()
	calls, p := run.Finish()
	if p == nil || p.Kind != sdk.FailureOutputTooLarge || len(calls[0].ResponseBody) != 0 {
		t.Fatalf("over the limit: %+v, body %q", p, calls[0].ResponseBody)
	}
}

// Proxy mode: a client with no base-URL setting reaches the upstream through
// HTTPS_PROXY, trusting the gateway's CA from the bundle it hands out; the
// call is intercepted and recorded. Other hosts are refused when told so.
func TestProxyModeInterceptsUpstreamsAndRefusesOthers(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	u := up.as("openai")
	u.BaseURLEnv = ""
	cfg := config(sdk.ModeRecord, u)
	cfg.Proxy, cfg.OtherHosts = true, "deny"
	run, env, done := openRun(t, g, cfg, nil)
	client := proxyClient(t, env)
	resp, err := client.Post(up.srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-test","messages":[{"content":"through the proxy"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "through the proxy") || resp.Header.Get(SourceHeader) != sdk.SourceRecorded {
		t.Fatalf("proxied: %d %s %v", resp.StatusCode, b, resp.Header)
	}
	if _, err := client.Get("https://example.invalid/"); err == nil {
		t.Errorf("a host that is no upstream passed with other_hosts = deny")
	}
	done()
	calls, _ := run.Finish()
	if len(calls) != 2 || calls[0].Path != "/chat/completions" || !strings.Contains(calls[1].Error, "refused") {
		t.Fatalf("calls: %+v", calls)
	}
}

func proxyClient(t *testing.T, env map[string]string) *http.Client {
	t.Helper()
	proxy, err := url.Parse(env["HTTPS_PROXY"])
	if err != nil || proxy.User == nil {
		t.Fatalf("HTTPS_PROXY %q", env["HTTPS_PROXY"])
	}
	bundle, err := os.ReadFile(env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		t.Fatal("no certificate in the bundle")
	}
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func TestIgnoredPathsAndQueryOrderDoNotChangeTheKey(t *testing.T) {
	m := newMatcher(&sdk.ModelCalls{IgnoreJSONPaths: []string{"$.user", "$.messages[*].id"}, MatchHeaders: []string{"Anthropic-Version"}})
	a := m.key("POST", "u", "/p", "b=1&a=2", map[string]string{"anthropic-version": "1"}, []byte(`{"user":"x","messages":[{"id":1,"c":"hi"}],"n":1}`))
	b := m.key("POST", "u", "/p", "a=2&b=1", map[string]string{"anthropic-version": "1", "user-agent": "other"}, []byte(`{"n":1,"messages":[{"c":"hi","id":2}],"user":"y"}`))
	if a != b {
		t.Errorf("equivalent requests have different keys")
	}
	c := m.key("POST", "u", "/p", "a=2&b=1", map[string]string{"anthropic-version": "2"}, []byte(`{"n":1,"messages":[{"c":"hi"}]}`))
	if a == c {
		t.Errorf("a matched header was ignored")
	}
	for _, bad := range []string{"user", "$", "$.a[", "$.a[x]", "$..a"} {
		if _, err := ParseJSONPath(bad); err == nil {
			t.Errorf("ParseJSONPath(%q) accepted", bad)
		}
	}
}

// A stream the upstream cuts off halfway is an infrastructure failure of the
// run, and what came is recorded with the error.
func TestAStreamCutOffMidwayFailsTheRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"delta\":\"half\"}\n\n")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // reset mid-stream
	}))
	t.Cleanup(srv.Close)
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, sdk.Upstream{Name: "openai", URL: srv.URL + "/v1", BaseURLEnv: "OPENAI_BASE_URL"})
	run, env, done := openRun(t, g, cfg, nil)
	_, body, _ := call(t, env, "x", true)
	done()
	calls, p := run.Finish()
	if !strings.Contains(body, "half") || len(calls) != 1 || calls[0].Error == "" || p == nil || p.Kind != sdk.FailureInfrastructure {
		t.Fatalf("body %q, calls %+v, problem %+v", body, calls, p)
	}
}

// Replayed at the recorded pace, a stream takes at least as long as it did
// (a lower bound: sleeping never ends early); fast (the default) takes less.
func TestStreamsReplayAtTheRecordedPace(t *testing.T) {
	rec := sdk.Interaction{Upstream: "openai", Method: "POST", Path: "/chat/completions", Status: 200, Streamed: true,
		ResponseHeaders: map[string]string{"content-type": "text/event-stream"},
		Chunks:          []sdk.Chunk{{Data: []byte("data: 1\n\n"), Offset: 0}, {Data: []byte("data: 2\n\n"), Offset: time.Second}}}
	body := fmt.Sprintf(`{"model":"gpt-test","stream":true,"metadata":{"request_id":"a"},"messages":[{"role":"user","content":%q}]}`, "x")
	m := newMatcher(config(sdk.ModeReplay))
	rec.RequestBody = []byte(body)
	rec.MatchKey = m.key("POST", "openai", "/chat/completions", "", nil, rec.RequestBody)
	g := newGateway(t)
	took := map[string]time.Duration{}
	for _, pace := range []string{"fast", "recorded"} {
		cfg := config(sdk.ModeReplay, sdk.Upstream{Name: "openai", URL: "https://127.0.0.1:1/v1", BaseURLEnv: "OPENAI_BASE_URL"})
		cfg.Pace = pace
		_, env, done := openRun(t, g, cfg, &sdk.Recordings{Interactions: []sdk.Interaction{rec}})
		start := time.Now()
		req, _ := http.NewRequest("POST", env["OPENAI_BASE_URL"]+"/chat/completions", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took[pace] = time.Since(start)
		done()
		if string(got) != "data: 1\n\ndata: 2\n\n" {
			t.Fatalf("%s: %q", pace, got)
		}
	}
	if took["recorded"] < time.Second || took["fast"] >= took["recorded"] {
		t.Errorf("replayed fast in %v, at the recorded pace (1 s) in %v", took["fast"], took["recorded"])
	}
}

// Headers the configuration names are never stored either.
func TestConfiguredHeadersAreNotStored(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, up.as("openai"))
	cfg.RedactHeaders = []string{"X-Org-Secret"}
	run, env, done := openRun(t, g, cfg, nil)
	req, _ := http.NewRequest("POST", env["OPENAI_BASE_URL"]+"/chat/completions", strings.NewReader(`{"model":"m","messages":[{"content":"hi"}]}`))
	req.Header.Set("X-Org-Secret", "s3cret-value-123")
	req.Header.Set("X-Kept", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	done()
	calls, _ := run.Finish()
	if _, ok := calls[0].RequestHeaders["x-org-secret"]; ok || calls[0].RequestHeaders["x-kept"] != "yes" {
		t.Errorf("stored headers: %v", calls[0].RequestHeaders)
	}
}

// A node killed while a call streams: Finish reports the call unfinished,
// and the call's late end changes nothing (no race with what Finish
// returned: run with -race).
func TestACallStillStreamingWhenTheRunEnds(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: last\n\n")
	}))
	t.Cleanup(srv.Close)
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, sdk.Upstream{Name: "openai", URL: srv.URL + "/v1", BaseURLEnv: "OPENAI_BASE_URL"})
	run, env, done := openRun(t, g, cfg, nil)
	resp, err := http.Post(env["OPENAI_BASE_URL"]+"/chat/completions", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	calls, _ := run.Finish()
	close(release)
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	done()
	if len(calls) != 1 || !strings.Contains(calls[0].Error, "ended before") {
		t.Fatalf("calls at Finish: %+v", calls)
	}
	time.Sleep(50 * time.Millisecond) // let the late end run
	if calls[0].Method != "" || calls[0].Status != 0 {
		t.Errorf("the late end changed what Finish returned: %+v", calls[0])
	}
}
