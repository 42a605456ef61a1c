package gateway

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// faultUpstream is a model API with a provider's limits, for what LiteLLM's
// mock cannot do: a limit of perSecond requests a second (a token bucket
// holding burst requests) answered with 429 and a Retry-After beyond it, or
// a scripted series of push backs. It answers with usage, slowly if told.
type faultUpstream struct {
	srv *httptest.Server

	mu        sync.Mutex
	perSecond float64
	burst     float64
	bucket    float64
	last      time.Time
	pushBack  []http.Header // answer the next calls with 429 and these headers
	always    http.Header   // answer every call with 429 and these headers
	delay     time.Duration
	tokens    int
	arrivals  []time.Time
	ok, no429 int
	inflight  int
	peak      int
}

func newFaultUpstream(t testing.TB) *faultUpstream {
	f := &faultUpstream{tokens: 15}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// limitTo makes the upstream allow n requests a second, up to burst at once.
func (f *faultUpstream) limitTo(n, burst float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.perSecond, f.burst, f.bucket, f.last = n, burst, burst, time.Now()
}

func (f *faultUpstream) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	f.mu.Lock()
	f.arrivals = append(f.arrivals, now)
	var refuse http.Header
	switch {
	case f.always != nil:
		refuse = f.always
	case len(f.pushBack) > 0:
		refuse, f.pushBack = f.pushBack[0], f.pushBack[1:]
	case f.perSecond > 0:
		f.bucket = min(f.burst, f.bucket+now.Sub(f.last).Seconds()*f.perSecond)
		f.last = now
		if f.bucket < 1 {
			// When the next request will be let in, as OpenAI says it.
			wait := time.Duration((1 - f.bucket) / f.perSecond * float64(time.Second))
			refuse = http.Header{"Retry-After-Ms": {strconv.FormatInt(wait.Milliseconds()+1, 10)},
				"Retry-After": {strconv.Itoa(int(math.Ceil(wait.Seconds())))}}
		} else {
			f.bucket--
		}
	}
	if refuse != nil {
		f.no429++
		f.mu.Unlock()
		for k, v := range refuse {
			w.Header()[k] = v
		}
		http.Error(w, `{"error":{"type":"rate_limit_exceeded","message":"slow down"}}`, http.StatusTooManyRequests)
		return
	}
	f.ok++
	f.inflight++
	f.peak = max(f.peak, f.inflight)
	delay, tokens := f.delay, f.tokens
	f.mu.Unlock()
	time.Sleep(delay)
	f.mu.Lock()
	f.inflight--
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"model":"gpt-test","choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":%d,"completion_tokens":0}}`, tokens)
}

func (f *faultUpstream) as(name string, l sdk.Limits) sdk.Upstream {
	return sdk.Upstream{Name: name, URL: f.srv.URL + "/v1", BaseURLEnv: "OPENAI_BASE_URL", APIKeyEnv: "OPENAI_API_KEY", Limits: l}
}

func (f *faultUpstream) seen() (arrivals []time.Time, ok, refused, peak int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.arrivals...), f.ok, f.no429, f.peak
}

func TestARetryAfterIsWaitedOutAndLeftOutOfLatency(t *testing.T) {
	f := newFaultUpstream(t)
	f.pushBack = []http.Header{{"Retry-After": {"1"}}}
	g := newGateway(t)
	run, env, done := openRun(t, g, config(sdk.ModeRecord, f.as("openai", sdk.Limits{Retries: 2})), nil)
	if status, body, _ := call(t, env, "x", false); status != 200 {
		t.Fatalf("the call after a Retry-After: %d %s", status, body)
	}
	done()
	calls, p := run.Finish()
	if p != nil {
		t.Fatalf("a call that got through on its second attempt is no problem: %+v", p)
	}
	arrivals, _, _, _ := f.seen()
	if len(arrivals) != 2 || arrivals[1].Sub(arrivals[0]) < time.Second {
		t.Fatalf("the retry did not wait the second the upstream asked for: %v", arrivals)
	}
	x := calls[0]
	if x.Status != 200 || x.Attempts != 2 || x.QueueTime < time.Second {
		t.Fatalf("status %d, attempts %d, queue %v; want 200, 2, >= 1s", x.Status, x.Attempts, x.QueueTime)
	}
	// Latency counts the attempt that answered, not the wait before it.
	if !x.Started.After(arrivals[1].Add(-50*time.Millisecond)) || x.Duration >= x.QueueTime {
		t.Errorf("the call's latency includes its queue: started %v (last attempt %v), duration %v, queue %v",
			x.Started, arrivals[1], x.Duration, x.QueueTime)
	}
	if w := run.Waited(); w < time.Second || w > x.QueueTime+time.Millisecond {
		t.Errorf("the run waited %v; its call queued %v", w, x.QueueTime)
	}
}

func TestARetryAfterIsHonouredOnlyUpToTheCap(t *testing.T) {
	f := newFaultUpstream(t)
	f.pushBack = []http.Header{{"Retry-After": {"3600"}}}
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, f.as("openai", sdk.Limits{Retries: 1, MaxRetryWait: 200 * time.Millisecond}))
	run, env, done := openRun(t, g, cfg, nil)
	if status, _, _ := call(t, env, "x", false); status != 200 {
		t.Fatalf("status %d", status)
	}
	done()
	run.Finish()
	arrivals, _, _, _ := f.seen()
	if len(arrivals) != 2 || arrivals[1].Sub(arrivals[0]) < 200*time.Millisecond {
		t.Fatalf("the retry came before the cap: %v", arrivals)
	}
}

func TestAPushBackThatOutlastsTheRetriesIsInfrastructure(t *testing.T) {
	f := newFaultUpstream(t)
	f.always = http.Header{"Retry-After-Ms": {"20"}}
	g := newGateway(t)
	run, env, done := openRun(t, g, config(sdk.ModeRecord, f.as("openai", sdk.Limits{Retries: 2})), nil)
	status, body, _ := call(t, env, "x", false)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "slow down") {
		t.Fatalf("the node sees the last answer: %d %s", status, body)
	}
	done()
	calls, p := run.Finish()
	if _, _, refused, _ := f.seen(); refused != 3 {
		t.Fatalf("%d attempts; want 1 + 2 retries", refused)
	}
	if len(calls) != 1 || calls[0].Attempts != 3 {
		t.Fatalf("calls %+v", calls)
	}
	if p == nil || p.Kind != sdk.FailureInfrastructure || !p.Retryable || !strings.Contains(p.Message, "429 3 times") {
		t.Fatalf("a 429 past the retries must be a retryable infrastructure failure that says so: %+v", p)
	}
}

func TestMaxConcurrencyBoundsTheCallsInFlight(t *testing.T) {
	f := newFaultUpstream(t)
	f.delay = 40 * time.Millisecond
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, f.as("openai", sdk.Limits{MaxConcurrency: 3}))
	callsFromRuns(t, g, cfg, 4, 3)
	if _, ok, _, peak := f.seen(); ok != 12 || peak > 3 {
		t.Fatalf("%d calls answered, %d at once; want 12, at most 3", ok, peak)
	}
}

func TestRequestsPerMinutePacesTheCalls(t *testing.T) {
	f := newFaultUpstream(t)
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, f.as("openai", sdk.Limits{RequestsPerMinute: 600})) // one every 100 ms
	callsFromRuns(t, g, cfg, 5, 2)
	arrivals, ok, _, _ := f.seen()
	if ok != 10 {
		t.Fatalf("%d calls answered", ok)
	}
	// Ten calls sent at once arrive over at least nine intervals (less the
	// loopback's jitter at both ends).
	if span := arrivals[len(arrivals)-1].Sub(arrivals[0]); span < 800*time.Millisecond {
		t.Fatalf("10 calls at 600 a minute arrived within %v", span)
	}
}

func TestTokensPerMinuteHoldsCallsOnceTheMinuteIsSpent(t *testing.T) {
	f := newFaultUpstream(t)
	f.tokens = 20000
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, f.as("openai", sdk.Limits{TokensPerMinute: 60000}))
	run, env, done := openRun(t, g, cfg, nil)
	defer done()
	for range 3 { // 60,000 tokens: the minute's budget
		if status, _, _ := call(t, env, "x", false); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	// The fourth call would take 20,000 more: it waits (20 s at 1,000 a
	// second), and the upstream does not see it.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", env["OPENAI_BASE_URL"]+"/chat/completions", strings.NewReader(`{"model":"m"}`))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a call past the minute's tokens was answered: %d", resp.StatusCode)
	}
	if _, ok, _, _ := f.seen(); ok != 3 {
		t.Fatalf("the upstream saw %d calls; want 3", ok)
	}
	done()
	run.Finish()
}

// Under an upstream that lets n requests a second through and answers 429
// beyond, every call gets through: the gateway waits as told, halves its
// window and grows it again. The throughput it reaches is measured by
// BenchmarkThroughputUnderARateLimit; here it is only logged.
func TestEveryCallGetsThroughAnUpstreamsRateLimit(t *testing.T) {
	f := newFaultUpstream(t)
	f.delay = 5 * time.Millisecond
	f.limitTo(20, 4)
	g := newGateway(t)
	cfg := config(sdk.ModeRecord, f.as("openai", sdk.Limits{Retries: 20}))
	start := time.Now()
	problems := callsFromRuns(t, g, cfg, 12, 5)
	took := time.Since(start)
	_, ok, refused, _ := f.seen()
	if problems != 0 || ok != 60 {
		t.Fatalf("%d calls answered, %d runs with a problem; want 60, 0", ok, problems)
	}
	if refused == 0 {
		t.Fatal("the upstream never pushed back: the test tests nothing")
	}
	l := g.limiterFor(&cfg.Upstreams[0])
	window, inflight, waiting := l.state()
	if inflight != 0 || waiting != 0 || math.IsInf(window, 1) {
		t.Fatalf("after the calls: window %v, %d in flight, %d waiting", window, inflight, waiting)
	}
	t.Logf("60 calls in %v (%.1f/s under a limit of 20/s), %d pushed back, window now %.1f",
		took.Round(time.Millisecond), 60/took.Seconds(), refused, window)
}

// callsFromRuns makes runs node runs call the upstream perRun times each, all
// at once; it returns how many runs finished with a problem.
func callsFromRuns(t testing.TB, g *Gateway, cfg *sdk.ModelCalls, runs, perRun int) (problems int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range runs {
		run := NewRun(cfg, "answer", nil, nil)
		ch, err := g.NewChannel(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ch.Bind(run)
		env := ch.Env(nil, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perRun {
				req, _ := http.NewRequest("POST", env["OPENAI_BASE_URL"]+"/chat/completions", strings.NewReader(`{"model":"m"}`))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
			ch.Close()
			if _, p := run.Finish(); p != nil {
				mu.Lock()
				problems++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return problems
}
