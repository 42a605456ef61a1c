package bridge

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/spec"
)

// Events published from many goroutines reach a webhook once each, in the
// order of their sequence numbers, in batches; the encoding reads back.
func TestHubDeliversInOrderUnderConcurrentPublishers(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var batch []json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil {
			t.Errorf("not a batch: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, raw := range batch {
			var e Event
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Errorf("%s: %v", raw, err)
			}
			got = append(got, e)
		}
	}))
	defer srv.Close()
	bus := events.New(10)
	hub, err := Start(bus, []spec.Bridge{{Kind: spec.BridgeWebhook, URL: srv.URL, Buffer: 100000, FlushTimeout: spec.Duration(10 * time.Second), MaxBatch: 50}},
		Options{BatchID: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				bus.Publish(events.Event{Type: events.NodeFinished, ExecutionKey: "k", Node: "n", Data: map[string]any{"i": i}})
			}
		}()
	}
	bus.Publish(events.Event{Type: events.BatchStarted, BatchID: "other"}) // another batch's: not sent
	wg.Wait()
	st := hub.Close()
	if len(st) != 1 || st[0].Sent != 2000 || st[0].Dropped() != 0 {
		t.Fatalf("stats %+v", st)
	}
	if len(got) != 2000 {
		t.Fatalf("%d events received", len(got))
	}
	for i, e := range got {
		if seq := e.Extensions[ExtSeq].(float64); int(seq) != i+1 {
			t.Fatalf("event %d has seq %v", i, seq)
		}
		if e.Type != "dev.wtb.node.finished" || e.Subject != "k" || e.Extension(ExtNode) != "n" || !strings.HasSuffix(e.Source, "/batch/b1") {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
}

// A full buffer drops new events and counts them; the bus never waits.
func TestHubDropsPastTheBufferWithoutWaiting(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	bus := events.New(10)
	hub, err := Start(bus, []spec.Bridge{{Kind: spec.BridgeWebhook, URL: srv.URL, Buffer: 10, FlushTimeout: spec.Duration(100 * time.Millisecond), MaxBatch: 1}},
		Options{BatchID: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		bus.Publish(events.Event{Type: events.NodeLog})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("publishing took %s with the target hanging", d)
	}
	var dropped []events.Event
	bus.Subscribe(func(e events.Event) { dropped = append(dropped, e) }, events.BridgeDropped)
	st := hub.Close()
	if st[0].Sent != 0 || st[0].PastBuffer != 990 || st[0].Undelivered != 10 {
		t.Errorf("stats %+v", st[0])
	}
	if len(dropped) != 1 || !strings.HasPrefix(dropped[0].Message, "bridge webhook dropped 1000 events (990 past its buffer of 10, 10 not delivered within flush_timeout 100ms at the end)") {
		t.Errorf("bridge.dropped events: %+v", dropped)
	}
}

func TestCloudEventJSON(t *testing.T) {
	for _, bad := range []string{
		`{"id":"1","source":"s","type":"t"}`,
		`{"specversion":"0.3","id":"1","source":"s","type":"t"}`,
		`{"specversion":"1.0","source":"s","type":"t"}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","Bad_Name":1}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","time":"yesterday"}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","data":1,"data_base64":"AA=="}`,
	} {
		var e Event
		if err := json.Unmarshal([]byte(bad), &e); err == nil {
			t.Errorf("%s: read without an error", bad)
		}
	}
	in := `{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"k","time":"2026-01-01T00:00:00Z","wtbseq":3,"data":{"a":[1,2]}}`
	var e Event
	if err := json.Unmarshal([]byte(in), &e); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(e)
	if err != nil || string(out) != `{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"k","time":"2026-01-01T00:00:00Z","wtbseq":3,"data":{"a":[1,2]}}` {
		t.Errorf("round trip: %s %v", out, err)
	}
}
