// Package bridge carries the event bus's events to other systems as
// CloudEvents 1.0 (NATS subjects, webhooks) and reads other systems'
// CloudEvents for the audit trail.
//
// Outbound, each bridge has a bounded buffer and one sender: the bus's
// handler only appends to the buffer (or counts a drop when it is full), so a
// bridge that is down or slow never slows or fails the batch. The sender
// delivers in the order of publication, at least once: what a send did not
// confirm is sent again after a backoff, under the same event id.
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/spec"
)

// TypePrefix prefixes a bus event's type to make a CloudEvents type.
const TypePrefix = "dev.wtb."

// Source is the CloudEvents source of a batch's events.
func Source(host, batchID string) string { return "wtb://" + host + "/batch/" + batchID }

// Encode turns a bus event into a CloudEvent. id is unique per run of a
// batch and stays the same when the event is sent again.
func Encode(e events.Event, source, id string, seq uint64) Event {
	data := map[string]any{"batch_id": e.BatchID}
	for k, v := range map[string]string{"execution_key": e.ExecutionKey, "combination": e.Combination, "node": e.Node,
		"plugin": e.Plugin, "message": e.Message, "error": e.Error} {
		if v != "" {
			data[k] = v
		}
	}
	if e.Attempt > 0 {
		data["attempt"] = e.Attempt
	}
	if len(e.Data) > 0 {
		data["data"] = e.Data
	}
	raw, err := json.Marshal(data)
	if err != nil {
		// A value of Data that JSON cannot hold: keep the rest.
		delete(data, "data")
		data["data_error"] = err.Error()
		raw, _ = json.Marshal(data)
	}
	ext := map[string]any{ExtBatch: e.BatchID, ExtSeq: seq}
	for k, v := range map[string]string{ExtExecutionKey: e.ExecutionKey, ExtCombination: e.Combination, ExtNode: e.Node} {
		if v != "" {
			ext[k] = v
		}
	}
	return Event{ID: id, Source: source, Type: TypePrefix + string(e.Type), Subject: e.ExecutionKey, Time: e.Time,
		DataContentType: "application/json", Data: raw, Extensions: ext}
}

// item is an event waiting in a bridge's buffer.
type item struct {
	seq  uint64
	ev   events.Event
	id   string
	body []byte // encoded once, by the sender
}

// sink delivers events to one system.
type sink interface {
	// send delivers items in order and says how many of them (from the
	// first) it knows were delivered; an error other than permanent is
	// retried with the rest.
	send(ctx context.Context, items []*item) (int, error)
	// batch is the most items one send takes.
	batch() int
	close()
}

// permanent is a send error that retrying cannot fix (the target refused
// the events): they are counted as rejected and not sent again.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Options configure the bridges of one run of a batch.
type Options struct {
	BatchID string
	Log     hclog.Logger
}

// Stats are what a bridge did with the events it was given.
type Stats struct {
	Bridge string `json:"bridge"`
	URL    string `json:"url"`
	Sent   uint64 `json:"sent"`
	// PastBuffer were dropped because the buffer was full; Undelivered
	// were still waiting when the flush at the end ran out of time;
	// Rejected were refused by the target (a 4xx answer).
	PastBuffer  uint64 `json:"past_buffer"`
	Undelivered uint64 `json:"undelivered"`
	Rejected    uint64 `json:"rejected"`
}

// Dropped is every event that did not reach the target.
func (s Stats) Dropped() uint64 { return s.PastBuffer + s.Undelivered + s.Rejected }

// Hub runs the bridges of one run of a batch.
type Hub struct {
	bus     *events.Bus
	batchID string
	source  string
	run     string
	unsub   func()

	mu      sync.Mutex // orders the events: one sequence for every bridge
	seq     uint64
	outlets []*outlet
}

