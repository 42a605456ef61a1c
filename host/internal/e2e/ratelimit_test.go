package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	osexec "os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// limitedUpstream is a model API that lets perSecond requests a second
// through (a token bucket holding burst) and answers 429 with Retry-After
// beyond, the way OpenAI does; the first holds calls it answers with 429
// and "Retry-After: holdSecs" whatever the bucket holds. LiteLLM's mock
// cannot keep a limit over time, so this one is ours.
type limitedUpstream struct {
	srv *httptest.Server

	mu                sync.Mutex
	perSecond, burst  float64
	bucket            float64
	last              time.Time
	holds, holdSecs   int
	heldAt            time.Time // when the last hold was asked for
	okAt              []time.Time
	refused, inflight int
	peak              int
	delay             time.Duration // how long an answer takes
}

func newLimitedUpstream(t *testing.T, perSecond, burst float64) *limitedUpstream {
	u := &limitedUpstream{perSecond: perSecond, burst: burst, bucket: burst, last: time.Now(), delay: 20 * time.Millisecond}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *limitedUpstream) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	u.mu.Lock()
	u.bucket = min(u.burst, u.bucket+now.Sub(u.last).Seconds()*u.perSecond)
	u.last = now
	var retry http.Header
	switch {
	case u.holds > 0:
		u.holds--
		u.heldAt = now
		retry = http.Header{"Retry-After": {strconv.Itoa(u.holdSecs)}}
	case u.bucket < 1:
		wait := time.Duration((1 - u.bucket) / u.perSecond * float64(time.Second))
		retry = http.Header{"Retry-After-Ms": {strconv.FormatInt(wait.Milliseconds()+1, 10)},
			"Retry-After": {strconv.Itoa(int(math.Ceil(wait.Seconds())))}}
	default:
		u.bucket--
		u.okAt = append(u.okAt, now)
		u.inflight++
		u.peak = max(u.peak, u.inflight)
	}
	if retry != nil {
		u.refused++
		u.mu.Unlock()
		for k, v := range retry {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"type":"rate_limit_exceeded","message":"Rate limit reached for requests"}}`)
		return
	}
	delay := u.delay
	u.mu.Unlock()
	time.Sleep(delay) // a model takes a moment
	u.mu.Lock()
	u.inflight--
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}`)
}

// rateLimitedBench: n cases of one node that makes one chat call (Python's
// stdlib client: no retries of its own) and reports how long it ran by its
// own clock; the answer is scored, and so is the latency.
func (e *env) rateLimitedBench(py, url string, n int, upstreamExtra, runner string) {
	e.t.Helper()
	e.write("call.py", `
import json, os, sys, time, urllib.request, urllib.error
t0 = time.monotonic()
json.load(sys.stdin)
r = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
    data=b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"capital of France?"}]}',
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ.get("OPENAI_API_KEY", "")})
try:
    answer = json.load(urllib.request.urlopen(r, timeout=120))["choices"][0]["message"]["content"]
except urllib.error.HTTPError as err:
    answer = "no answer (%d)" % err.code
print(json.dumps({"answer": answer, "wall_ms": (time.monotonic() - t0) * 1000}))
`)
	var cases strings.Builder
	for i := range n {
		fmt.Fprintf(&cases, "{\"id\": \"c%03d\", \"input\": {}}\n", i)
	}
	e.write("cases.jsonl", cases.String())
	e.write("bench.hcl", fmt.Sprintf(`
gateway {
  mode = "record"
  upstream "openai" {
    url = "%s/v1"
    %s
  }
}
%s
workflow "w" {
  node "call" {
    command = [%q, "call.py"]
    timeout = "120s"
  }
}
batch_test "w" {
  workflow = workflow.w
  runner   = runner.main
  cases    = "cases.jsonl"
  evaluator "answer" {
    type   = "contains"
    path   = "$.answer"
    expect = "Paris"
  }
  evaluator "fast" {
    type   = "latency"
    max_ms = 2500
  }
}
`, url, upstreamExtra, runner, py))
}

