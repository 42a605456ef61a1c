package audit_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wtbench/wtb/host/internal/audit"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
	"github.com/wtbench/wtb/host/internal/store/storetest"
)

// trailOf publishes a small batch's events through a trail on a real SQLite
// database and returns the event types the trail stored, in order.
func trailOf(t *testing.T, opts audit.Options) []string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Batches().Create(ctx, storetest.NewBatch("b")); err != nil {
		t.Fatal(err)
	}
	bus := events.New(100)
	trail := audit.Attach(bus, st.Audit(), "b", opts)
	for _, e := range []events.Event{
		{Type: events.BatchStarted},
		{Type: events.ExecutionStarted, ExecutionKey: "k1"},
		{Type: events.NodeStarted, ExecutionKey: "k1", Node: "n"},
		{Type: events.NodeFinished, ExecutionKey: "k1", Node: "n"},
		{Type: events.ExecutionFinished, ExecutionKey: "k1"},
		{Type: events.ExecutionStarted, ExecutionKey: "k2"},
		{Type: events.ExecutionRetried, ExecutionKey: "k2", Attempt: 1},
		{Type: events.ExecutionFailed, ExecutionKey: "k2", Error: "boom"},
		{Type: events.BatchFinished},
		{Type: events.ExecutionFailed, BatchID: "other", ExecutionKey: "x"},
	} {
		bus.Publish(e)
	}
	if err := trail.Close(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := st.Audit().List(ctx, "b", store.AuditFilter{MinSeverity: audit.Debug})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range entries {
		types = append(types, e.EventType)
	}
	return types
}

func TestTrailRecordsWhatNeedsAttention(t *testing.T) {
	got := trailOf(t, audit.Options{})
	want := []string{string(events.BatchStarted), string(events.ExecutionRetried), string(events.ExecutionFailed), string(events.BatchFinished)}
	if !slices.Equal(got, want) {
		t.Errorf("default trail = %v, want %v (a successful execution is its result row)", got, want)
	}
}

func TestTrailWithNodesRecordsEveryExecution(t *testing.T) {
	got := trailOf(t, audit.Options{Nodes: true})
	for _, want := range []events.Type{events.NodeStarted, events.NodeFinished, events.ExecutionFinished, events.ExecutionFailed} {
		if !slices.Contains(got, string(want)) {
			t.Errorf("verbose trail %v lacks %s", got, want)
		}
	}
	if slices.Contains(got, string(events.ExecutionStarted)) {
		t.Errorf("verbose trail %v records execution starts (one line per execution is enough)", got)
	}
}
