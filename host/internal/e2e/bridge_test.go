package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
