package gateway

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wtbench/wtb/sdk"
	"golang.org/x/time/rate"
)

// DefaultMaxRetryWait caps a Retry-After when the limits do not say.
const DefaultMaxRetryWait = 60 * time.Second

// pushedBack says the upstream refused a call for want of capacity: rate
// limited (429), overloaded (503, and Anthropic's 529). A later call may get
// through, so these are waited out and retried, never a node's failure.
func pushedBack(status int) bool { return status == 429 || status == 503 || status == 529 }

// limiter keeps the calls to one upstream within its limits, for every node
// run of the gateway. A call takes a turn (acquire) before each attempt and
// gives it back (release) with what became of the attempt.
//
// Concurrency adapts the way TCP's congestion window does (additive
// increase, multiplicative decrease): the window of calls let through at
// once halves when the upstream pushes back and grows by one per window's
// worth of successes, up to MaxConcurrency. Without MaxConcurrency the window
// is unbounded until the first push back, then starts at half the calls in
// flight. Calls beyond the window wait in order of arrival.
type limiter struct {
	lim sdk.Limits
	rpm *rate.Limiter // nil: no pace
	tpm *rate.Limiter // nil: no token budget

	mu       sync.Mutex
	window   float64 // calls let through at once; +Inf until a push back
	inflight int
	queue    []chan struct{}
	// epoch counts decreases: a push back on a call let in before the last
	// decrease does not halve the window again (one burst of 429s is one
	// signal, not many).
	epoch uint64
	// hold is when the upstream said it would take calls again (its
	// Retry-After): no call is sent before.
	hold time.Time
	// tokensPerCall is the mean of the calls' tokens so far: what a call is
	// expected to use, taken from the token budget before it is sent.
	tokensPerCall float64
	calls         int64

	pushbacks, retries atomic.Int64
}

func newLimiter(l sdk.Limits) *limiter {
	lm := &limiter{lim: l, window: math.Inf(1)}
	if l.MaxConcurrency > 0 {
		lm.window = float64(l.MaxConcurrency)
	}
	if l.RequestsPerMinute > 0 {
		// A burst of one: calls are spread evenly, so an upstream that
		// counts per second (or less) never sees more than its share.
		lm.rpm = rate.NewLimiter(rate.Limit(l.RequestsPerMinute/60), 1)
	}
	if l.TokensPerMinute > 0 {
		// A call's tokens are known only when it ends: a call takes what
		// calls have used on average before it is sent, the rest when it
		// ends (running the budget into debt if it must), so calls wait while
		// the minute's tokens are spent. The whole minute may go in one
		// burst, as providers' token buckets allow.
		lm.tpm = rate.NewLimiter(rate.Limit(float64(l.TokensPerMinute)/60), int(min(l.TokensPerMinute, math.MaxInt32)))
	}
	return lm
}

// slot is a call's turn, given back exactly once.
type slot struct {
	l        *limiter
	epoch    uint64
	taken    int // tokens taken from the budget before the call
	released atomic.Bool
}

// acquire waits for a turn: a place in the window, the end of any hold the
// upstream asked for, then the pace and the token budget.
func (l *limiter) acquire(ctx context.Context) (*slot, error) {
	l.mu.Lock()
	if len(l.queue) == 0 && float64(l.inflight) < l.window {
		l.inflight++
		s := &slot{l: l, epoch: l.epoch}
		l.mu.Unlock()
		return s, l.afterPlace(ctx, s)
	}
	ready := make(chan struct{})
	l.queue = append(l.queue, ready)
	l.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		l.mu.Lock()
		if i := slices.Index(l.queue, ready); i >= 0 {
			l.queue = slices.Delete(l.queue, i, i+1)
		} else {
			// Handed a place as the context ended: give it back.
			l.inflight--
			l.wakeLocked()
		}
		l.mu.Unlock()
		return nil, context.Cause(ctx)
	}
	l.mu.Lock()
	s := &slot{l: l, epoch: l.epoch}
	l.mu.Unlock()
	return s, l.afterPlace(ctx, s)
}

