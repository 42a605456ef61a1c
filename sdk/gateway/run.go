package gateway

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// DefaultMaxRecordingBytes bounds what one node run records unless the
// configuration says otherwise.
const DefaultMaxRecordingBytes = 64 << 20

// Run is one node run's use of the gateway: the calls it made, and what it
// may replay.
type Run struct {
	cfg     *sdk.ModelCalls
	node    string
	rec     *sdk.Recordings
	matcher *matcher
	masker  *masker
	limit   int64

	mu       sync.Mutex
	queues   map[string][]*sdk.Interaction // replayable, by match key, in order
	calls    []sdk.Interaction
	bytes    int64
	miss     *MissError
	overflow bool
	// done is set by Finish: a call still in flight then (a node killed while
	// it streamed) is reported unfinished and its late end ignored.
	done bool
	// lastFailed is the upstream error of the run's last call to each
	// upstream ("" once a later call succeeded).
	lastFailed map[string]string
	// queued are the spans its calls waited in the gateway.
	queued []span
	// budget is the execution's, shared with the other node runs of its
	// request (nil: none); overBudget is why a call was refused for it.
	budget     *Budget
	overBudget string
}

type span struct{ from, to time.Time }

// NewRun starts a node run's use of the gateway. rec is what it may replay
// (nil: nothing); secrets are the values to mask in stored bodies, by the
// name of the variable that holds them.
func NewRun(cfg *sdk.ModelCalls, node string, rec *sdk.Recordings, secrets map[string]string) *Run {
	r := &Run{cfg: cfg, node: node, rec: rec, matcher: newMatcher(cfg), masker: newMasker(secrets),
		limit: cfg.MaxRecordingBytes, queues: map[string][]*sdk.Interaction{}, lastFailed: map[string]string{}}
	if r.limit <= 0 {
		r.limit = DefaultMaxRecordingBytes
	}
	if rec != nil && cfg.Replaying() {
		for i := range rec.Interactions {
			x := &rec.Interactions[i]
			// The key is computed again rather than trusted from the
			// recording: a changed matching rule applies to old recordings.
			key := r.matcher.key(x.Method, x.Upstream, x.Path, x.Query, x.RequestHeaders, x.RequestBody)
			r.queues[key] = append(r.queues[key], x)
		}
	}
	return r
}

// WithBudget makes the run's calls count against its execution's budget, and
// be refused once it is spent.
func (r *Run) WithBudget(b *Budget) *Run {
	r.budget = b
	return r
}

// refuseForBudget says why a call must not be sent for the execution's
// budget, and remembers it as the run's problem.
func (r *Run) refuseForBudget() string {
	why := r.budget.refusal()
	if why == "" {
		return ""
	}
	r.mu.Lock()
	if r.overBudget == "" {
		r.overBudget = why
	}
	r.mu.Unlock()
	return why
}

// Secrets picks the values to mask from a node's environment: every
// upstream's API key variable and the variables the configuration names.
func Secrets(cfg *sdk.ModelCalls, env map[string]string, lookup func(string) (string, bool)) map[string]string {
	out := map[string]string{}
	add := func(name string) {
		if name == "" {
			return
		}
		if v, ok := env[name]; ok && v != "" {
			out[name] = v
			return
		}
		if lookup != nil {
			if v, ok := lookup(name); ok && v != "" {
				out[name] = v
			}
		}
	}
	for _, u := range cfg.Upstreams {
		add(u.APIKeyEnv)
	}
	for _, n := range cfg.MaskEnv {
		add(n)
	}
	return out
}

// take returns the next recorded answer for key, if any.
func (r *Run) take(key string) *sdk.Interaction {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queues[key]
	if len(q) == 0 {
		return nil
	}
	r.queues[key] = q[1:]
	return q[0]
}

// nextOrdinal reserves the place of a call in the run.
func (r *Run) nextOrdinal() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return -1
	}
	r.calls = append(r.calls, sdk.Interaction{Ordinal: len(r.calls)})
	return len(r.calls) - 1
}

