package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/storetest"
)

// TestCancelFromAnotherProcess: wtb cancel, a second process, stops a batch
// through the database within one lease renewal; the batch is stored as
// cancelled with what finished, the audit trail says who asked and when,
// and resume completes it with every execution stored once.
func TestCancelFromAnotherProcess(t *testing.T) {
	for _, kind := range []string{sqliteStore, postgresStore} {
		t.Run(kind, func(t *testing.T) {
			const ttl, renewal = 3 * time.Second, time.Second // WTB_LEASE_TTL/3
			t.Setenv("WTB_LEASE_TTL", ttl.String())
			e := newEnvOn(t, kind)
			e.write("slow.hcl", gcBench)
			cmd := e.cmd("run", "slow.hcl", "--no-progress")
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan int, 1)
			go func() { _ = cmd.Wait(); exited <- cmd.ProcessState.ExitCode() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			st := e.store()
			var id string
			waitFor(t, 30*time.Second, func() string { return "8 stored results: " + stderr.String() }, func() bool {
				b, err := st.Batches().Latest(context.Background())
				if err != nil {
					return false
				}
				id = b.ID
				n, _ := st.Results().Count(context.Background(), id)
				return n >= 8
			})

			c := e.cmd("cancel", id)
			out, err := c.Output()
			asked := time.Now()
			if err != nil || !strings.Contains(string(out), "cancel requested: batch "+id+" stops within 1.00 s") {
				t.Fatalf("wtb cancel: %v\n%s", err, out)
			}
			cancelPid := c.Process.Pid
			// The owner sees it at its next renewal (at most one interval later)…
			waitFor(t, renewal+time.Second, func() string { return "the owner to see the request: " + stderr.String() }, func() bool {
				return strings.Contains(stderr.String(), fmt.Sprintf("cancel requested by wtb cancel, pid %d on ", cancelPid))
			})
			seen := time.Since(asked)
			// …and stops as on Ctrl-C.
			var code int
			select {
			case code = <-exited:
			case <-time.After(10 * time.Second):
				t.Fatalf("the batch did not stop:\n%s", stderr.String())
			}
			stopped := time.Since(asked)
			t.Logf("owner saw the request %s after wtb cancel returned, exited %s after (renewal every %s)", seen.Round(time.Millisecond), stopped.Round(time.Millisecond), renewal)
			if code != 130 || !strings.Contains(stderr.String(), "batch "+id+" cancelled by wtb cancel, pid "+strconv.Itoa(cancelPid)) ||
				!strings.Contains(stderr.String(), "wtb resume "+id) {
				t.Errorf("exit %d\n%s", code, stderr.String())
			}
			b, err := st.Batches().Get(context.Background(), id)
			n, _ := st.Results().Count(context.Background(), id)
			if err != nil || b.Status != store.StatusCancelled || n == 0 || n >= 120 || b.CancelRequestedAt == nil {
				t.Fatalf("after cancel: %+v %v, %d results", b, err, n)
			}
			for _, r := range e.results(st, id) {
				if !r.Success {
					t.Errorf("a cancelled execution was stored as failed: %s %s", r.ExecutionKey, r.Error)
				}
			}
			host, _ := os.Hostname()
			aud := e.mustRun("audit", id).stdout
			for _, want := range []string{"batch.cancel_requested", fmt.Sprintf("cancel requested by wtb cancel, pid %d on %s", cancelPid, host),
				"batch.cancelled", "batch cancelled by wtb cancel"} {
				if !strings.Contains(aud, want) {
					t.Errorf("the audit trail lacks %q:\n%s", want, aud)
				}
			}
			entries, _ := st.Audit().List(context.Background(), id, store.AuditFilter{EventType: "batch.cancel_requested"})
			var details struct {
				PID         int       `json:"pid"`
				Host        string    `json:"host"`
				RequestedAt time.Time `json:"requested_at"`
			}
			if len(entries) != 1 || json.Unmarshal(entries[0].Details, &details) != nil || details.PID != cancelPid || details.Host != host ||
				details.RequestedAt.After(asked) || time.Since(details.RequestedAt) > time.Minute {
				t.Errorf("the request's audit entries: %+v", entries)
			}
			list := e.mustRun("results", "--list", "--format", "json").stdout
			if !strings.Contains(list, `"cancel_requested": {`) || !strings.Contains(list, `"status": "cancelled"`) {
				t.Errorf("results --list --format json:\n%s", list)
			}

			// Not running any more: said, exit 2.
			r := e.run("cancel", id)
			if r.code != 2 || !strings.Contains(r.stderr, "is not running: it was cancelled already") || !strings.Contains(r.stderr, "`wtb resume "+id+" --db ") {
				t.Errorf("cancel of a cancelled batch: exit %d\n%s", r.code, r.stderr)
			}
			// resume completes it exactly once, and starts with no request.
			e.mustRun("resume", id, "--no-progress")
			assertExactlyOnce(t, e.results(st, id), 120)
			b, _ = st.Batches().Get(context.Background(), id)
			if b.Status != store.StatusCompleted || b.CancelRequestedAt != nil {
				t.Errorf("after resume: status %s, cancel request %v", b.Status, b.CancelRequestedAt)
			}
			r = e.run("cancel", id)
			if r.code != 2 || !strings.Contains(r.stderr, "is not running: it completed at") {
				t.Errorf("cancel of a completed batch: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}

// TestViewerShowsACancelRequest: a batch run from another machine (its
// owner holds a live lease from a host that is not this one) is asked to
// stop with wtb cancel; the viewer's batches page shows "cancel requested"
// with who asked, the owner reads the request from the database, and once
// it has stopped the page shows "cancelled".
func TestViewerShowsACancelRequest(t *testing.T) {
	e := newEnv(t)
	e.write("score.sh", scoreScript)
	e.write("det.hcl", deterministicBench("best"))
	e.mustRun("run", "det.hcl", "--no-progress")
	st := e.store()
	ctx := context.Background()
	rec := storetest.NewBatch("20991231-235959-0000beef")
	if err := st.Batches().Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	const owner = "wtb pid 4242 on another-machine (started 77, abcdef)"
	if err := st.Batches().Acquire(ctx, rec.ID, owner, time.Hour); err != nil {
		t.Fatal(err)
	}
	url := startViewer(t, e)
	bctx := browser(t)
	badge := fmt.Sprintf(`[data-batch=%q] td:nth-child(4) .badge`, rec.ID)
	status := func() (string, string) {
		got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](fmt.Sprintf(`(() => { const b = document.querySelector(%q); return b ? [b.textContent, b.title] : ['', ''] })()`, badge)))
		if err != nil || len(got) != 2 {
			t.Fatalf("reading the badge: %v %v", got, err)
		}
		return got[0], got[1]
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(url+"/#/"), chromedp.WaitVisible(badge)); err != nil {
		t.Fatal(err)
	}
	if text, _ := status(); text != "running" {
		t.Fatalf("before the request the batch shows %q", text)
	}

	r := e.mustRun("cancel", rec.ID)
	if !strings.Contains(r.stdout, "its owner, "+owner) {
		t.Errorf("wtb cancel:\n%s", r.stdout)
	}
	waitFor(t, 10*time.Second, func() string {
		text, title := status()
		return "the viewer to show the request, not " + text + " " + title
	}, func() bool {
		text, title := status()
		return text == "cancel requested" && strings.Contains(title, "cancel requested by wtb cancel, pid ")
	})
	screenshot(t, bctx, artifacts(t), "viewer-cancel-requested.png")
	if list := e.mustRun("results", "--list").stdout; !strings.Contains(list, "running (cancel requested)") {
		t.Errorf("results --list:\n%s", list)
	}
	// The owner on the other machine reads it at its next renewal, stops,
	// stores its status and lets the batch go.
	if err := st.Batches().Renew(ctx, rec.ID, owner, time.Hour); err != nil {
		t.Fatal(err)
	}
	req, err := st.Batches().CancelRequest(ctx, rec.ID)
	if err != nil || req == nil || !strings.HasPrefix(req.By, "wtb cancel, pid ") {
		t.Fatalf("the owner reads %+v %v", req, err)
	}
	now := time.Now()
	if err := st.Batches().SetStatus(ctx, rec.ID, store.StatusCancelled, &now, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Batches().Release(ctx, rec.ID, owner); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() string { text, _ := status(); return "the viewer to show cancelled, not " + text }, func() bool {
		text, title := status()
		return text == "cancelled" && strings.Contains(title, "cancel requested by wtb cancel")
	})
}
