package events

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestSubscribeByType(t *testing.T) {
	b := New(10)
	var got []Type
	b.Subscribe(func(e Event) { got = append(got, e.Type) }, ExecutionFailed, BatchFinished)
	b.Publish(Event{Type: ExecutionStarted})
	b.Publish(Event{Type: ExecutionFailed})
	b.Publish(Event{Type: BatchFinished})
	if fmt.Sprint(got) != "[execution.failed batch.finished]" {
		t.Errorf("got %v", got)
	}
}

func TestHandlerMayPublishWithoutDeadlock(t *testing.T) {
	b := New(10)
	var finished atomic.Int32
	b.Subscribe(func(e Event) {
		b.Publish(Event{Type: ExecutionFinished, ExecutionKey: e.ExecutionKey})
		b.Subscribe(func(Event) {}) // subscribing from a handler is fine too
	}, ExecutionStarted)
	b.Subscribe(func(Event) { finished.Add(1) }, ExecutionFinished)
	done := make(chan struct{})
	go func() {
		b.Publish(Event{Type: ExecutionStarted, ExecutionKey: "k"})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publishing from a handler deadlocked")
	}
	if finished.Load() != 1 {
		t.Errorf("nested event delivered %d times", finished.Load())
	}
}

func TestPanickingHandlerDoesNotHurtOthers(t *testing.T) {
	b := New(10)
	var panics, calls atomic.Int32
	b.OnPanic = func(Event, any, []byte) { panics.Add(1) }
	b.Subscribe(func(Event) { panic("boom") })
	b.Subscribe(func(Event) { calls.Add(1) })
	b.Publish(Event{Type: BatchStarted})
	b.Publish(Event{Type: BatchStarted})
	if panics.Load() != 2 || calls.Load() != 2 {
		t.Errorf("panics=%d calls=%d, want 2 and 2", panics.Load(), calls.Load())
	}
}

func TestBoundedHistoryWithFilters(t *testing.T) {
	b := New(5)
	t0 := time.Now()
	for i := 0; i < 12; i++ {
		typ := ExecutionStarted
		if i%2 == 1 {
			typ = ExecutionFinished
		}
		b.Publish(Event{Type: typ, Time: t0.Add(time.Duration(i) * time.Second), ExecutionKey: fmt.Sprint(i)})
	}
	all := b.History(Filter{})
	if len(all) != 5 || all[0].ExecutionKey != "7" || all[4].ExecutionKey != "11" {
		t.Fatalf("history %v: want the last 5 events (7..11), oldest first", keys(all))
	}
	if b.Dropped() != 7 {
		t.Errorf("dropped %d, want 7", b.Dropped())
	}
	fin := b.History(Filter{Types: []Type{ExecutionFinished}})
	if fmt.Sprint(keys(fin)) != "[7 9 11]" {
		t.Errorf("by type: %v", keys(fin))
	}
	since := b.History(Filter{Since: t0.Add(10 * time.Second)})
	if fmt.Sprint(keys(since)) != "[10 11]" {
		t.Errorf("since: %v", keys(since))
	}
	if last := b.History(Filter{Limit: 2}); fmt.Sprint(keys(last)) != "[10 11]" {
		t.Errorf("limit: %v", keys(last))
	}
}

func keys(es []Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ExecutionKey)
	}
	return out
}

// TestConcurrentPublishers runs under -race: many goroutines publish while
// others subscribe, unsubscribe and read the history.
func TestConcurrentPublishers(t *testing.T) {
	b := New(1000)
	var count atomic.Int64
	b.Subscribe(func(Event) { count.Add(1) })
	var wg sync.WaitGroup
	const publishers, each = 16, 2000
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				b.Publish(Event{Type: NodeFinished, ExecutionKey: fmt.Sprint(p, "/", i)})
			}
		}()
	}
	for s := 0; s < 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				unsub := b.Subscribe(func(Event) {}, NodeFinished)
				_ = b.History(Filter{Types: []Type{NodeFinished}, Limit: 10})
				unsub()
			}
		}()
	}
	wg.Wait()
	if count.Load() != publishers*each {
		t.Errorf("delivered %d events, want %d", count.Load(), publishers*each)
	}
	if got := len(b.History(Filter{})); got != 1000 {
		t.Errorf("history holds %d, want its bound 1000", got)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
