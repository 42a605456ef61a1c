package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// webhookTarget is an HTTP server that records what it is sent; the first
// failFirst requests are answered 503.
type webhookTarget struct {
	mu        sync.Mutex
	failFirst int
	requests  int
	auth      []string
	ctypes    []string
	got       received
}

func (w *webhookTarget) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.requests++
	fail := w.requests <= w.failFirst
	w.auth = append(w.auth, r.Header.Get("Authorization"))
	w.ctypes = append(w.ctypes, r.Header.Get("Content-Type"))
	w.mu.Unlock()
	if fail {
		http.Error(rw, "try again", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Content-Type") == "application/cloudevents-batch+json" {
		var evs []json.RawMessage
		if err := json.Unmarshal(body, &evs); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		for _, e := range evs {
			w.got.add(e)
		}
	} else {
		w.got.add(body)
	}
	rw.WriteHeader(http.StatusAccepted)
}

// TestWebhookBridge: structured CloudEvents, one a request, with the
// configured headers; 503s are retried and the order holds; the header's
// value (a secret) is stored nowhere in the database.
func TestWebhookBridge(t *testing.T) {
	target := &webhookTarget{failFirst: 3}
	srv := httptest.NewServer(target)
	defer srv.Close()
	e := newEnv(t)
	const secret = "Bearer s3cr3t-t0ken-for-the-hook"
	e.write("bench.hcl", bridgeBench(fmt.Sprintf(`
bridge "webhook" {
  url     = %q
  headers = { authorization = %q }
  events  = ["batch.started", "execution.finished", "batch.finished"]
}
`, srv.URL+"/hook", secret), 5, "0"))
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	evs := target.got.all()
	checkCloudEvents(t, evs, id)
	if len(evs) != 12 || evs[0]["type"] != "dev.wtb.batch.started" || evs[11]["type"] != "dev.wtb.batch.finished" {
		t.Fatalf("want batch.started, 10 execution.finished, batch.finished; got %v", target.got.types())
	}
	target.mu.Lock()
	for i, a := range target.auth {
		if a != secret || target.ctypes[i] != "application/cloudevents+json" {
			t.Fatalf("request %d: Authorization %q, Content-Type %q", i, a, target.ctypes[i])
		}
	}
	if target.requests != 12+3 {
		t.Errorf("%d requests: want 12 and the 3 answered 503", target.requests)
	}
	target.mu.Unlock()
	if strings.Contains(r.stderr, "s3cr3t") {
		t.Errorf("the header's value is in wtb's output:\n%s", r.stderr)
	}
	// The database and its write-ahead log; the batch's stored spec has the
	// header's name only.
	files, _ := filepath.Glob(filepath.Join(e.dir, "wtb.db*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err != nil || strings.Contains(string(b), "s3cr3t") {
			t.Errorf("the header's value is stored in %s (err %v)", f, err)
		}
	}
	rec, err := e.store().Batches().Get(context.Background(), id)
	if err != nil || !strings.Contains(string(rec.Spec), `"header_names":["Authorization"]`) {
		t.Errorf("the stored spec should name the header: %v %s", err, rec.Spec)
	}
}

// TestWebhookBridgeDownChangesNothingButACount: the target refuses
// connections for the whole batch. The batch's results are those of the same
// batch without a bridge; wtb says how many events were dropped and why, and
// so does one entry of the audit trail.
func TestWebhookBridgeDownChangesNothingButACount(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/hook"
	l.Close() // nothing listens there now
	e := newEnv(t)
	e.write("plain.hcl", bridgeBench("", 10, "0.02"))
	plain := e.mustRun("run", "plain.hcl", "--no-progress")
	e.write("bench.hcl", bridgeBench(fmt.Sprintf(`
bridge "webhook" {
  url           = %q
  buffer        = 20
  flush_timeout = "500ms"
}
`, down), 10, "0.02"))
	start := time.Now()
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	took := time.Since(start)
	id, plainID := batchID(t, r.stderr), batchID(t, plain.stderr)
	st := e.store()
	got, want := e.results(st, id), e.results(st, plainID)
	byKey := func(rs []store.Result) {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ExecutionKey < rs[j].ExecutionKey })
	}
	byKey(got)
	byKey(want)
	assertExactlyOnce(t, got, 20)
	for i := range got {
		g, w := got[i], want[i]
		if g.ExecutionKey != w.ExecutionKey || g.Success != w.Success || g.OverallScore != w.OverallScore || g.Passed != w.Passed {
			t.Errorf("%s: %v %v %v, without a bridge %s: %v %v %v", g.ExecutionKey, g.Success, g.OverallScore, g.Passed,
				w.ExecutionKey, w.Success, w.OverallScore, w.Passed)
		}
	}
	m := regexp.MustCompile(`bridge webhook \(` + regexp.QuoteMeta(down) + `\): 0 events sent, (\d+) dropped \((\d+) past the buffer, 20 undelivered at the end, 0 refused\)`).
		FindStringSubmatch(r.stderr)
	if m == nil || m[1] == "0" {
		t.Fatalf("wtb run should count the dropped events:\n%s", r.stderr)
	}
	entries, err := st.Audit().List(context.Background(), id, store.AuditFilter{EventType: "bridge.dropped"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Severity != "WARNING" ||
		!strings.HasPrefix(entries[0].Message, "bridge webhook dropped "+m[1]+" events (") {
		t.Fatalf("want one bridge.dropped entry for %s events: %+v", m[1], entries)
	}
	audit := e.mustRun("audit", id)
	if !strings.Contains(audit.stdout, "bridge webhook dropped "+m[1]+" events") {
		t.Errorf("wtb audit should show the drop:\n%s", audit.stdout)
	}
	t.Logf("with the target down the run took %s (flush_timeout 500ms)", took.Round(time.Millisecond))
}
