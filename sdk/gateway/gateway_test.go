package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wtbench/wtb/sdk"
)

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