// finish stores what became of call i.
func (r *Run) finish(i int, x sdk.Interaction) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || i < 0 {
		return
	}
	x.Ordinal = i
	r.calls[i] = x
	r.budget.add(x)
	switch {
	case x.Upstream == "":
		// A host that is no upstream, refused on purpose: what the node
		// does about it is its own business.
	case x.Error != "" && x.Source != sdk.SourceReplayed:
		r.lastFailed[x.Upstream] = x.Error
	case retryableStatus(x.Status) && x.Source != sdk.SourceReplayed:
		r.lastFailed[x.Upstream] = fmt.Sprintf("%s answered %d", x.Upstream, x.Status)
		if x.Attempts > 1 {
			r.lastFailed[x.Upstream] += fmt.Sprintf(" %d times over %s", x.Attempts, (x.QueueTime + x.Duration).Round(time.Millisecond))
		}
	default:
		delete(r.lastFailed, x.Upstream)
	}
}

// waited notes that a call waited in the gateway from..to.
func (r *Run) waited(from, to time.Time) {
	if !to.After(from) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queued = append(r.queued, span{from, to})
}

// Waited is how long the run was held up by the gateway: the time during
// which at least one of its calls waited for a turn under its upstream's
// limits or for a retry. The executor leaves it out of the node's duration,
// so latency never counts a queue.
func (r *Run) Waited() time.Duration {
	r.mu.Lock()
	spans := slices.Clone(r.queued)
	r.mu.Unlock()
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	var total time.Duration
	var cur span
	for i, s := range spans {
		switch {
		case i == 0:
			cur = s
		case s.from.After(cur.to):
			total += cur.to.Sub(cur.from)
			cur = s
		case s.to.After(cur.to):
			cur.to = s.to
		}
	}
	if len(spans) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}

// reserve counts n more recorded bytes; false once past the limit.
func (r *Run) reserve(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bytes += int64(n)
	if r.bytes > r.limit {
		r.overflow = true
		return false
	}
	return true
}

func (r *Run) missed(m *MissError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.miss == nil {
		r.miss = m
	}
}

// retryableStatus is a status a later call may not get: the upstream is
// overloaded or failing.
func retryableStatus(s int) bool { return s == 429 || s >= 500 }

// Problem is why a node run must fail because of its model calls, whatever
// the node itself did.
type Problem struct {
	Kind      sdk.FailureKind
	Retryable bool
	Message   string
}

// Finish ends the run: the calls it made, in order, and the problem that
// fails it, if any — a replay miss (never retried: it would miss again), a
// recording over its limit, or an upstream that failed and never answered a
// later call (retried: never a score).
func (r *Run) Finish() ([]sdk.Interaction, *Problem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	calls := append([]sdk.Interaction(nil), r.calls...)
	for i := range calls {
		if calls[i].Method == "" && calls[i].Error == "" {
			calls[i].Error = "the node run ended before this call did"
		}
		if r.cfg.Mode == sdk.ModeLive {
			// Live keeps what was called and how it went, not the bodies.
			calls[i].RequestBody, calls[i].ResponseBody, calls[i].Chunks = nil, nil, nil
		}
	}
	switch {
	case r.overflow:
		return calls, &Problem{Kind: sdk.FailureOutputTooLarge, Message: fmt.Sprintf(
			"node %q: its model calls came to more than %d bytes, the most one node run may record (max_recording_bytes in the gateway block); nothing of it was kept",
			r.node, r.limit)}
	case r.miss != nil:
		return calls, &Problem{Kind: sdk.FailureReplayMiss, Message: r.miss.Error()}
	case r.overBudget != "":
		// Never retried: the next attempt would start over budget too.
		return calls, &Problem{Kind: sdk.FailureBudget, Message: fmt.Sprintf(
			"node %q: over budget: %s; the gateway refused its next call", r.node, r.overBudget)}
	case len(r.lastFailed) > 0:
		names := make([]string, 0, len(r.lastFailed))
		for u := range r.lastFailed {
			names = append(names, u)
		}
		sort.Strings(names)
		var parts []string
		for _, u := range names {
			parts = append(parts, r.lastFailed[u])
		}
		return calls, &Problem{Kind: sdk.FailureInfrastructure, Retryable: true, Message: fmt.Sprintf(
			"node %q: a model call failed and no later call succeeded (%s); an infrastructure failure, retried, never scored",
			r.node, strings.Join(parts, "; "))}
	}
	return calls, nil
}
