package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
	"github.com/wtbench/wtb/sdk/executor"
)

// runNodeServer is `wtb-runner-ray node-server`: the process each Ray
// execution actor keeps. It runs segments with the SDK's executor — the same
// node semantics as every other runner — reading calls on stdin and writing
// replies on stdout, one JSON line each.
func runNodeServer(args []string) int {
	fs := flag.NewFlagSet("node-server", flag.ContinueOnError)
	workerID := fs.String("worker-id", "", "id recorded with every node this server runs")
	workers := fs.Int("workers", 1, "persistent worker processes per node configuration")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wtb-runner-ray node-server [flags]\n\nRuns WTB segments for a Ray execution actor (started by the actor, not by hand).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	exec := executor.New(executor.Options{WorkerID: *workerID, Workers: *workers})
	defer exec.Close()
	go exitWithParent()
	return serveNodes(context.Background(), exec, os.Stdin, os.Stdout)
}

// serveNodes answers calls from in until it closes.
func serveNodes(ctx context.Context, exec *executor.Executor, in io.Reader, out io.Writer) int {
	var (
		mu      sync.Mutex // guards out and running
		running = map[string]context.CancelFunc{}
		wg      sync.WaitGroup
	)
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<30)
	for sc.Scan() {
		var c call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			fmt.Fprintf(os.Stderr, "wtb node server: a call that is not JSON: %v\n", err)
			return 2
		}
		if c.Cancel {
			mu.Lock()
			if cancel := running[c.ID]; cancel != nil {
				cancel()
			}
			mu.Unlock()
			continue
		}
		if c.Request == nil {
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		if !c.Request.Deadline.IsZero() {
			sctx, cancel = context.WithDeadline(ctx, c.Request.Deadline)
		}
		mu.Lock()
		running[c.ID] = cancel
		mu.Unlock()
		wg.Add(1)
		go func(c call) {
			defer wg.Done()
			rec := &recorder{}
			outcome := exec.Execute(sctx, c.Request, rec)
			line, err := json.Marshal(reply{ID: c.ID, Events: rec.events, Outcome: outcome})
			if err != nil {
				line, _ = json.Marshal(reply{ID: c.ID, Outcome: sdk.Outcome{Status: sdk.StatusFailed,
					Error: "encoding the segment's reply: " + err.Error(), FailureKind: sdk.FailureInfrastructure}})
			}
			mu.Lock()
			defer mu.Unlock()
			cancel()
			delete(running, c.ID)
			_, _ = w.Write(append(line, '\n'))
			_ = w.Flush()
		}(c)
	}
	// stdin closed: the actor is gone or stopping. Nothing may outlive it.
	mu.Lock()
	for _, cancel := range running {
		cancel()
	}
	mu.Unlock()
	wg.Wait()
	return 0
}

// exitWithParent stops the server, and every node it started, when the actor
// process that started it dies (Ray kills actors with SIGKILL).
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(200 * time.Millisecond) {
		if os.Getppid() != parent {
			childproc.KillAll()
			os.Exit(2)
		}
	}
}
