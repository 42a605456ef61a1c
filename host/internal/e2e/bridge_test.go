package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wtbench/wtb/host/internal/store"
)

// natsServer is a real nats-server process the test starts, kills and
// restarts on one port (JetStream on, its store in a directory of the test).
type natsServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *osexec.Cmd
}

func natsServerBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nats-server", "/usr/sbin/nats-server"} {
		if path, err := osexec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nats-server is not installed: CI must run the bridge tests (scripts/install-deps.sh installs it)")
	}
	t.Skip("nats-server is not installed (apt-get install nats-server, or scripts/install-deps.sh)")
	return ""
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &natsServer{t: t, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = osexec.Command(natsServerBinary(s.t), "-a", "127.0.0.1", "-p", fmt.Sprint(s.port), "-js", "-sd", s.dir,
		"-l", filepath.Join(s.dir, "nats-server.log"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	waitFor(s.t, 10*time.Second, func() string { return "nats-server listening on " + s.url() }, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// kill ends the server at once (SIGKILL: no goodbye to its clients).
func (s *natsServer) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// received collects the CloudEvents a subscriber got, in arrival order.
type received struct {
	mu  sync.Mutex
	evs []map[string]any
	raw [][]byte
}

func (r *received) add(data []byte) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		m = map[string]any{"unparsable": string(data)}
	}
	r.mu.Lock()
	r.evs = append(r.evs, m)
	r.raw = append(r.raw, data)
	r.mu.Unlock()
}

func (r *received) all() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.evs...)
}

func (r *received) types() []string {
	var out []string
	for _, e := range r.all() {
		out = append(out, fmt.Sprint(e["type"]))
	}
	return out
}

// bridgeBench is a batch of 2 variants × cases, each execution sleeping ms.
func bridgeBench(bridges string, cases int, sleep string) string {
	return `
runner "pool" {
  plugin      = "pool"
  max_workers = 4
}
` + bridges + sleepBench("", "pool", sleep, cases)
}

// checkCloudEvents holds every event to CloudEvents 1.0 and WTB's
// attributes, and their wtbseq to strictly increasing order.
func checkCloudEvents(t *testing.T, evs []map[string]any, batch string) {
	t.Helper()
	var last float64
	ids := map[string]bool{}
	for i, e := range evs {
		for _, attr := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data", "wtbseq", "wtbbatch"} {
			if _, ok := e[attr]; !ok {
				t.Fatalf("event %d has no %s: %v", i, attr, e)
			}
		}
		if e["specversion"] != "1.0" || e["datacontenttype"] != "application/json" || e["wtbbatch"] != batch ||
			!strings.HasPrefix(fmt.Sprint(e["type"]), "dev.wtb.") || !strings.HasSuffix(fmt.Sprint(e["source"]), "/batch/"+batch) {
			t.Fatalf("event %d: %v", i, e)
		}
		if strings.HasPrefix(fmt.Sprint(e["type"]), "dev.wtb.execution.") && e["subject"] != e["wtbexecutionkey"] {
			t.Fatalf("event %d: an execution's event has its key as subject: %v", i, e)
		}
		seq := e["wtbseq"].(float64)
		if seq <= last {
			t.Fatalf("event %d (%s) has wtbseq %v after %v: out of order", i, e["type"], seq, last)
		}
		last = seq
		id := fmt.Sprint(e["id"])
		if ids[id] {
			t.Fatalf("event id %s twice", id)
		}
		ids[id] = true
	}
}

