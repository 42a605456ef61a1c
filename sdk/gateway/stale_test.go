package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/wtbench/wtb/sdk"
)

// An upstream that closes a kept-alive connection just as the next request
// arrives on it (what servers' idle timeouts do) costs the node nothing: the
// gateway sends the call again on a new connection. The server here answers
// only the first request of each connection and drops the connection on the
// second without reading it, so every call after the first meets a stale
// connection.
func TestACallOnAConnectionTheUpstreamClosedIsSentAgain(t *testing.T) {
	type connKey struct{}
	var mu sync.Mutex
	served := map[net.Conn]int{}
	answered, dropped := 0, 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(connKey{}).(net.Conn)
		mu.Lock()
		served[c]++
		first := served[c] == 1
		if first {
			answered++
		} else {
			dropped++
		}
		mu.Unlock()
		if !first {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"model":"gpt-test","usage":{"prompt_tokens":1,"completion_tokens":1}}`)
	}))
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	srv.Start()
	t.Cleanup(srv.Close)

	g := newGateway(t)
	cfg := config(sdk.ModeLive, sdk.Upstream{Name: "openai", URL: srv.URL + "/v1", BaseURLEnv: "OPENAI_BASE_URL"})
	run, env, done := openRun(t, g, cfg, nil)
	for i := range 4 {
		if status, body, _ := call(t, env, "hi", false); status != 200 {
			t.Fatalf("call %d: %d %s", i+1, status, body)
		}
	}
	done()
	calls, problem := run.Finish()
	if problem != nil || len(calls) != 4 {
		t.Fatalf("%d calls, problem %+v", len(calls), problem)
	}
	mu.Lock()
	defer mu.Unlock()
	if answered != 4 || dropped != 3 {
		t.Errorf("the upstream answered %d and dropped %d; want 4 and 3 (every call after the first met a closed connection)", answered, dropped)
	}
}