// Start connects the bridges (a target that is down is retried in the
// background, never waited for) and subscribes them to the bus.
func Start(bus *events.Bus, bridges []spec.Bridge, opts Options) (*Hub, error) {
	host, _ := os.Hostname()
	var run [6]byte
	_, _ = rand.Read(run[:])
	h := &Hub{bus: bus, batchID: opts.BatchID, source: Source(host, opts.BatchID), run: hex.EncodeToString(run[:])}
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	for _, b := range bridges {
		var s sink
		var err error
		switch b.Kind {
		case spec.BridgeNATS:
			s, err = newNATS(b, log.Named("bridge.nats"))
		case spec.BridgeWebhook:
			s = newWebhook(b)
		default:
			err = fmt.Errorf("unknown bridge kind %q", b.Kind)
		}
		if err != nil {
			h.closeSinks()
			return nil, fmt.Errorf("bridge %s (%s): %w", b.Kind, b.URL, err)
		}
		o := &outlet{cfg: b, sink: s, log: log.Named("bridge." + b.Kind), wake: make(chan struct{}, 1), done: make(chan struct{})}
		if len(b.Events) > 0 {
			o.types = map[events.Type]bool{}
			for _, t := range b.Events {
				o.types[events.Type(t)] = true
			}
		}
		var ctx context.Context
		ctx, o.stop = context.WithCancel(context.Background())
		go o.loop(ctx, h)
		h.outlets = append(h.outlets, o)
	}
	h.unsub = bus.Subscribe(h.publish)
	return h, nil
}

func (h *Hub) closeSinks() {
	for _, o := range h.outlets {
		o.stop()
		<-o.done
		o.sink.close()
	}
}

// publish runs inside the bus's Publish: it appends, never waits.
func (h *Hub) publish(e events.Event) {
	if e.BatchID == "" {
		e.BatchID = h.batchID
	}
	if e.BatchID != h.batchID {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	for _, o := range h.outlets {
		if o.types == nil || o.types[e.Type] {
			o.push(&item{seq: h.seq, ev: e})
		}
	}
}

// Close stops taking events, gives each bridge until its flush_timeout to
// deliver what waits, and tells the audit trail (through the bus) about a
// bridge that dropped events. The bridges flush together.
func (h *Hub) Close() []Stats {
	if h == nil {
		return nil
	}
	h.unsub()
	var wg sync.WaitGroup
	for _, o := range h.outlets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.drain()
		}()
	}
	wg.Wait()
	var out []Stats
	for _, o := range h.outlets {
		st := o.stats()
		out = append(out, st)
		if st.Dropped() > 0 {
			o.log.Warn("events dropped", "url", st.URL, "sent", st.Sent, "past_buffer", st.PastBuffer, "undelivered", st.Undelivered, "rejected", st.Rejected)
			h.bus.Publish(events.Event{Type: events.BridgeDropped, BatchID: h.batchID,
				Message: fmt.Sprintf("bridge %s dropped %d events", st.Bridge, st.Dropped()) + droppedWhy(st, o.cfg),
				Data: map[string]any{"bridge": st.Bridge, "url": st.URL, "sent": st.Sent, "dropped": st.Dropped(),
					"past_buffer": st.PastBuffer, "undelivered": st.Undelivered, "rejected": st.Rejected}})
		}
	}
	return out
}

func droppedWhy(st Stats, b spec.Bridge) string {
	var parts []string
	if st.PastBuffer > 0 {
		parts = append(parts, fmt.Sprintf("%d past its buffer of %d", st.PastBuffer, b.Buffer))
	}
	if st.Undelivered > 0 {
		parts = append(parts, fmt.Sprintf("%d not delivered within flush_timeout %s at the end", st.Undelivered, time.Duration(b.FlushTimeout)))
	}
	if st.Rejected > 0 {
		parts = append(parts, fmt.Sprintf("%d refused by %s", st.Rejected, b.URL))
	}
	s := " ("
	for i, p := range parts {
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s + fmt.Sprintf("); %d sent", st.Sent)
}

// outlet is one bridge: its buffer and its sender.
type outlet struct {
	cfg   spec.Bridge
	sink  sink
	log   hclog.Logger
	types map[events.Type]bool

	mu       sync.Mutex
	queue    []*item
	inflight int // taken by the sender, not yet delivered: still in the buffer
	closing  bool
	warned   bool
	st       Stats

	wake chan struct{}
	done chan struct{}
	stop context.CancelFunc
}

func (o *outlet) push(it *item) {
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		return
	}
	if len(o.queue)+o.inflight >= o.cfg.Buffer {
		o.st.PastBuffer++
		first := !o.warned
		o.warned = true
		o.mu.Unlock()
		if first {
			o.log.Warn("buffer full: dropping events until the target catches up (counted, and written to the audit trail at the end)",
				"url", o.cfg.URL, "buffer", o.cfg.Buffer)
		}
		return
	}
	o.queue = append(o.queue, it)
	o.mu.Unlock()
	o.signal()
}

