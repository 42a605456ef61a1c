package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/sdk"
)

const echoWorker = `
import os, sys, time
from wtb_node import serve

def run(req):
    q = req["state"]["q"]
    print("serving", q)
    if q == "sleep":
        time.sleep(30)
    return {"echo": q, "pid": os.getpid()}

serve(run)
`

type recorder struct {
	mu   sync.Mutex
	logs []string
}

func (r *recorder) NodeStarted(string, string)  {}
func (r *recorder) NodeFinished(sdk.NodeResult) {}
func (r *recorder) NodeFailed(sdk.NodeFailure)  {}
func (r *recorder) Log(_ string, _ sdk.LogStream, line string) {
	r.mu.Lock()
	r.logs = append(r.logs, line)
	r.mu.Unlock()
}

// Many concurrent requests share at most Max processes, each request gets its
// own answer and its own stderr, a timed-out request's process is replaced,
// and Close stops them all.
func TestWorkerPool(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "node.py")
	if err := os.WriteFile(script, []byte(echoWorker), 0o644); err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("../python")
	t.Setenv("PYTHONPATH", root)
	e := New(Options{Workers: 8})
	defer e.Close()
	node := sdk.Node{Name: "echo", Command: []string{python, script}, ConfigHash: "h", Worker: &sdk.WorkerSpec{Max: 3}}
	run := func(q string, timeout time.Duration) (sdk.Outcome, *recorder) {
		n := node
		n.Timeout = timeout
		rec := &recorder{}
		state, _ := json.Marshal(map[string]string{"q": q})
		return e.Execute(context.Background(), &sdk.ExecuteRequest{StartState: state, Nodes: []sdk.Node{n}}, rec), rec
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	pids := map[float64]bool{}
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			q := fmt.Sprintf("q%d", i)
			out, rec := run(q, 0)
			var s map[string]any
			_ = json.Unmarshal(out.FinalState, &s)
			if out.Status != sdk.StatusSucceeded || s["echo"] != q {
				t.Errorf("%s: %+v %s", q, out, out.FinalState)
				return
			}
			rec.mu.Lock()
			if len(rec.logs) != 1 || rec.logs[0] != "serving "+q {
				t.Errorf("%s's log: %q", q, rec.logs)
			}
			rec.mu.Unlock()
			mu.Lock()
			pids[s["pid"].(float64)] = true
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if len(pids) == 0 || len(pids) > 3 {
		t.Errorf("%d processes served 40 requests, want at most 3", len(pids))
	}
	start := time.Now()
	out, _ := run("sleep", 300*time.Millisecond)
	if out.Status != sdk.StatusFailed || out.FailureKind != sdk.FailureTimeout || time.Since(start) > 5*time.Second {
		t.Errorf("timeout: %+v after %s", out, time.Since(start))
	}
	if out, _ := run("after", 0); out.Status != sdk.StatusSucceeded {
		t.Errorf("after a timeout: %+v", out)
	}
	if got := e.workers.count(); got < 1 || got > 3 {
		t.Errorf("%d worker processes running", got)
	}
	e.Close()
	deadline := time.Now().Add(5 * time.Second)
	for e.workers.count() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(fmt.Sprint(e.workers.count()), "-") || e.workers.count() != 0 {
		t.Errorf("%d workers after Close", e.workers.count())
	}
}
