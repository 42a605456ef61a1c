package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// The gateway's cost, measured against a loopback upstream in the same run:
// the same calls made straight to the upstream and through the gateway (live,
// recording, replaying). Figures are per call; run with
//
//	go test -run '^$' -bench . -benchtime 3s ./sdk/gateway
//
// (make bench prints them with the ratios).

const benchAnswer = `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}`

const benchRequest = `{"model":"gpt-test","messages":[{"role":"system","content":"Answer in one sentence."},{"role":"user","content":"What is the capital of France?"}]}`

// benchUpstream answers every call at once over plain HTTP on loopback (TLS
// would measure TLS, on both sides alike).
func benchUpstream(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchAnswer)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true}}
}

func post(b *testing.B, c *http.Client, url string) {
	resp, err := c.Post(url, "application/json", strings.NewReader(benchRequest))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// latencies runs b.N calls one after another and reports their p50 and p99.
func latencies(b *testing.B, call func()) {
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		call()
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
}

// through opens a channel bound to a run of cfg and returns the base URL a
// node would get, and the run.
func through(b *testing.B, cfg *sdk.ModelCalls, rec *sdk.Recordings) (string, *Run) {
	g, err := New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	run := NewRun(cfg, "bench", rec, nil)
	ch, err := g.NewChannel(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ch.Bind(run)
	return ch.Env(nil, nil)["OPENAI_BASE_URL"], run
}

func benchConfig(mode, url string) *sdk.ModelCalls {
	return &sdk.ModelCalls{Mode: mode, Upstreams: []sdk.Upstream{{Name: "openai", URL: url, BaseURLEnv: "OPENAI_BASE_URL"}},
		MaxRecordingBytes: 1 << 40}
}

func BenchmarkCallDirect(b *testing.B) {
	up := benchUpstream(b)
	c := benchClient()
	latencies(b, func() { post(b, c, up.URL+"/v1/chat/completions") })
}

func BenchmarkCallThroughGatewayLive(b *testing.B) {
	up := benchUpstream(b)
	base, _ := through(b, benchConfig(sdk.ModeLive, up.URL+"/v1"), nil)
	c := benchClient()
	latencies(b, func() { post(b, c, base+"/chat/completions") })
}

func BenchmarkCallThroughGatewayRecording(b *testing.B) {
	up := benchUpstream(b)
	base, _ := through(b, benchConfig(sdk.ModeRecord, up.URL+"/v1"), nil)
	c := benchClient()
	latencies(b, func() { post(b, c, base+"/chat/completions") })
}

func BenchmarkCallReplayed(b *testing.B) {
	up := benchUpstream(b)
	// One recording, served b.N times: identical requests replay in order,
	// so the recording holds b.N of them.
	rec := &sdk.Recordings{}
	base, run := through(b, benchConfig(sdk.ModeRecord, up.URL+"/v1"), nil)
	post(b, benchClient(), base+"/chat/completions")
	calls, _ := run.Finish()
	for i := 0; i < b.N; i++ {
		x := calls[0]
		x.Ordinal = i
		rec.Interactions = append(rec.Interactions, x)
	}
	up.Close()
	base, _ = through(b, benchConfig(sdk.ModeReplay, up.URL+"/v1"), rec)
	c := benchClient()
	latencies(b, func() { post(b, c, base+"/chat/completions") })
}

// throughput: 64 clients at once, each on a channel of its own (64 node
// runs in flight), calls per second. newRun, when set, starts a new node run
// on a client's channel every 8 calls, as node runs come and go.
func throughput(b *testing.B, url func(i int) string, newRun func(i int)) {
	const clients = 64
	urls := make([]string, clients)
	for i := range urls {
		urls[i] = url(i)
	}
	c := benchClient()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; next.Add(1) <= int64(b.N); n++ {
				if newRun != nil && n%8 == 0 {
					newRun(i)
				}
				post(b, c, urls[i]+"/chat/completions")
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

func BenchmarkThroughputDirect(b *testing.B) {
	up := benchUpstream(b)
	throughput(b, func(int) string { return up.URL + "/v1" }, nil)
}

func BenchmarkThroughputGatewayRecording(b *testing.B) {
	up := benchUpstream(b)
	g, err := New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	cfg := benchConfig(sdk.ModeRecord, up.URL+"/v1")
	channels := make([]*Channel, 64)
	throughput(b, func(i int) string {
		channels[i], _ = g.NewChannel(cfg)
		return channels[i].Env(nil, nil)["OPENAI_BASE_URL"]
	}, func(i int) {
		channels[i].Bind(NewRun(cfg, "bench", nil, nil))
	})
}

// streamUpstream sends an SSE stream: its first event after first, then
// size bytes in 16 KiB events.
func streamUpstream(b *testing.B, first time.Duration, size int) *httptest.Server {
	chunk := "data: " + strings.Repeat("x", 16<<10-8) + "\n\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		time.Sleep(first)
		_, _ = io.WriteString(w, "data: {\"model\":\"gpt-test\"}\n\n")
		w.(http.Flusher).Flush()
		for sent := 0; sent < size; sent += len(chunk) {
			_, _ = io.WriteString(w, chunk)
		}
		w.(http.Flusher).Flush()
	}))
	b.Cleanup(srv.Close)
	return srv
}

// firstByte is the time to the first byte of the response body.
func firstByte(b *testing.B, c *http.Client, url string) time.Duration {
	start := time.Now()
	resp, err := c.Post(url, "application/json", strings.NewReader(`{"model":"gpt-test","stream":true}`))
	if err != nil {
		b.Fatal(err)
	}
	one := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, one); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return d
}

