package traceout

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/host/internal/store"
)

// Loader reads what the trace of a stored execution is made of.
type Loader func(ctx context.Context, res *store.Result) (Execution, error)

// Stats are what an exporter did.
type Stats struct {
	Target string `json:"target"`
	// Executions and Spans were sent (the collector answered 2xx).
	Executions uint64 `json:"executions"`
	Spans      uint64 `json:"spans"`
	// PastBuffer executions were dropped because the buffer was full;
	// Failed were in requests the collector did not take (after retries);
	// Undelivered were still waiting when the flush at the end ran out.
	PastBuffer  uint64 `json:"past_buffer"`
	Failed      uint64 `json:"failed"`
	Undelivered uint64 `json:"undelivered"`
	// Resent are the executions stored before this run (a resumed batch's)
	// that it sent, counted in Executions too.
	Resent uint64 `json:"resent"`
	// BatchSpan says the batch's root span was sent; BatchSpanHeld that it
	// was not meant to be: the run stopped with executions left to run, and
	// the run that finishes the batch sends it.
	BatchSpan     bool `json:"batch_span"`
	BatchSpanHeld bool `json:"batch_span_held"`
	// TraceID is the trace the spans went to (hex).
	TraceID string `json:"trace_id"`
	// Err is the last error the collector gave ("" none).
	Err string `json:"error,omitempty"`
	// Rejected are spans the collector took the request of but refused
	// (OTLP partial success), with its last message about them.
	Rejected        uint64 `json:"rejected_spans,omitempty"`
	RejectedMessage string `json:"rejected_message,omitempty"`
}

// Dropped is every execution whose spans did not reach the collector.
func (s Stats) Dropped() uint64 { return s.PastBuffer + s.Failed + s.Undelivered }

// queued is an execution waiting to be sent; resent: one stored before
// this run (Resend).
type queued struct {
	store.Result
	resent bool
}

// maxPerRequest bounds the executions one request carries.
const maxPerRequest = 256

// Exporter sends a running batch's trace: executions as they are stored,
// the batch's span at the end. Add only appends to a bounded buffer; one
// sender loads and sends, so a collector that is down or slow never slows
// or fails the batch.
type Exporter struct {
	target  Target
	batchID string
	version string
	load    Loader
	log     hclog.Logger
	up      *uploader

	mu sync.Mutex
	// queue[head:] are the executions waiting to be sent.
	queue []queued
	head  int
	// request is the sender's slice of the executions it sends.
	request []queued
	taken   int
	closing bool
	warned  bool
	st      Stats
	// resending is set while the executions stored before this run are
	// being queued (Resend); resent counts those queued, resendWant those
	// to queue.
	resending          bool
	resent, resendWant uint64
	// queuedResent and takenResent are those of the queue and of the
	// request being sent that are resent ones.
	queuedResent, takenResent int

	// resenders is Resend's reading of the executions stored before.
	resenders sync.WaitGroup

	wake   chan struct{}
	room   chan struct{}
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
}

// queued is how many executions wait to be sent (under e.mu).
func (e *Exporter) queued() int { return len(e.queue) - e.head }

