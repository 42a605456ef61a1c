// Package events is the host's in-process event bus: typed events about
// batches, combinations, executions, nodes and plugins. Handlers subscribe by
// type; a handler may publish from inside a handler without deadlock, and a
// panicking handler does not hurt the others. The bus keeps a bounded history.
package events

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// Type names an event.
type Type string

// Event types.
const (
	BatchStarted        Type = "batch.started"
	BatchFinished       Type = "batch.finished"
	BatchFailed         Type = "batch.failed"
	BatchCancelled      Type = "batch.cancelled"
	CombinationStarted  Type = "combination.started"
	CombinationFinished Type = "combination.finished"
	// CombinationStopped: adaptive repeats or racing stopped a combination
	// early; Data has the decision.
	CombinationStopped Type = "combination.stopped"
	ExecutionStarted   Type = "execution.started"
	ExecutionFinished  Type = "execution.finished"
	ExecutionFailed    Type = "execution.failed"
	ExecutionRetried   Type = "execution.retried"
	ExecutionCancelled Type = "execution.cancelled"
	NodeStarted        Type = "node.started"
	NodeFinished       Type = "node.finished"
	NodeFailed         Type = "node.failed"
	NodeLog            Type = "node.log"
	PluginStarted      Type = "plugin.started"
	PluginCrashed      Type = "plugin.crashed"
	PluginRestarted    Type = "plugin.restarted"
	PluginStopped      Type = "plugin.stopped"
	PluginGaveUp       Type = "plugin.gave_up"
	// StoreStalled: the database made writes wait (retries after transient
	// errors); Data has waited_ms and recovered.
	StoreStalled Type = "store.stalled"
	// EvaluatorFoundNothing: at the end of a run, an evaluator whose path
	// selected nothing in most successful executions; Data has evaluator,
	// attribute, path, executions and of.
	EvaluatorFoundNothing Type = "evaluator.found_nothing"
	// BatchCancelRequested: `wtb cancel` asked the batch's owner to stop
	// (written by the process that asked; Data has who and when).
	BatchCancelRequested Type = "batch.cancel_requested"
	// ParityChecked: wtb parity compared the batch with another (written by
	// the process that compared them; Data has the other batch, the runners,
	// what was tolerated and what differed).
	ParityChecked Type = "parity.checked"
	// BudgetExceeded: the batch's model calls went past its budget (or a
	// dollar budget met a call it cannot price) and the batch stopped; Data
	// has what was spent and the bound.
	BudgetExceeded Type = "budget.exceeded"
	// UsageDisagrees: a node reported its model calls' usage in its
	// _metrics (llm.input_tokens, …) and the gateway counted other figures
	// for the same node run; Data has the kind and both figures.
	UsageDisagrees Type = "usage.disagrees"
	// BridgeDropped: at the end of a batch, a bridge that could not deliver
	// every event (Data has bridge, url, sent, dropped, past_buffer,
	// undelivered, rejected).
	BridgeDropped Type = "bridge.dropped"
)

// Types lists every event type, for checking a name a user gives.
var Types = []Type{BatchStarted, BatchFinished, BatchFailed, BatchCancelled, CombinationStarted, CombinationFinished,
	CombinationStopped, ExecutionStarted, ExecutionFinished, ExecutionFailed, ExecutionRetried, ExecutionCancelled,
	NodeStarted, NodeFinished, NodeFailed, NodeLog, PluginStarted, PluginCrashed, PluginRestarted, PluginStopped,
	PluginGaveUp, StoreStalled, EvaluatorFoundNothing, BatchCancelRequested, ParityChecked, BudgetExceeded, UsageDisagrees, BridgeDropped}

// Event is something that happened in the host.
type Event struct {
	Type         Type
	Time         time.Time
	BatchID      string
	Combination  string
	ExecutionKey string
	Node         string
	Plugin       string
	Attempt      int
	Message      string
	Error        string
	Data         map[string]any
}

// Handler receives events.
type Handler func(Event)

type subscription struct {
	id      uint64
	types   map[Type]bool // nil: every type
	handler Handler
}

// Bus is an event bus. The zero value is not usable; call New.
type Bus struct {
	mu     sync.RWMutex
	subs   []*subscription
	nextID uint64

	hmu     sync.Mutex
	history []Event
	start   int // index of the oldest event in the ring
	size    int
	dropped uint64

	// OnPanic is told about a panicking handler (default: a line on stderr).
	OnPanic func(e Event, recovered any, stack []byte)
}

// New returns a bus that keeps the last historySize events.
func New(historySize int) *Bus {
	if historySize <= 0 {
		historySize = 1
	}
	return &Bus{history: make([]Event, historySize)}
}

// Subscribe registers h for the given types (all types when none are given)
// and returns a function that unsubscribes it.
func (b *Bus) Subscribe(h Handler, types ...Type) func() {
	s := &subscription{handler: h}
	if len(types) > 0 {
		s.types = map[Type]bool{}
		for _, t := range types {
			s.types[t] = true
		}
	}
	b.mu.Lock()
	b.nextID++
	s.id = b.nextID
	// Copy on write: Publish iterates a snapshot without holding the lock.
	subs := make([]*subscription, len(b.subs), len(b.subs)+1)
	copy(subs, b.subs)
	b.subs = append(subs, s)
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		out := make([]*subscription, 0, len(b.subs))
		for _, have := range b.subs {
			if have.id != s.id {
				out = append(out, have)
			}
		}
		b.subs = out
	}
}

// Publish records e and calls matching handlers synchronously, in
// subscription order. No lock is held while handlers run, so they may publish
// or subscribe themselves.
func (b *Bus) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.record(e)
	b.mu.RLock()
	subs := b.subs
	b.mu.RUnlock()
	for _, s := range subs {
		if s.types == nil || s.types[e.Type] {
			b.call(s, e)
		}
	}
}

func (b *Bus) call(s *subscription, e Event) {
	defer func() {
		if r := recover(); r != nil {
			if b.OnPanic != nil {
				b.OnPanic(e, r, debug.Stack())
				return
			}
			fmt.Fprintf(os.Stderr, "wtb: event handler panicked on %s: %v\n", e.Type, r)
		}
	}()
	s.handler(e)
}

func (b *Bus) record(e Event) {
	b.hmu.Lock()
	defer b.hmu.Unlock()
	n := len(b.history)
	if b.size < n {
		b.history[(b.start+b.size)%n] = e
		b.size++
		return
	}
	b.history[b.start] = e
	b.start = (b.start + 1) % n
	b.dropped++
}

// Filter selects events from the history.
type Filter struct {
	Types   []Type
	Since   time.Time
	BatchID string
	// Limit keeps the most recent Limit matches (0: all).
	Limit int
}

// History returns recorded events matching f, oldest first.
func (b *Bus) History(f Filter) []Event {
	b.hmu.Lock()
	defer b.hmu.Unlock()
	var types map[Type]bool
	if len(f.Types) > 0 {
		types = map[Type]bool{}
		for _, t := range f.Types {
			types[t] = true
		}
	}
	var out []Event
	n := len(b.history)
	for i := 0; i < b.size; i++ {
		e := b.history[(b.start+i)%n]
		if types != nil && !types[e.Type] {
			continue
		}
		if !f.Since.IsZero() && e.Time.Before(f.Since) {
			continue
		}
		if f.BatchID != "" && e.BatchID != f.BatchID {
			continue
		}
		out = append(out, e)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out
}

// Dropped is how many events fell out of the bounded history.
func (b *Bus) Dropped() uint64 {
	b.hmu.Lock()
	defer b.hmu.Unlock()
	return b.dropped
}