// BenchmarkTimeToFirstByte: a stream whose first event comes after 5 ms,
// straight and through the gateway (recording); p50 of each and the
// difference.
func BenchmarkTimeToFirstByte(b *testing.B) {
	up := streamUpstream(b, 5*time.Millisecond, 64<<10)
	base, _ := through(b, benchConfig(sdk.ModeRecord, up.URL+"/v1"), nil)
	c := benchClient()
	var direct, gw []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		direct = append(direct, firstByte(b, c, up.URL+"/v1/chat/completions"))
		gw = append(gw, firstByte(b, c, base+"/chat/completions"))
	}
	b.StopTimer()
	p50 := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	d, g := p50(direct), p50(gw)
	b.ReportMetric(float64(d.Microseconds()), "direct-µs")
	b.ReportMetric(float64(g.Microseconds()), "gateway-µs")
	b.ReportMetric(float64((g - d).Microseconds()), "added-µs")
}

// BenchmarkStreamMemory passes 100 MiB of streamed response through the
// gateway, live (nothing kept) and recording into a 16 MiB limit (the run
// fails past it rather than keep part), and reports the heap the gateway
// grew to: bounded by what is in flight, not by what passed.
func BenchmarkStreamMemory(b *testing.B) {
	const size = 100 << 20
	up := streamUpstream(b, 0, size)
	for _, mode := range []string{sdk.ModeLive, sdk.ModeRecord} {
		b.Run(mode, func(b *testing.B) {
			cfg := benchConfig(mode, up.URL+"/v1")
			cfg.MaxRecordingBytes = 16 << 20
			for i := 0; i < b.N; i++ {
				base, run := through(b, cfg, nil)
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				var peak atomic.Uint64
				done := make(chan struct{})
				go func() {
					var m runtime.MemStats
					for {
						select {
						case <-done:
							return
						case <-time.After(20 * time.Millisecond):
							runtime.ReadMemStats(&m)
							if m.HeapInuse > peak.Load() {
								peak.Store(m.HeapInuse)
							}
						}
					}
				}()
				resp, err := benchClient().Post(base+"/chat/completions", "application/json", strings.NewReader(`{"stream":true}`))
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				close(done)
				if n < size {
					b.Fatalf("%d bytes came through", n)
				}
				_, problem := run.Finish()
				if mode == sdk.ModeRecord && problem == nil {
					b.Fatal("a recording past its limit did not fail the run")
				}
				grown := float64(peak.Load()) - float64(before.HeapInuse)
				b.ReportMetric(max(grown, 0)/(1<<20), "heap-growth-MiB")
				b.ReportMetric(float64(n)/(1<<20), "streamed-MiB")
			}
		})
	}
}

func ExampleChannel_Env() {
	g, _ := New()
	defer g.Close()
	cfg := &sdk.ModelCalls{Mode: sdk.ModeReplay, Upstreams: []sdk.Upstream{
		{Name: "openai", URL: "https://api.openai.com/v1", BaseURLEnv: "OPENAI_BASE_URL", APIKeyEnv: "OPENAI_API_KEY"}}}
	ch, _ := g.NewChannel(cfg)
	env := ch.Env(map[string]string{}, func(string) (string, bool) { return "", false })
	fmt.Println(strings.HasPrefix(env["OPENAI_BASE_URL"], "http://127.0.0.1:"), env["OPENAI_API_KEY"])
	// Output: true wtb-replay-needs-no-key
}

// The limiter's cost per call: the live gateway with every limit set (a
// window, a pace and a token budget, all too wide to hold anything back) —
// compare its p50 with BenchmarkCallThroughGatewayLive's (no limits) in the
// same run.
func BenchmarkCallThroughGatewayLimited(b *testing.B) {
	up := benchUpstream(b)
	cfg := benchConfig(sdk.ModeLive, up.URL+"/v1")
	cfg.Upstreams[0].Limits = sdk.Limits{MaxConcurrency: 64, RequestsPerMinute: 1e9, TokensPerMinute: 1 << 40, Retries: 4}
	base, _ := through(b, cfg, nil)
	c := benchClient()
	latencies(b, func() { post(b, c, base+"/chat/completions") })
}

// Throughput under an upstream's rate limit: 16 callers against an upstream
// that answers in 100 ms, lets 50 requests a second through (5 at once) and answers 429 with
// its Retry-After beyond; reported as calls a second, as a percentage of the
// limit and as 429s per call answered. "adaptive": no limits configured,
// the gateway learns from the 429s; "paced": requests_per_minute set to the
// upstream's limit.
func BenchmarkThroughputUnderARateLimit(b *testing.B) {
	const perSecond = 50
	for _, c := range []struct {
		name   string
		limits sdk.Limits
	}{
		{"adaptive", sdk.Limits{Retries: 50}},
		{"paced", sdk.Limits{Retries: 50, RequestsPerMinute: perSecond * 60}},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newFaultUpstream(b)
			f.limitTo(perSecond, 5)
			f.delay = 100 * time.Millisecond // a model takes a moment: the window is what paces
			cfg := config(sdk.ModeLive, f.as("openai", c.limits))
			g, err := New()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { g.Close() })
			n := max(b.N, 150)
			b.ResetTimer()
			start := time.Now()
			problems := callsFromRuns(b, g, cfg, 16, (n+15)/16)
			took := time.Since(start)
			b.StopTimer()
			_, ok, refused, _ := f.seen()
			if problems != 0 {
				b.Fatalf("%d runs failed", problems)
			}
			rate := float64(ok) / took.Seconds()
			b.ReportMetric(rate, "calls/s")
			b.ReportMetric(100*rate/perSecond, "%-of-limit")
			b.ReportMetric(float64(refused)/float64(ok), "429s/call")
		})
	}
}
