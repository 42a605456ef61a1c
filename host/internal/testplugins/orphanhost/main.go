// Command orphanhost is a minimal host: it launches a runner plugin, starts an
// execution whose node runs for a long time, prints "PLUGIN_PID=<pid>" and
// waits to be killed. Tests kill it with SIGKILL and check that the plugin and
// the node's processes go away on their own.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/wtbench/wtb/host/internal/pluginhost"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
)

func main() {
	ctx := context.Background()
	r, err := pluginhost.LaunchRunner(ctx, pluginhost.Spec{Name: "runner-pool", Path: os.Args[1], Config: []byte(`{"max_workers":2}`)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := r.Configure(ctx, []byte(`{"max_workers":2}`)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	started := make(chan struct{}, 1)
	err = r.Start(ctx, &runnerv1.ExecuteRequest{ExecutionId: "orphan-1", ExecutionKey: "k",
		Nodes: []*runnerv1.Node{{Name: "long", Command: []string{"sh", "-c", os.Args[2]}}}},
		func(ev *runnerv1.Event) {
			if ev.GetNodeStarted() != nil {
				started <- struct{}{}
			}
		})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	<-started
	fmt.Printf("PLUGIN_PID=%d\n", r.Pid())
	time.Sleep(10 * time.Minute)
}