// Under an upstream that allows N requests a second and answers 429 beyond
// (and, to begin with, asks for an 8 s pause), a batch completes with no
// execution failed and no score lowered; each call's wait in the gateway is
// stored apart, and the executions' latency leaves it out. The throughput
// is printed against N (BenchmarkThroughputUnderARateLimit measures it
// without the Python nodes).
func TestARateLimitedUpstreamFailsNothingAndCostsNoLatency(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	const n, perSecond = 40, 10.0
	up := newLimitedUpstream(t, perSecond, 2)
	up.holds, up.holdSecs = 1, 8
	e := newEnv(t)
	e.rateLimitedBench(py, up.srv.URL, n, "retries = 20", `runner "main" {
  plugin      = "pool"
  max_workers = 8
}`)
	t.Setenv("OPENAI_API_KEY", "sk-test-0123456789")
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	rs := e.results(e.store(), id)
	if len(rs) != n {
		t.Fatalf("%d results; want %d\n%s", len(rs), n, r.stderr)
	}
	up.mu.Lock()
	okAt, refused, heldAt := append([]time.Time(nil), up.okAt...), up.refused, up.heldAt
	up.mu.Unlock()
	if len(okAt) != n || refused < 2 {
		t.Fatalf("the upstream answered %d calls and refused %d; want %d answered and the limit reached", len(okAt), refused, n)
	}
	var queued []float64
	for _, res := range rs {
		// The answer must be right whatever the wait; the latency evaluator
		// must judge the execution's latency, which leaves the wait out
		// (checked below), so a slow machine may fail it, a queue may not.
		if !res.Success || res.Scores["answer"] != 1 || res.Scores["fast"] != boolScore(res.DurationMs <= 2500) {
			t.Errorf("%s: success %v, scores %v with latency %.0f ms (%s); a rate limit must not fail or lower anything",
				res.ExecutionKey, res.Success, res.Scores, res.DurationMs, res.Error)
		}
		queued = append(queued, res.Metrics["wtb.llm.queue_ms"])
	}
	// Every call stores how often it was sent and how long it waited.
	var sends, retried int
	waitOf := map[string]float64{}
	err = e.store().ModelCalls().Each(context.Background(), id, func(c *store.ModelCall) error {
		sends += c.Attempts
		if c.Attempts > 1 {
			retried++
			if c.QueueMs <= 0 {
				t.Errorf("call of %s was sent %d times and waited %v ms", c.ExecutionKey, c.Attempts, c.QueueMs)
			}
		}
		waitOf[c.ExecutionKey] += c.QueueMs
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sends != n+refused || retried == 0 {
		t.Errorf("calls sent %d times in all (%d retried); the upstream saw %d", sends, retried, n+refused)
	}
	// Latency leaves the queue out: an execution that waited 8 s for the
	// upstream's pause ran for less than it waited (a Python start on a
	// loaded machine has taken 2.6 s, never 8), yet its latency plus its
	// wait covers what the node measured itself.
	held := 0
	for _, res := range rs {
		q := res.Metrics["wtb.llm.queue_ms"]
		if math.Abs(q-waitOf[res.ExecutionKey]) > 0.01 {
			t.Errorf("%s: metric wtb.llm.queue_ms %v, its calls waited %v", res.ExecutionKey, q, waitOf[res.ExecutionKey])
		}
		var out struct {
			WallMs float64 `json:"wall_ms"`
		}
		if err := json.Unmarshal(nodeOutput(t, e, id, res.ExecutionKey), &out); err != nil || out.WallMs == 0 {
			t.Fatalf("%s: the node's own clock: %v", res.ExecutionKey, err)
		}
		if res.DurationMs+q < out.WallMs {
			t.Errorf("%s: latency %.0f ms + queue %.0f ms < the node's own %.0f ms: more than the wait was taken off",
				res.ExecutionKey, res.DurationMs, q, out.WallMs)
		}
		if q >= 7000 {
			held++
			if res.DurationMs <= 2500 && res.Scores["fast"] != 1 {
				t.Errorf("%s: the latency evaluator counted the %.0f ms wait", res.ExecutionKey, q)
			}
			if res.DurationMs >= q {
				t.Errorf("%s: latency %.0f ms includes its %.0f ms in the gateway (node's own clock %.0f ms)", res.ExecutionKey, res.DurationMs, q, out.WallMs)
			}
		}
	}
	if held == 0 {
		t.Errorf("no execution waited out the upstream's 8 s pause: %v", queued)
	}
	// Throughput once the pause was over: calls answered per second against
	// the upstream's limit.
	sort.Slice(okAt, func(i, j int) bool { return okAt[i].Before(okAt[j]) })
	after := sort.Search(len(okAt), func(i int) bool { return !okAt[i].Before(heldAt.Add(8 * time.Second)) })
	if after >= len(okAt)-1 {
		t.Fatalf("no calls after the pause: %v", okAt)
	}
	okAt = okAt[after:]
	span := okAt[len(okAt)-1].Sub(okAt[0]).Seconds()
	rate := float64(len(okAt)-1) / span
	t.Logf("after the pause, %d calls answered over %.2f s: %.1f/s under a limit of %.0f/s (%.0f %%); %d refused, %d calls retried",
		len(okAt), span, rate, perSecond, 100*rate/perSecond, refused, retried)
	if !strings.Contains(r.stderr, "40 model calls") {
		t.Errorf("the run line does not count the calls:\n%s", r.stderr)
	}
}

// nodeOutput is the output a node run of an execution stored.
func nodeOutput(t *testing.T, e *env, batch, key string) json.RawMessage {
	t.Helper()
	r := e.mustRun("show", key, "--batch", batch, "--format", "json")
	var doc struct {
		Nodes []struct {
			Output json.RawMessage `json:"output"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Nodes) == 0 {
		t.Fatalf("show %s %s: %v\n%s", batch, key, err, r.stdout)
	}
	return doc.Nodes[len(doc.Nodes)-1].Output
}

// Limits hold per gateway, and there is one gateway per runner process: the
// whole batch on the pool, each worker on Temporal (and each Ray actor or
// gRPC service). With max_concurrency = 1, the pool never has two calls in
// flight; two Temporal workers have at most two, one each. (A limit meant
// for the whole cluster is divided among its workers by the user; the
// README says so.)
func TestLimitsHoldPerRunnerProcess(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	run := func(e *env, runner string) *limitedUpstream {
		up := newLimitedUpstream(t, 1000, 1000)
		up.delay = 250 * time.Millisecond
		e.rateLimitedBench(py, up.srv.URL, 12, "max_concurrency = 1", runner)
		t.Setenv("OPENAI_API_KEY", "sk-test-0123456789")
		r := e.mustRun("run", "bench.hcl", "--no-progress")
		for _, res := range e.results(e.store(), batchID(t, r.stderr)) {
			if !res.Success || !res.Passed {
				t.Errorf("%s: success %v passed %v %s", res.ExecutionKey, res.Success, res.Passed, res.Error)
			}
		}
		up.mu.Lock() // the handlers are done; the lock orders their writes before these reads
		defer up.mu.Unlock()
		return up
	}
	pool := run(newEnv(t), `runner "main" {
  plugin      = "pool"
  max_workers = 6
}`)
	if pool.peak != 1 || len(pool.okAt) != 12 {
		t.Errorf("the pool: %d calls, %d at once at most; want 12, 1", len(pool.okAt), pool.peak)
	}
	te := newTemporalEnv(t)
	te.worker("w1")
	te.worker("w2")
	temporal := run(te.env, strings.Replace(te.runnerBlock(""), `runner "cluster"`, `runner "main"`, 1))
	if temporal.peak > 2 || len(temporal.okAt) != 12 {
		t.Errorf("two Temporal workers: %d calls, %d at once at most; want 12, at most 2", len(temporal.okAt), temporal.peak)
	}
	t.Logf("max_concurrency = 1: at most %d call(s) at once on the pool, %d on two Temporal workers", pool.peak, temporal.peak)
}

func boolScore(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}
