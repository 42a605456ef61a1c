// Package audit turns bus events into a batch's audit trail and writes the
// entries to the store in batches, off the hot path.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/store"
)

// Severities of audit entries.
const (
	Debug   = "DEBUG"
	Info    = "INFO"
	Success = "SUCCESS"
	Warning = "WARNING"
	Error   = "ERROR"
)

// Options tune a Trail.
type Options struct {
	// FlushEvery bounds how long an entry waits in memory (default 200 ms).
	FlushEvery time.Duration
	// MaxBatch flushes early when this many entries wait (default 1000).
	MaxBatch int
	// Nodes records each execution's finish and its node events too (at
	// DEBUG). Without it the trail holds what needs attention — failures,
	// retries, cancellations, plugin crashes — and a successful execution is
	// only its result row: an entry for each would double the writes of a
	// large batch and compete with the result writer for the database.
	Nodes bool
	// OnError is told about a failed write (entries are kept and retried).
	OnError func(error)
}

// Trail records the events of one batch.
type Trail struct {
	repo    store.AuditRepository
	batchID string
	opts    Options
	unsub   func()

	mu      sync.Mutex
	pending []store.AuditEntry
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

// Attach subscribes a trail for batchID to the bus.
func Attach(bus *events.Bus, repo store.AuditRepository, batchID string, opts Options) *Trail {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 200 * time.Millisecond
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	t := &Trail{repo: repo, batchID: batchID, opts: opts, kick: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{})}
	since := time.Now()
	t.unsub = bus.Subscribe(t.record)
	// Plugins start before the batch exists; their events wait in the bus
	// history and become the first entries of the trail.
	for _, e := range bus.History(events.Filter{Types: []events.Type{events.PluginStarted, events.PluginCrashed,
		events.PluginRestarted, events.PluginStopped, events.PluginGaveUp}}) {
		if e.BatchID == "" && e.Time.Before(since) {
			t.record(e)
		}
	}
	go t.loop()
	return t
}

// Entry maps an event to an audit entry; ok is false for events the trail skips.
func Entry(e events.Event, nodes bool) (store.AuditEntry, bool) {
	sev := Info
	msg := e.Message
	switch e.Type {
	case events.BatchStarted, events.CombinationStarted, events.PluginStarted, events.PluginStopped:
		sev = Info
	case events.BatchFinished, events.ParityChecked:
		sev = Success
		if e.Error != "" {
			sev = Warning
		}
	case events.CombinationFinished, events.CombinationStopped:
		sev = Info
	case events.BatchFailed, events.ExecutionFailed, events.PluginCrashed, events.PluginGaveUp:
		sev = Error
	case events.BatchCancelled, events.BatchCancelRequested, events.ExecutionRetried, events.ExecutionCancelled, events.PluginRestarted, events.EvaluatorFoundNothing,
		events.BudgetExceeded, events.UsageDisagrees:
		sev = Warning
	case events.StoreStalled, events.BridgeDropped:
		sev = Warning
		if e.Error != "" {
			sev = Error
		}
	case events.ExecutionStarted:
		return store.AuditEntry{}, false
	case events.ExecutionFinished, events.NodeStarted, events.NodeFinished, events.NodeFailed, events.NodeLog:
		if !nodes {
			return store.AuditEntry{}, false
		}
		sev = Debug
	}
	if msg == "" {
		msg = string(e.Type)
	}
	if e.Error != "" && e.Type != events.BatchFinished && e.Type != events.ParityChecked {
		msg = fmt.Sprintf("%s: %s", msg, e.Error)
	}
	details := map[string]any{}
	for k, v := range e.Data {
		details[k] = v
	}
	if e.Combination != "" {
		details["combination"] = e.Combination
	}
	if e.Plugin != "" {
		details["plugin"] = e.Plugin
	}
	if e.Attempt > 0 {
		details["attempt"] = e.Attempt
	}
	raw, _ := json.Marshal(details)
	return store.AuditEntry{ID: newID(), BatchID: e.BatchID, Time: e.Time, Severity: sev, EventType: string(e.Type),
		Message: msg, ExecutionKey: e.ExecutionKey, Node: e.Node, Details: raw}, true
}

func (t *Trail) record(e events.Event) {
	if e.BatchID == "" {
		e.BatchID = t.batchID
	}
	if e.BatchID != t.batchID {
		return
	}
	entry, ok := Entry(e, t.opts.Nodes)
	if !ok {
		return
	}
	t.mu.Lock()
	t.pending = append(t.pending, entry)
	full := len(t.pending) >= t.opts.MaxBatch
	t.mu.Unlock()
	if full {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

func (t *Trail) loop() {
	defer close(t.stopped)
	tick := time.NewTicker(t.opts.FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-t.kick:
		case <-t.done:
			return
		}
		t.flush(context.Background())
	}
}

// flush writes what is pending; on failure the entries stay for the next try
// (ids make a repeated write harmless).
func (t *Trail) flush(ctx context.Context) error {
	t.mu.Lock()
	batch := t.pending
	t.pending = nil
	t.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := t.repo.Append(ctx, batch); err != nil {
		t.mu.Lock()
		t.pending = append(batch, t.pending...)
		t.mu.Unlock()
		if t.opts.OnError != nil {
			t.opts.OnError(err)
		}
		return err
	}
	return nil
}

// Close unsubscribes and writes what is left.
func (t *Trail) Close(ctx context.Context) error {
	t.unsub()
	close(t.done)
	<-t.stopped
	return t.flush(ctx)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
