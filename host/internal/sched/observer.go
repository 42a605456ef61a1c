package sched

import (
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// Observer is told what the scheduler measures that events do not carry —
// load, latencies, node runs, store writes; the metrics package implements
// it. Methods are called from the scheduler's goroutines and must return at
// once.
type Observer interface {
	// ExecutionStarted: an execution's first node was dispatched (or its
	// first segment came whole from stored checkpoints or the cache).
	ExecutionStarted(combination string)
	// Load is the number of runner requests in flight and ready to send.
	Load(inFlight, queued int)
	// RoundTrip is one runner request, dispatch to outcome.
	RoundTrip(d time.Duration)
	// NodeRuns: a step ran once (executed, taking d) for executions, or was
	// served from the node cache for them; with prefix sharing one run serves
	// several executions (the rest count as shared).
	NodeRun(node, variant string, d time.Duration, executions int)
	NodeCached(node, variant string, executions int)
	// StoreWrite is one transaction of the result writer, after attempts
	// tries (err: it gave up).
	StoreWrite(rows int, d time.Duration, attempts int, err error)
	// ModelCall: a node run made a model call through the gateway; told
	// once a call, as the run's calls are stored (a failed run's too),
	// however many executions share the run.
	ModelCall(c *store.ModelCall)
}

type nopObserver struct{}

func (nopObserver) ExecutionStarted(string)                    {}
func (nopObserver) Load(int, int)                              {}
func (nopObserver) RoundTrip(time.Duration)                    {}
func (nopObserver) NodeRun(string, string, time.Duration, int) {}
func (nopObserver) NodeCached(string, string, int)             {}
func (nopObserver) StoreWrite(int, time.Duration, int, error)  {}
func (nopObserver) ModelCall(*store.ModelCall)                 {}
