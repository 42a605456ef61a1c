package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
	"github.com/wtbench/wtb/sdk/executor"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// runWorker is `wtb-runner-temporal worker`: a process a team starts on any
// number of machines. It polls the task queue and executes WTB segment
// workflows and their node activities with the SDK's node executor.
func runWorker(args []string) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	address := fs.String("address", envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port")
	namespace := fs.String("namespace", envOr("TEMPORAL_NAMESPACE", "default"), "Temporal namespace")
	taskQueue := fs.String("task-queue", "wtb", "task queue to poll (the runner block's task_queue)")
	maxConcurrent := fs.Int("max-concurrent", 16, "nodes this worker runs at once")
	pollers := fs.Int("pollers", 4, "concurrent long polls for workflow tasks and for node tasks")
	host, _ := os.Hostname()
	workerID := fs.String("worker-id", fmt.Sprintf("%s/%d", host, os.Getpid()), "id recorded with every node this worker runs")
	metricsAddr := fs.String("metrics-addr", "", "serve this worker's Prometheus metrics at http://ADDR/metrics")
	var tlsOpts TLSOptions
	fs.BoolVar(&tlsOpts.Enabled, "tls", false, "connect with TLS")
	fs.StringVar(&tlsOpts.CAFile, "tls-ca-file", "", "CA certificate (PEM)")
	fs.StringVar(&tlsOpts.CertFile, "tls-cert-file", "", "client certificate for mutual TLS (PEM)")
	fs.StringVar(&tlsOpts.KeyFile, "tls-key-file", "", "client key (PEM)")
	fs.StringVar(&tlsOpts.ServerName, "tls-server-name", "", "server name to verify")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wtb-runner-temporal worker [flags]\n\nRuns WTB nodes for batches whose runner is the temporal plugin.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := dial(context.Background(), *address, *namespace, *workerID, tlsOpts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wtb worker:", err)
		return 3
	}
	defer c.Close()
	w := worker.New(c, *taskQueue, worker.Options{
		Identity:                           *workerID,
		MaxConcurrentActivityExecutionSize: *maxConcurrent,
		MaxConcurrentWorkflowTaskPollers:   *pollers,
		MaxConcurrentActivityTaskPollers:   *pollers,
		WorkerStopTimeout:                  10 * time.Second,
	})
	w.RegisterWorkflowWithOptions(SegmentWorkflow, workflow.RegisterOptions{Name: workflowName})
	nw := &nodeWorker{exec: executor.New(executor.Options{WorkerID: *workerID, Workers: *maxConcurrent}), workerID: *workerID}
	w.RegisterActivityWithOptions(nw.RunNode, activity.RegisterOptions{Name: activityName})
	if *metricsAddr != "" {
		bound, stop, err := sdk.ListenMetrics(*metricsAddr, nw.exec.Metrics)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wtb worker:", err)
			return 2
		}
		defer stop()
		fmt.Fprintf(os.Stderr, "wtb worker %s: metrics on http://%s/metrics\n", *workerID, bound)
	}
	fmt.Fprintf(os.Stderr, "wtb worker %s: polling task queue %q on %s (namespace %s), up to %d nodes at once\n",
		*workerID, *taskQueue, *address, *namespace, *maxConcurrent)
	err = w.Run(worker.InterruptCh())
	// Nodes still running after the worker stopped must not outlive it.
	childproc.KillAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wtb worker:", err)
		return 3
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