// Start makes an exporter of a batch's trace to t (its client connects on
// the first request: a collector that is down is not waited for here).
func Start(t Target, batchID, version string, load Loader, log hclog.Logger) (*Exporter, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if t.Buffer <= 0 {
		t.Buffer = DefaultBuffer
	}
	if t.FlushTimeout <= 0 {
		t.FlushTimeout = DefaultFlushTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	up, err := newUploader(ctx, t)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("trace export to %s: %w", t.Describe(), err)
	}
	e := &Exporter{target: t, batchID: batchID, version: version, load: load, log: log.Named("trace_export"), up: up,
		wake: make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	e.st.Target = t.Describe()
	e.st.TraceID = NewTrace(batchID, version, t.Parent).TraceIDHex()
	go e.loop()
	return e, nil
}

// Add queues stored executions (the scheduler's writer calls it after each
// transaction): it never waits.
func (e *Exporter) Add(results []store.Result) {
	if e == nil || len(results) == 0 {
		return
	}
	e.mu.Lock()
	if e.closing {
		// Not sent, and said: nothing adds after Close today.
		e.st.Undelivered += uint64(len(results))
		e.mu.Unlock()
		return
	}
	// Executions stored before this run (Resend) wait beside the buffer,
	// never in its room.
	room := e.target.Buffer - (e.queued() - e.queuedResent) - (e.taken - e.takenResent)
	n := min(max(room, 0), len(results))
	for _, r := range results[:n] {
		r.Logs, r.Notes = nil, nil // not part of the trace; the buffer holds less
		e.queue = append(e.queue, queued{Result: r})
	}
	dropped := len(results) - n
	first := dropped > 0 && !e.warned
	if dropped > 0 {
		e.st.PastBuffer += uint64(dropped)
		e.warned = true
	}
	e.mu.Unlock()
	if first {
		e.log.Warn("trace export buffer full: dropping executions until the collector catches up (counted, and written to the audit trail at the end)",
			"target", e.target.Describe(), "buffer", e.target.Buffer)
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Resend queues the executions stored before this run (a resumed batch's:
// each yields them, from the database), so the collector ends up with the
// whole batch whether or not the run that stored them sent them. Their spans
// are those a live export made of them (the same ids and contents), so a
// collector that has them already keeps one of each. They are queued a
// request's worth at a time, never taking the buffer's room from the
// executions this run stores; want is how many there are, for the count of
// those left undelivered.
func (e *Exporter) Resend(want int, each func(ctx context.Context, fn func(*store.Result) error) error) {
	if e == nil || want == 0 {
		return
	}
	e.mu.Lock()
	e.resending, e.resendWant = true, uint64(want)
	e.mu.Unlock()
	e.resenders.Add(1)
	go func() {
		defer e.resenders.Done()
		err := each(e.ctx, func(r *store.Result) error {
			for {
				if err := e.ctx.Err(); err != nil {
					return err // Close ran out of time: counted as undelivered
				}
				e.mu.Lock()
				if e.queued()+e.taken < maxPerRequest {
					c := *r
					c.Logs, c.Notes = nil, nil
					e.queue = append(e.queue, queued{Result: c, resent: true})
					e.resent++
					e.queuedResent++
					e.mu.Unlock()
					select {
					case e.wake <- struct{}{}:
					default:
					}
					return nil
				}
				e.mu.Unlock()
				select {
				case <-e.room:
				case <-e.ctx.Done():
					return e.ctx.Err()
				}
			}
		})
		if err != nil && e.ctx.Err() == nil {
			e.log.Warn("reading the executions stored before this run, to send them", "error", err)
		}
		e.mu.Lock()
		e.resending = false
		e.mu.Unlock()
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}()
}

// take hands the sender up to a request's executions, and says whether
// nothing more will come (closing, and nothing stored before is being
// queued).
func (e *Exporter) take() ([]queued, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := min(maxPerRequest, e.queued())
	var out []queued
	if e.head == 0 && n == len(e.queue) {
		// All that waits is one request (the sender keeps up): the queue
		// becomes the request and the last request's memory the queue,
		// with nothing copied.
		clear(e.request)
		out, e.queue = e.queue, e.request[:0]
	} else {
		// The queue's head advances rather than what stays being moved
		// forward on every take: with a large buffer that copy was most of
		// a take. It is moved once the head is past half the queue.
		out = append(e.request[:0], e.queue[e.head:e.head+n]...)
		clear(e.queue[e.head : e.head+n])
		e.head += n
		switch {
		case e.head == len(e.queue):
			e.queue, e.head = e.queue[:0], 0
		case e.head > len(e.queue)/2:
			k := copy(e.queue, e.queue[e.head:])
			clear(e.queue[k:])
			e.queue, e.head = e.queue[:k], 0
		}
	}
	e.request = out
	e.taken, e.takenResent = n, 0
	for _, q := range out {
		if q.resent {
			e.takenResent++
		}
	}
	e.queuedResent -= e.takenResent
	select {
	case e.room <- struct{}{}:
	default:
	}
	return out, e.closing && !e.resending
}

func (e *Exporter) loop() {
	defer close(e.done)
	// One trace for every request: its messages are built again in the
	// memory of the previous request's (sent by then: the upload marshals
	// before it returns).
	tr := NewTrace(e.batchID, e.version, e.target.Parent)
	for {
		batch, closing := e.take()
		if len(batch) == 0 {
			if closing {
				return
			}
			select {
			case <-e.wake:
			case <-e.ctx.Done():
				return
			}
			continue
		}
		tr.Reset()
		for i := range batch {
			ex, err := e.load(e.ctx, &batch[i].Result)
			if err != nil {
				if e.ctx.Err() != nil {
					break
				}
				e.log.Warn("reading a stored execution for its trace", "execution", batch[i].ExecutionKey, "error", err)
				ex = Execution{Result: &batch[i].Result}
			}
			tr.AddExecution(ex)
		}
		// Close ran out of time while the request was being read: nothing of
		// it is sent (an empty trace would "upload" without a request).
		err := e.ctx.Err()
		if err == nil {
			err = e.send(e.ctx, tr)
		}
		e.mu.Lock()
		e.taken, e.takenResent = 0, 0
		select {
		case e.room <- struct{}{}:
		default:
		}
		if err == nil {
			e.st.Executions += uint64(len(batch))
			for _, q := range batch {
				if q.resent {
					e.st.Resent++
				}
			}
			e.st.Spans += uint64(tr.Len())
		} else if e.ctx.Err() != nil {
			e.st.Undelivered += uint64(len(batch))
		} else {
			e.st.Failed += uint64(len(batch))
		}
		e.mu.Unlock()
	}
}

// partialSuccess reads the count of spans a collector that took the
// request refused ("OTLP partial success: MESSAGE (N spans rejected)", the
// only form otlptracehttp gives it: its error type is internal).
func partialSuccess(err error) (rejected uint64, message string, ok bool) {
	text := err.Error()
	i := strings.Index(text, partialSuccessPrefix)
	if i < 0 {
		return 0, "", false
	}
	text = text[i+len(partialSuccessPrefix):]
	if m := rejectedSpans.FindStringSubmatchIndex(text); m != nil {
		rejected, _ = strconv.ParseUint(text[m[2]:m[3]], 10, 64)
		text = text[:m[0]]
	}
	return rejected, strings.TrimSpace(text), true
}

const partialSuccessPrefix = "OTLP partial success: "

var rejectedSpans = regexp.MustCompile(` \((\d+) spans? rejected\)`)

// send uploads, logging the first failure and the recovery after it. A
// request the collector took but partly refused (OTLP's partial success) is
// sent: its refused spans are counted and said, not its executions dropped.
func (e *Exporter) send(ctx context.Context, tr *Trace) error {
	err := e.up.upload(ctx, tr)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		if n, msg, ok := partialSuccess(err); ok {
			if e.st.Rejected == 0 && e.st.RejectedMessage == "" {
				e.log.Warn("the collector refused part of the batch's trace", "target", e.target.Describe(), "rejected_spans", n, "message", msg)
			}
			e.st.Rejected += n
			if msg != "" {
				e.st.RejectedMessage = msg
			}
			return nil
		}
	}
	if err != nil {
		if ctx.Err() == nil && e.st.Err == "" {
			e.log.Warn("cannot send the batch's trace; executions are dropped and counted", "target", e.target.Describe(), "error", err)
		}
		if ctx.Err() == nil || e.st.Err == "" {
			e.st.Err = err.Error()
		}
	}
	return err
}

// Close stops taking executions, gives the sender until the flush timeout
// to send what waits and (final: the batch has ended, nothing is left to
// run) the batch's span, and returns what it did. A batch that stopped
// with executions left to run gets its span from the run that finishes it:
// sent now, the resumed run's would be a second span under its id.
func (e *Exporter) Close(b Batch, final bool) Stats {
	if e == nil {
		return Stats{}
	}
	deadline := time.Now().Add(e.target.FlushTimeout)
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	select {
	case <-e.done:
	case <-time.After(time.Until(deadline)):
		e.cancel()
		<-e.done
	}
	// The reading of what was stored before has ended (the sender waited
	// for it) or stops with the cancelled context; either way it must not
	// outlive Close, after which the store is closed.
	e.resenders.Wait()
	e.mu.Lock()
	e.st.Undelivered += uint64(e.queued()) + (e.resendWant - min(e.resent, e.resendWant))
	e.queue, e.head = nil, 0
	e.mu.Unlock()
	e.st.BatchSpanHeld = !final
	if e.ctx.Err() == nil && final {
		ctx, cancel := context.WithDeadline(e.ctx, deadline)
		tr := NewTrace(e.batchID, e.version, e.target.Parent)
		tr.AddBatch(b)
		if err := e.send(ctx, tr); err == nil {
			e.mu.Lock()
			e.st.BatchSpan = true
			e.st.Spans++
			e.mu.Unlock()
		}
		cancel()
	}
	e.cancel()
	e.up.stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}

// SendStored sends a stored batch's trace: its executions as each reads
// them from the database (through load, the live exporter's loader), in
// requests of up to 256, then the batch's span. It stops at the first
// request the collector does not take.
func SendStored(ctx context.Context, t Target, b Batch, version string, each func(fn func(*store.Result) error) error, load Loader) (Stats, error) {
	st := Stats{Target: t.Describe(), TraceID: NewTrace(b.ID, version, t.Parent).TraceIDHex()}
	up, err := newUploader(ctx, t)
	if err != nil {
		return st, err
	}
	defer up.stop()
	tr := NewTrace(b.ID, version, t.Parent)
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := up.upload(ctx, tr); err != nil {
			st.Failed += uint64(n)
			return fmt.Errorf("sending to %s: %w", t.Describe(), err)
		}
		st.Executions += uint64(n)
		st.Spans += uint64(tr.Len())
		tr, n = NewTrace(b.ID, version, t.Parent), 0
		return nil
	}
	err = each(func(res *store.Result) error {
		ex, err := load(ctx, res)
		if err != nil {
			return fmt.Errorf("reading execution %s: %w", res.ExecutionKey, err)
		}
		tr.AddExecution(ex)
		n++
		if n >= maxPerRequest {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return st, err
	}
	tr = NewTrace(b.ID, version, t.Parent)
	tr.AddBatch(b)
	if err := up.upload(ctx, tr); err != nil {
		return st, fmt.Errorf("sending to %s: %w", t.Describe(), err)
	}
	st.BatchSpan = true
	st.Spans++
	return st, nil
}
