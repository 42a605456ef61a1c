package traceout

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// The executions stored before a run (Resend) and those it stores (Add) all
// reach a real collector, each once, while the run goes on; a run that
// stops with executions left holds the batch's span back. Against the
// Jaeger scripts/services.sh starts (WTB_TEST_JAEGER_*), under the race
// detector in make test.
func TestExporterResendsWhatWasStoredBefore(t *testing.T) {
	otlp, query := os.Getenv("WTB_TEST_JAEGER_OTLP_URL"), os.Getenv("WTB_TEST_JAEGER_QUERY_URL")
	if otlp == "" || query == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Jaeger: scripts/services.sh starts it")
		}
		t.Skip("no Jaeger (WTB_TEST_JAEGER_OTLP_URL, WTB_TEST_JAEGER_QUERY_URL)")
	}
	batch := fmt.Sprintf("resend-%d", time.Now().UnixNano())
	result := func(i int) store.Result {
		return store.Result{ExecutionKey: fmt.Sprintf("c/k%04d/0", i), Status: store.ResultSucceeded, Success: true, Attempts: 1, CreatedAt: time.Now()}
	}
	load := func(_ context.Context, r *store.Result) (Execution, error) { return Execution{Result: r}, nil }
	x, err := Start(Target{URL: otlp, Buffer: 100}, batch, "test", load, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.Resend(600, func(ctx context.Context, fn func(*store.Result) error) error {
		for i := 0; i < 600; i++ {
			r := result(i)
			if err := fn(&r); err != nil {
				return err
			}
		}
		return nil
	})
	for i := 600; i < 650; i++ { // the run's own, a few at a time, meanwhile
		x.Add([]store.Result{result(i)})
		time.Sleep(time.Millisecond)
	}
	st := x.Close(Batch{ID: batch, Name: "b", Start: time.Now(), End: time.Now()}, false)
	if st.Executions != 650 || st.Resent != 600 || st.Dropped() != 0 || st.BatchSpan || !st.BatchSpanHeld || st.Spans != 650 {
		t.Fatalf("stats %+v; want 650 executions (600 resent) and their spans, none dropped, the batch's span held", st)
	}
	// Jaeger has each execution's span once, and no batch span.
	var body struct {
		Data []struct {
			Spans []struct {
				SpanID        string `json:"spanID"`
				OperationName string `json:"operationName"`
			} `json:"spans"`
		} `json:"data"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(query + "/api/traces/" + hex.EncodeToString(TraceID(batch)))
		if err == nil {
			body.Data = nil
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if len(body.Data) == 1 && len(body.Data[0].Spans) >= 650 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger does not have the 650 spans: %d traces", len(body.Data))
		}
		time.Sleep(200 * time.Millisecond)
	}
	seen := map[string]bool{}
	for _, s := range body.Data[0].Spans {
		if seen[s.SpanID] || s.OperationName == "batch b" {
			t.Fatalf("span %s (%s) twice, or the batch's span sent", s.SpanID, s.OperationName)
		}
		seen[s.SpanID] = true
	}
	if len(seen) != 650 {
		t.Errorf("%d spans in Jaeger, want 650", len(seen))
	}
}