func (l *limiter) afterPlace(ctx context.Context, s *slot) error {
	for {
		l.mu.Lock()
		wait := time.Until(l.hold)
		l.mu.Unlock()
		if wait <= 0 {
			break
		}
		if err := sleep(ctx, wait); err != nil {
			s.release(0, 0, 0)
			return err
		}
	}
	if l.rpm != nil {
		if err := l.rpm.Wait(ctx); err != nil {
			s.release(0, 0, 0)
			return err
		}
	}
	if l.tpm != nil {
		l.mu.Lock()
		s.taken = int(min(max(1, math.Ceil(l.tokensPerCall)), float64(l.tpm.Burst())))
		l.mu.Unlock()
		if err := l.tpm.WaitN(ctx, s.taken); err != nil {
			s.taken = 0
			s.release(0, 0, 0)
			return err
		}
	}
	// A call is of the window it is sent in, not the one it was let in by:
	// calls held back by a Retry-After go out together after the decrease,
	// and their push backs say the smaller window is still too large.
	l.mu.Lock()
	s.epoch = l.epoch
	l.mu.Unlock()
	return nil
}

// release gives the turn back with the attempt's status (0: no answer),
// the tokens it used, and how long the upstream asked callers to hold off.
func (s *slot) release(status int, tokens int64, retryAfter time.Duration) {
	if s == nil || !s.released.CompareAndSwap(false, true) {
		return
	}
	l := s.l
	if l.tpm != nil && tokens > int64(s.taken) {
		l.tpm.ReserveN(time.Now(), int(min(tokens-int64(s.taken), int64(l.tpm.Burst()))))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if tokens > 0 {
		l.calls++
		l.tokensPerCall += (float64(tokens) - l.tokensPerCall) / float64(l.calls)
	}
	l.inflight--
	switch {
	case pushedBack(status):
		l.pushbacks.Add(1)
		if s.epoch == l.epoch {
			base := l.window
			if math.IsInf(base, 1) {
				base = float64(l.inflight + 1)
			}
			l.window = max(1, math.Floor(base/2))
			l.epoch++
		}
		if retryAfter > 0 {
			if until := time.Now().Add(retryAfter); until.After(l.hold) {
				l.hold = until
			}
		}
	case status >= 200 && status < 400 && !math.IsInf(l.window, 1):
		l.window += 1 / l.window
		if l.lim.MaxConcurrency > 0 {
			l.window = min(l.window, float64(l.lim.MaxConcurrency))
		}
	}
	l.wakeLocked()
}

// wakeLocked hands free places to the calls that waited longest.
func (l *limiter) wakeLocked() {
	for len(l.queue) > 0 && float64(l.inflight) < l.window {
		l.inflight++
		close(l.queue[0])
		l.queue = l.queue[1:]
	}
}

// state is the window and the calls in flight and waiting, for tests and
// messages.
func (l *limiter) state() (window float64, inflight, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.window, l.inflight, len(l.queue)
}

// retryWait is how long to wait before attempt n+1 of a call pushed back
// on: what the upstream asked (retry-after-ms, Retry-After in seconds or as
// a date), else an exponential backoff from 1 s with jitter; never more than
// the cap. asked says whether the upstream named the wait.
func (l *limiter) retryWait(h http.Header, attempt int, now time.Time) (wait time.Duration, asked bool) {
	limit := l.lim.MaxRetryWait
	if limit <= 0 {
		limit = DefaultMaxRetryWait
	}
	if d, ok := retryAfter(h, now); ok {
		return min(d, limit), true
	}
	backoff := time.Second << min(attempt-1, 10)
	// ±25 % so that calls pushed back together do not come back together.
	backoff = time.Duration(float64(backoff) * (0.75 + rand.Float64()/2))
	return min(backoff, limit), false
}

// retryAfter reads how long an upstream asked to wait.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && !math.IsInf(ms, 1) {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs < 1e9 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// limiterFor is the limiter of an upstream: one per name, URL and limits
// in the gateway, shared by every channel; nil when it has no limits.
func (g *Gateway) limiterFor(up *sdk.Upstream) *limiter {
	if !up.Limits.Limited() {
		return nil
	}
	key := up.Name + "\x00" + up.URL + "\x00" + limitsKey(up.Limits)
	if l, ok := g.limiters.Load(key); ok {
		return l.(*limiter)
	}
	l, _ := g.limiters.LoadOrStore(key, newLimiter(up.Limits))
	return l.(*limiter)
}

func limitsKey(l sdk.Limits) string {
	return strconv.Itoa(l.MaxConcurrency) + "/" + strconv.FormatFloat(l.RequestsPerMinute, 'g', -1, 64) + "/" +
		strconv.FormatInt(l.TokensPerMinute, 10) + "/" + strconv.Itoa(l.Retries) + "/" + l.MaxRetryWait.String()
}