// TestNATSBridgeReceivesTheBatchInOrder: a core-NATS subscriber gets every
// event of the batch, from batch.started to batch.finished, in the order of
// publication, each a CloudEvent naming its execution.
func TestNATSBridgeReceivesTheBatchInOrder(t *testing.T) {
	srv := startNATS(t)
	nc, err := nats.Connect(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var got received
	sub, err := nc.Subscribe("wtb.events", func(m *nats.Msg) {
		if ct := m.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
			got.add([]byte(`{"bad content type":"` + ct + `"}`))
			return
		}
		got.add(m.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.write("bench.hcl", bridgeBench(fmt.Sprintf(`
bridge "nats" {
  url     = %q
  subject = "wtb.events"
}
`, srv.url()), 10, "0"))
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	st := e.store()
	rs := e.results(st, id)
	assertExactlyOnce(t, rs, 20)
	// The batch is over when wtb exits: everything was flushed to the
	// server, which delivers to the subscriber a moment later.
	waitFor(t, 5*time.Second, func() string { return fmt.Sprintf("batch.finished among %d events", len(got.all())) }, func() bool {
		ts := got.types()
		return len(ts) > 0 && ts[len(ts)-1] == "dev.wtb.batch.finished"
	})
	evs := got.all()
	checkCloudEvents(t, evs, id)
	if evs[0]["type"] != "dev.wtb.batch.started" {
		t.Errorf("first event %v, want batch.started", evs[0]["type"])
	}
	// The order of the batch: a node run starts before it finishes, and an
	// execution finishes after its combination started and before the
	// combination finishes; each execution's key is its subject.
	node := map[string]string{}
	comb := map[string]string{}
	finished := map[string]bool{}
	for _, ev := range evs {
		key, _ := ev["subject"].(string)
		c, _ := ev["wtbcombination"].(string)
		run := key + " " + fmt.Sprint(ev["wtbnode"])
		switch ev["type"] {
		case "dev.wtb.node.started":
			node[run] = "started"
		case "dev.wtb.node.finished":
			if node[run] != "started" {
				t.Errorf("%s finished before it started (%q)", run, node[run])
			}
			node[run] = "finished"
		case "dev.wtb.combination.started":
			comb[c] = "started"
		case "dev.wtb.execution.finished":
			if comb[c] != "started" {
				t.Errorf("%s finished while its combination %q was %q", key, c, comb[c])
			}
			if finished[key] {
				t.Errorf("%s finished twice", key)
			}
			finished[key] = true
		case "dev.wtb.combination.finished":
			comb[c] = "finished"
		}
	}
	for _, res := range rs {
		if !finished[res.ExecutionKey] {
			t.Errorf("%s: no execution.finished event", res.ExecutionKey)
		}
	}
	if len(node) == 0 || len(comb) != 2 {
		t.Errorf("node runs %d, combinations %v", len(node), comb)
	}
	// No seq is missing: the subscriber got the whole sequence.
	if n := int(evs[len(evs)-1]["wtbseq"].(float64)); n != len(evs) {
		t.Errorf("%d events received, the last has wtbseq %d", len(evs), n)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("bridge nats (%s): %d events sent", srv.url(), len(evs))) {
		t.Errorf("wtb run should say how many events it sent (%d):\n%s", len(evs), r.stderr)
	}
}

// TestNATSBridgeOutlivesTheServer: nats-server is killed mid-batch and
// restarted a second later, while the batch goes on. The batch is unaffected (every execution
// stored, passing, exactly once) and, with the events waiting in the
// bridge's buffer meanwhile and sent again after the reconnect, the
// JetStream stream holds every event of the batch, in order, once each (the
// stream drops a resent event by its id).
func TestNATSBridgeOutlivesTheServer(t *testing.T) {
	srv := startNATS(t)
	ctx := context.Background()
	streamOf := func() jetstream.JetStream {
		nc, err := nats.Connect(srv.url())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	js := streamOf()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "WTB", Subjects: []string{"wtb.>"}, Storage: jetstream.FileStorage,
		Duplicates: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.write("bench.hcl", bridgeBench(fmt.Sprintf(`
bridge "nats" {
  url       = %q
  subject   = "wtb.events"
  jetstream = true
}
`, srv.url()), 40, "0.1"))
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() string { return "the batch half way:\n" + stderr.String() }, func() bool {
		id := batchIDRE.FindStringSubmatch(stderr.String())
		if id == nil {
			return false
		}
		rs, err := e.store().Results().List(ctx, id[1])
		return err == nil && len(rs) >= 8
	})
	srv.kill()
	time.Sleep(time.Second)
	srv.start()
	storedAtRestart := len(e.results(e.store(), batchID(t, stderr.String())))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wtb run: %v\n%s", err, stderr.String())
	}
	id := batchID(t, stderr.String())
	rs := e.results(e.store(), id)
	assertExactlyOnce(t, rs, 80)
	for _, r := range rs {
		if !r.Success {
			t.Errorf("%s failed: %s", r.ExecutionKey, r.Error)
		}
	}
	if storedAtRestart > 60 {
		t.Fatalf("%d of 80 executions were stored at the restart: the outage was not mid-batch", storedAtRestart)
	}
	// Read the stream back.
	js = streamOf()
	cons, err := js.OrderedConsumer(ctx, "WTB", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got received
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			break
		}
		got.add(m.Data())
	}
	evs := got.all()
	if len(evs) == 0 {
		t.Fatal("the stream holds no event")
	}
	checkCloudEvents(t, evs, id)
	if n := int(evs[len(evs)-1]["wtbseq"].(float64)); n != len(evs) || evs[len(evs)-1]["type"] != "dev.wtb.batch.finished" {
		t.Errorf("%d events stored, the last %v with wtbseq %d: some are missing", len(evs), evs[len(evs)-1]["type"], n)
	}
	finished := 0
	for _, ev := range evs {
		if ev["type"] == "dev.wtb.execution.finished" {
			finished++
		}
	}
	if finished != 80 {
		t.Errorf("%d execution.finished events, want 80", finished)
	}
	if strings.Contains(stderr.String(), "dropped") {
		t.Errorf("nothing should be dropped:\n%s", stderr.String())
	}
	// The outage was seen (and outlasted) by the bridge, not slept through.
	for _, want := range []string{"cannot deliver; events wait in the buffer", "delivering again"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("wtb run should log %q:\n%s", want, stderr.String())
		}
	}
}

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

