package sched

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

// flakyStore is the harness's store with writes that fail, or wait, as a
// test says.
type flakyStore struct {
	store.Store
	mu       sync.Mutex
	failures int   // writes left to fail
	err      error // what they fail with
	always   bool  // every write fails
	writes   int
	gate     chan struct{} // when set, a write waits for it to close
	entered  chan struct{} // closed when a write first waits on the gate
}

var errDiskGone = errors.New("disk gone")

func (s *flakyStore) Write(ctx context.Context, w store.WriteSet) error {
	s.mu.Lock()
	s.writes++
	gate, entered := s.gate, s.entered
	fail := s.always || s.failures > 0
	if s.failures > 0 {
		s.failures--
	}
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-entered:
		default:
			close(entered)
		}
		<-gate
	}
	if fail {
		return fmt.Errorf("writing %d results: %w", len(w.Results), s.err)
	}
	return s.Store.Write(ctx, w)
}

// Writes that fail are tried again; once one goes through nothing is lost,
// and the audit trail hears that writes waited on the database.
func TestStoreWritesAreRetried(t *testing.T) {
	h := newHarness(t, chain(""))
	fs := &flakyStore{Store: h.st, failures: 2, err: errDiskGone}
	obs := newObserver()
	rep, err := h.runCtx(context.Background(), "b1", func(c *Config) { c.Store, c.Observer = fs, obs })
	if err != nil || rep.Succeeded != 4 {
		t.Fatalf("report %+v, error %v", rep, err)
	}
	if n := len(h.results("b1")); n != 4 {
		t.Errorf("%d results stored", n)
	}
	stalled := h.events(events.StoreStalled)
	if len(stalled) != 1 || stalled[0].Attempt != 3 || stalled[0].Data["recovered"] != true || stalled[0].Error != "" {
		t.Errorf("store.stalled events %+v", stalled)
	}
	if obs.attempts[0] != 3 || obs.failedTxs != 0 {
		t.Errorf("observer %+v", obs)
	}
}

// A store that keeps failing stops the batch: the writer gives up after its
// attempts, nothing more is sent to the runner, and Run returns the error.
func TestFailingStoreStopsTheBatch(t *testing.T) {
	var cases strings.Builder
	for i := range 30 {
		fmt.Fprintf(&cases, "case \"x%02d\" { input = {} }\n", i)
	}
	h := newHarness(t, chain(cases.String()))
	h.runner.capacity = 1
	h.runner.on("a", func(_ context.Context, node sdk.Node, in *executor.NodeInput, _ sdk.Events) (map[string]any, error) {
		time.Sleep(20 * time.Millisecond) // the writer gives up long before 34 of these are done
		return defaultPatch(node, in), nil
	})
	fs := &flakyStore{Store: h.st, always: true, err: errDiskGone}
	rep, err := h.runCtx(context.Background(), "b1", func(c *Config) { c.Store = fs })
	if !errors.Is(err, errDiskGone) {
		t.Fatalf("Run returned %v; want the store's error", err)
	}
	if rep.Unfinished == 0 || len(h.runner.reqs()) >= 34 {
		t.Errorf("report %+v after %d requests: the batch went on", rep, len(h.runner.reqs()))
	}
	var gaveUp bool
	for _, e := range h.events(events.StoreStalled) {
		gaveUp = gaveUp || (e.Data["recovered"] == false && e.Attempt == writerAttempts && strings.Contains(e.Error, "disk gone"))
	}
	if !gaveUp {
		t.Errorf("no store.stalled event says the writer gave up: %+v", h.events(events.StoreStalled))
	}
}

// A store that cannot keep up holds the scheduler back: while writes wait,
// only a bounded number of executions is sent, and once the store catches up
// every result is stored.
func TestWriterBackPressure(t *testing.T) {
	var cases strings.Builder
	for i := range 40 {
		fmt.Fprintf(&cases, "case \"x%02d\" { input = {} }\n", i)
	}
	h := newHarness(t, chain(cases.String()))
	h.runner.capacity = 2
	fs := &flakyStore{Store: h.st, gate: make(chan struct{}), entered: make(chan struct{})}
	// Past the first requests, the runner waits until the store is stuck:
	// what follows happens while every write waits.
	h.runner.onRequest = func(*sdk.ExecuteRequest) {
		if len(h.runner.reqs()) > 2 {
			<-fs.entered
		}
	}
	wait := h.runAsync(context.Background(), "b1", func(c *Config) { c.Store, c.writerQueue = fs, 2 })
	<-fs.entered
	// Let the scheduler go as far as it can.
	sent := -1
	for n := len(h.runner.reqs()); n != sent; n = len(h.runner.reqs()) {
		sent = n
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("sent %d while stuck", sent)
	if sent > 12 {
		t.Errorf("%d of 44 executions sent while the store was stuck; the writer's queue does not hold the scheduler back", sent)
	}
	close(fs.gate)
	rep, err := wait()
	if err != nil || rep.Succeeded != 44 {
		t.Fatalf("report %+v, error %v", rep, err)
	}
	if n := len(h.results("b1")); n != 44 {
		t.Errorf("%d results stored", n)
	}
}

// countingStore records the write sets it is given.
type countingStore struct {
	store.Store
	mu   sync.Mutex
	sets []store.WriteSet
}

func (s *countingStore) Write(_ context.Context, w store.WriteSet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets = append(s.sets, w)
	return nil
}

// The writer batches rows into few transactions, and flushes at once past
// its row or byte budget rather than wait for its timer.
func TestWriterBatches(t *testing.T) {
	cs := &countingStore{}
	tl := newTally(Config{Bus: events.New(10)}, census{})
	w := newWriter(cs, hclog.NewNullLogger(), nopObserver{}, tl, 0, 0)
	full := make([]store.Result, writerMaxRows)
	// Sent back to back, faster than the timer: had the full transaction
	// waited for it, the rows below would have joined it.
	w.send(store.WriteSet{Results: full})
	w.send(store.WriteSet{}) // nothing: not sent
	big := make([]byte, writerMaxBytes/2+1)
	w.send(store.WriteSet{Checkpoints: []store.Checkpoint{{ID: "1", State: big}}})
	w.send(store.WriteSet{ModelCalls: []store.ModelCall{{RunID: "2", Request: big}}})
	w.send(store.WriteSet{Results: []store.Result{{ExecutionKey: "last"}}})
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if len(cs.sets) != 3 || len(cs.sets[0].Results) != writerMaxRows || len(cs.sets[1].Checkpoints) != 1 ||
		len(cs.sets[1].ModelCalls) != 1 || len(cs.sets[2].Results) != 1 {
		t.Errorf("%d transactions", len(cs.sets))
		for _, s := range cs.sets {
			t.Logf("%d results, %d checkpoints, %d model calls", len(s.Results), len(s.Checkpoints), len(s.ModelCalls))
		}
	}
}