func (o *outlet) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take moves up to n waiting items to the sender.
func (o *outlet) take(n int) ([]*item, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n = min(n, len(o.queue))
	out := make([]*item, n)
	copy(out, o.queue[:n])
	// Shift rather than reslice, so the array does not grow past the buffer.
	o.queue = append(o.queue[:0], o.queue[n:]...)
	o.inflight += n
	return out, o.closing
}

// loop is the sender: in order, at least once, with backoff.
func (o *outlet) loop(ctx context.Context, h *Hub) {
	defer close(o.done)
	var pending []*item
	const minBackoff, maxBackoff = 100 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	var failingSince time.Time
	for {
		if len(pending) < o.sink.batch() {
			more, closing := o.take(o.sink.batch() - len(pending))
			pending = append(pending, more...)
			if len(pending) == 0 {
				if closing {
					return
				}
				select {
				case <-o.wake:
				case <-ctx.Done():
					return
				}
				continue
			}
		}
		for _, it := range pending {
			if it.body == nil {
				it.id = fmt.Sprintf("%s-%d", h.run, it.seq)
				ce := Encode(it.ev, h.source, it.id, it.seq)
				body, err := json.Marshal(ce)
				if err != nil {
					body, _ = json.Marshal(Encode(events.Event{Type: it.ev.Type, Time: it.ev.Time, BatchID: it.ev.BatchID,
						Message: "event not encodable: " + err.Error()}, h.source, it.id, it.seq))
				}
				it.body = body
			}
		}
		n, err := o.sink.send(ctx, pending)
		o.delivered(n)
		pending = pending[n:]
		if err == nil {
			if !failingSince.IsZero() {
				o.log.Warn("delivering again", "url", o.cfg.URL, "after", time.Since(failingSince).Round(time.Millisecond))
				failingSince = time.Time{}
			}
			backoff = minBackoff
			continue
		}
		if ctx.Err() != nil {
			return
		}
		var p permanent
		if errors.As(err, &p) {
			o.log.Warn("the target refused events; they are not sent again", "url", o.cfg.URL, "events", len(pending), "error", err)
			o.mu.Lock()
			o.st.Rejected += uint64(len(pending))
			o.inflight -= len(pending)
			o.mu.Unlock()
			pending = nil
			continue
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
			o.log.Warn("cannot deliver; events wait in the buffer and are sent again", "url", o.cfg.URL, "error", err)
		}
		select {
		case <-time.After(jitter(backoff)):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (o *outlet) delivered(n int) {
	if n == 0 {
		return
	}
	o.mu.Lock()
	o.st.Sent += uint64(n)
	o.inflight -= n
	o.mu.Unlock()
}

// drain waits up to the flush timeout for the buffer to empty, then stops
// the sender and counts what is left.
func (o *outlet) drain() {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	o.signal()
	select {
	case <-o.done:
	case <-time.After(time.Duration(o.cfg.FlushTimeout)):
		o.stop()
		<-o.done
	}
	o.stop()
	o.sink.close()
	o.mu.Lock()
	o.st.Undelivered += uint64(len(o.queue) + o.inflight)
	o.queue, o.inflight = nil, 0
	o.mu.Unlock()
}

func (o *outlet) stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.st
	st.Bridge, st.URL = o.cfg.Kind, o.cfg.URL
	return st
}

// jitter spreads d over [d/2, d).
func jitter(d time.Duration) time.Duration {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return d/2 + time.Duration(int64(d/2)*int64(b[0])/256)
}