// TestAuditImportRoundTrip: the CloudEvents one batch published on NATS,
// saved as JSON lines, are imported into another batch of the same bench
// file — each attributed to its execution by key — and importing them again
// stores nothing twice; then another system's events arrive on a NATS subject
// while `wtb audit import` listens, and wtb audit shows them by execution.
func TestAuditImportRoundTrip(t *testing.T) {
	srv := startNATS(t)
	nc, err := nats.Connect(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var got received
	sub, err := nc.Subscribe("wtb.events", func(m *nats.Msg) { got.add(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = nc.Flush()
	e := newEnv(t)
	e.write("bridged.hcl", bridgeBench(fmt.Sprintf(`
bridge "nats" {
  url     = %q
  subject = "wtb.events"
  events  = ["batch.started", "execution.finished", "batch.finished"]
}
`, srv.url()), 3, "0"))
	first := batchID(t, e.mustRun("run", "bridged.hcl", "--no-progress").stderr)
	waitFor(t, 5*time.Second, func() string { return fmt.Sprintf("8 events, got %d", len(got.all())) }, func() bool { return len(got.all()) == 8 })
	got.mu.Lock()
	lines := ""
	for _, raw := range got.raw {
		lines += string(raw) + "\n"
	}
	got.mu.Unlock()
	e.write("events.jsonl", lines+"\n")
	e.write("plain.hcl", bridgeBench("", 3, "0"))
	second := batchID(t, e.mustRun("run", "plain.hcl", "--no-progress").stderr)

	r := e.mustRun("audit", "import", second, "events.jsonl")
	want := fmt.Sprintf("imported 8 of 8 events from events.jsonl into the audit trail of batch %s (0 there already); 6 attributed to executions", second)
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("want %q:\n%s", want, r.stderr)
	}
	r = e.mustRun("audit", "import", second, "events.jsonl")
	if !strings.Contains(r.stderr, "imported 0 of 8 events") || !strings.Contains(r.stderr, "(8 there already)") {
		t.Fatalf("importing again should store nothing:\n%s", r.stderr)
	}
	st := e.store()
	entries, err := st.Audit().List(context.Background(), second, store.AuditFilter{EventType: "dev.wtb.execution.finished"})
	if err != nil || len(entries) != 6 {
		t.Fatalf("want 6 imported execution.finished entries: %v %+v", err, entries)
	}
	keys := map[string]bool{}
	for _, r := range e.results(st, second) {
		keys[r.ExecutionKey] = true
	}
	for _, en := range entries {
		if !keys[en.ExecutionKey] || !strings.Contains(string(en.Details), `"source":"wtb://`) || !strings.Contains(string(en.Details), "/batch/"+first) {
			t.Errorf("entry %+v: not attributed to an execution of %s, or not naming its source", en, second)
		}
	}

	// Another system's events, live on a subject.
	cmd := e.cmd("audit", "import", second, srv.url()+"/agent.events", "--for", "3s")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() string { return "listening:\n" + stderr.String() }, func() bool {
		return strings.Contains(stderr.String(), "listening on")
	})
	key := entries[0].ExecutionKey
	for _, m := range []string{
		`{"specversion":"1.0","id":"a1","source":"agent://planner","type":"com.example.agent.tool_call","subject":"` + key + `","time":"2026-01-01T10:00:00Z","datacontenttype":"application/json","data":{"message":"called search(q=capital)","severity":"warning"}}`,
		`{"specversion":"1.0","id":"a2","source":"agent://planner","type":"com.example.agent.step","wtbexecutionkey":"` + key + `","wtbnode":"work","data":{"message":"step 2 done"}}`,
		`{"specversion":"1.0","id":"a3","source":"agent://planner","type":"com.example.agent.heartbeat","subject":"not-an-execution"}`,
		`not a cloud event`,
	} {
		if err := nc.Publish("agent.events", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	_ = nc.Flush()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wtb audit import (NATS): %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "imported 3 of 3 events") || !strings.Contains(stderr.String(), "2 attributed to executions") ||
		!strings.Contains(stderr.String(), "1 messages were not CloudEvents") {
		t.Fatalf("report:\n%s", stderr.String())
	}
	audit := e.mustRun("audit", second, "--type", "com.example.agent.tool_call")
	if !strings.Contains(audit.stdout, "WARNING") || !strings.Contains(audit.stdout, "called search(q=capital) ["+key+"]") {
		t.Errorf("wtb audit should show the imported event on its execution:\n%s", audit.stdout)
	}
	audit = e.mustRun("audit", second)
	if !strings.Contains(audit.stdout, "step 2 done ["+key+" work]") || !strings.Contains(audit.stdout, "com.example.agent.heartbeat not-an-execution") {
		t.Errorf("wtb audit:\n%s", audit.stdout)
	}
	// The viewer's execution page lists them among the execution's events, in
	// time order (the step has no time of its own: it is the time of the import).
	ctx := browser(t)
	viewer := startViewer(t, e)
	err = chromedp.Do(ctx, chromedp.Navigate(viewer+"/#/execution/"+second+"/"+url.QueryEscape(key)),
		chromedp.WaitVisible(`[data-testid=event-row]`))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := texts(ctx, `[data-testid=event-row]`)
	from, _ := texts(ctx, `[data-testid=event-from]`)
	joined := strings.Join(rows, "\n")
	if len(rows) != 3 || !strings.Contains(joined, "called search(q=capital)") || !strings.Contains(joined, "step 2 done") ||
		!strings.Contains(joined, "dev.wtb.execution.finished") || strings.Join(from, ",") != "agent://planner,wtb://"+hostname(t)+"/batch/"+first+",agent://planner" {
		t.Errorf("the execution's events: %q from %q", rows, from)
	}
	screenshot(t, ctx, artifacts(t), "viewer-execution-events.png")

	if r := e.run("audit", "import", second, "bridged.hcl"); r.code != 2 || !strings.Contains(r.stderr, "bridged.hcl:2: ") {
		t.Errorf("a file that is not CloudEvents: exit %d\n%s", r.code, r.stderr)
	}
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
