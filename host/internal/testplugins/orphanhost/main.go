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
	"github.com/wtbench/wtb/sdk"
)

// started tells when the long node has started.
type started chan struct{}

func (s started) NodeStarted(string, string)      { s <- struct{}{} }
func (started) NodeFinished(sdk.NodeResult)       {}
func (started) NodeFailed(sdk.NodeFailure)        {}
func (started) Log(string, sdk.LogStream, string) {}

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
	ev := make(started, 1)
	go r.Execute(ctx, &sdk.ExecuteRequest{ExecutionID: "orphan-1", ExecutionKey: "k",
		Nodes: []sdk.Node{{Name: "long", Command: []string{"sh", "-c", os.Args[2]}}}}, ev)
	<-ev
	fmt.Printf("PLUGIN_PID=%d\n", r.Pid())
	time.Sleep(10 * time.Minute)
}
