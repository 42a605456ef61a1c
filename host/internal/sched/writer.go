package sched

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/host/internal/store"
)

// writer batches checkpoints and results into few transactions, off the
// scheduler's goroutine. Writes are idempotent, so a failed transaction is
// simply tried again; after repeated failures the error stops the batch.
type writer struct {
	st    store.Store
	log   hclog.Logger
	obs   Observer
	tally *tally
	in    chan store.WriteSet
	done  chan struct{}
	// retry is the first wait after a failed write (doubling).
	retry time.Duration
	// onStored hears each committed transaction (nil: nobody).
	onStored func(store.WriteSet)

	mu      sync.Mutex
	lastErr error
}

const (
	writerMaxRows  = 4000
	writerMaxBytes = 8 << 20 // of states and outputs: large checkpoints go in small transactions
	writerMaxDelay = 50 * time.Millisecond
	writerAttempts = 8
	writerRetry    = 100 * time.Millisecond
	writerQueue    = 4096
)

// newWriter starts a writer; retry and queue of 0 mean writerRetry and
// writerQueue.
func newWriter(st store.Store, log hclog.Logger, obs Observer, t *tally, retry time.Duration, queue int) *writer {
	if retry <= 0 {
		retry = writerRetry
	}
	if queue <= 0 {
		queue = writerQueue
	}
	w := &writer{st: st, log: log, obs: obs, tally: t, in: make(chan store.WriteSet, queue), done: make(chan struct{}), retry: retry}
	go w.loop()
	return w
}

func (w *writer) send(ws store.WriteSet) {
	if ws.Empty() {
		return
	}
	w.in <- ws
}

func (w *writer) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

func (w *writer) loop() {
	defer close(w.done)
	var batch store.WriteSet
	var bytes int
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if !batch.Empty() {
			w.write(batch)
			batch, bytes = store.WriteSet{}, 0
		}
	}
	for {
		select {
		case ws, ok := <-w.in:
			if !ok {
				flush()
				return
			}
			if batch.Empty() {
				timer.Reset(writerMaxDelay)
			}
			batch.Checkpoints = append(batch.Checkpoints, ws.Checkpoints...)
			batch.Results = append(batch.Results, ws.Results...)
			batch.ModelCalls = append(batch.ModelCalls, ws.ModelCalls...)
			batch.Spans = append(batch.Spans, ws.Spans...)
			for _, c := range ws.Checkpoints {
				bytes += len(c.State) + len(c.Output)
			}
			for _, c := range ws.ModelCalls {
				bytes += len(c.Request) + len(c.Response)
			}
			for _, sp := range ws.Spans {
				bytes += len(sp.Spans)
			}
			if len(batch.Checkpoints)+len(batch.Results)+len(batch.ModelCalls)+len(batch.Spans) >= writerMaxRows || bytes >= writerMaxBytes {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

func (w *writer) write(ws store.WriteSet) {
	delay := w.retry
	rows := len(ws.Checkpoints) + len(ws.Results) + len(ws.ModelCalls) + len(ws.Spans)
	start := time.Now()
	var err error
	for attempt := 1; attempt <= writerAttempts; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = w.st.Write(ctx, ws)
		cancel()
		if err == nil {
			w.obs.StoreWrite(rows, time.Since(start), attempt, nil)
			if w.onStored != nil {
				w.onStored(ws)
			}
			if attempt > 1 {
				w.log.Warn("store write succeeded after retrying", "attempts", attempt, "waited", time.Since(start).Round(time.Millisecond))
				w.tally.storeStalled(time.Since(start), attempt, nil)
			}
			return
		}
		w.log.Warn("store write failed; retrying", "attempt", attempt, "error", err)
		time.Sleep(delay)
		delay = min(delay*2, 5*time.Second)
	}
	w.obs.StoreWrite(rows, time.Since(start), writerAttempts, err)
	w.tally.storeStalled(time.Since(start), writerAttempts, err)
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
	w.log.Error("giving up on a store write", "results", len(ws.Results), "checkpoints", len(ws.Checkpoints), "error", err)
}

func (w *writer) close() error {
	close(w.in)
	<-w.done
	return w.err()
}
