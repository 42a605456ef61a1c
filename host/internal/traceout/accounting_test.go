package traceout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP endpoint that answers every request with resp
// (a 2xx protobuf body) and counts the requests.
func collector(t *testing.T, resp *collectortrace.ExportTraceServiceResponse) (string, *atomic.Int64) {
	t.Helper()
	var posts atomic.Int64
	body, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &posts
}

func results(n int) []store.Result {
	out := make([]store.Result, n)
	for i := range out {
		out[i] = store.Result{ExecutionKey: fmt.Sprintf("c/k/%d", i), CreatedAt: time.Now()}
	}
	return out
}

// The flush at the end runs out while the sender reads a request's first
// execution (a slow query): nothing of that request reaches the collector,
// and its executions are undelivered — not counted as sent, which left the
// batch without the audit entry saying to send it again.
func TestARequestCutOffWhileReadIsUndelivered(t *testing.T) {
	url, posts := collector(t, &collectortrace.ExportTraceServiceResponse{})
	slowRead := func(ctx context.Context, r *store.Result) (Execution, error) {
		<-ctx.Done()
		return Execution{}, ctx.Err()
	}
	x, err := Start(Target{URL: url, FlushTimeout: 200 * time.Millisecond}, "B", "v", slowRead, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.Add(results(3))
	time.Sleep(50 * time.Millisecond) // the sender is in the read
	st := x.Close(Batch{ID: "B"}, true)
	if st.Executions != 0 || st.Undelivered != 3 || st.Dropped() != 3 {
		t.Errorf("%d requests reached the collector; stats say %d sent, %d undelivered, %d dropped; want 0 sent, 3 undelivered",
			posts.Load(), st.Executions, st.Undelivered, st.Dropped())
	}
	if posts.Load() != 0 {
		t.Errorf("%d requests sent after the flush ran out", posts.Load())
	}
}

// A collector that takes a request but refuses some of its spans (OTLP's
// partial success) has the executions: they are sent, the refused spans
// are counted with the collector's message, nothing is dropped.
func TestAPartialSuccessIsSentWithItsRefusalsCounted(t *testing.T) {
	url, posts := collector(t, &collectortrace.ExportTraceServiceResponse{
		PartialSuccess: &collectortrace.ExportTracePartialSuccess{RejectedSpans: 2, ErrorMessage: "spans older than the retention"}})
	read := func(ctx context.Context, r *store.Result) (Execution, error) { return Execution{Result: r}, nil }
	x, err := Start(Target{URL: url, FlushTimeout: 5 * time.Second}, "B", "v", read, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.Add(results(3))
	st := x.Close(Batch{ID: "B"}, true)
	if st.Executions != 3 || st.Failed != 0 || st.Dropped() != 0 || !st.BatchSpan {
		t.Errorf("stats %+v: want 3 executions sent, none failed or dropped, the batch span sent", st)
	}
	// Two requests (the executions, the batch's span), each answered with
	// the same partial success.
	if st.Rejected != 2*uint64(posts.Load()) || st.RejectedMessage != "spans older than the retention" {
		t.Errorf("rejected %d (%q) over %d requests; want 2 a request and the collector's message", st.Rejected, st.RejectedMessage, posts.Load())
	}
	if st.Err != "" {
		t.Errorf("a partial success recorded as the collector's error: %q", st.Err)
	}
}

func TestPartialSuccessIsRead(t *testing.T) {
	for _, c := range []struct {
		err      error
		rejected uint64
		message  string
		ok       bool
	}{
		{errors.New("OTLP partial success: too old (2 spans rejected)"), 2, "too old", true},
		{errors.Join(nil, errors.New("OTLP partial success: empty span name (1 span rejected)")), 1, "empty span name", true},
		{errors.New("OTLP partial success:  (0 spans rejected)"), 0, "", true},
		{errors.New("failed to send to http://127.0.0.1:1/v1/traces: 503 Service Unavailable"), 0, "", false},
	} {
		n, msg, ok := partialSuccess(c.err)
		if n != c.rejected || msg != c.message || ok != c.ok {
			t.Errorf("partialSuccess(%q) = %d, %q, %v; want %d, %q, %v", c.err, n, msg, ok, c.rejected, c.message, c.ok)
		}
	}
}

// Executions added after Close are counted as undelivered, never lost
// without a word.
func TestAddAfterCloseIsCounted(t *testing.T) {
	url, _ := collector(t, &collectortrace.ExportTraceServiceResponse{})
	read := func(ctx context.Context, r *store.Result) (Execution, error) { return Execution{Result: r}, nil }
	x, err := Start(Target{URL: url, FlushTimeout: 5 * time.Second}, "B", "v", read, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := x.Close(Batch{ID: "B"}, false)
	x.Add(results(2))
	if st.Dropped() != 0 {
		t.Fatalf("an empty export dropped %d", st.Dropped())
	}
	x.mu.Lock()
	undelivered := x.st.Undelivered
	x.mu.Unlock()
	if undelivered != 2 {
		t.Errorf("2 executions added after Close: %d counted undelivered", undelivered)
	}
}
