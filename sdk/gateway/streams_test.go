package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/sdk"
)

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
