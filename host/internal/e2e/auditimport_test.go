package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/wtbench/wtb/host/internal/store"
)

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
