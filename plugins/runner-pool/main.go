// Command wtb-runner-pool is WTB's local runner: a bounded pool of goroutines that
// execute workflow segments with the SDK's node executor on this machine.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
	"github.com/wtbench/wtb/sdk/serve"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

const defaultMaxWorkers = 16

type config struct {
	MaxWorkers     int    `json:"max_workers"`
	MaxOutputBytes int64  `json:"max_output_bytes"`
	WorkerID       string `json:"worker_id"`
}

type poolRunner struct {
	exec     *executor.Executor
	slots    chan struct{}
	maxBytes int64
}

func (r *poolRunner) Info() sdk.Info {
	return sdk.Info{
		Name:         "pool",
		Version:      version,
		Description:  "Runs executions on a bounded pool of goroutines on this machine.",
		Capabilities: []string{sdk.CapabilityStartState, sdk.CapabilityCancel},
		Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "max_workers", Type: "number", Default: defaultMaxWorkers,
				Description: "Executions that run at once."},
			{Name: "max_output_bytes", Type: "number", Default: executor.DefaultMaxOutputBytes,
				Description: "Largest stdout a command node may write, unless the node sets its own."},
			{Name: "worker_id", Type: "string", Default: "",
				Description: "Id reported for this worker; defaults to host/pid."},
		}},
	}
}

func (r *poolRunner) NodeKinds() []string { return []string{executor.KindCommand, executor.KindMerge} }

func (r *poolRunner) Configure(_ context.Context, raw json.RawMessage) (int, sdk.Diagnostics) {
	cfg := config{MaxWorkers: defaultMaxWorkers}
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return 0, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid configuration", Detail: err.Error()}}
	}
	var diags sdk.Diagnostics
	if cfg.MaxWorkers < 1 || cfg.MaxWorkers > 100000 {
		diags = append(diags, sdk.AttributeError("max_workers", "max_workers must be between 1 and 100000",
			fmt.Sprintf("got %d", cfg.MaxWorkers)))
	}
	if cfg.MaxOutputBytes < 0 {
		diags = append(diags, sdk.AttributeError("max_output_bytes", "max_output_bytes must not be negative", ""))
	}
	if diags.HasErrors() {
		return 0, diags
	}
	r.exec = executor.New(executor.Options{WorkerID: cfg.WorkerID, Workers: cfg.MaxWorkers})
	r.slots = make(chan struct{}, cfg.MaxWorkers)
	r.maxBytes = cfg.MaxOutputBytes
	return cfg.MaxWorkers, nil
}

func (r *poolRunner) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
	if r.exec == nil {
		return sdk.Outcome{Status: sdk.StatusFailed, Error: "runner-pool: Execute before Configure", FailureKind: sdk.FailureInfrastructure}
	}
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled while waiting for a worker", FailureKind: sdk.FailureCancelled}
	}
	defer func() { <-r.slots }()
	if r.maxBytes > 0 {
		for i := range req.Nodes {
			if req.Nodes[i].MaxOutputBytes == 0 {
				req.Nodes[i].MaxOutputBytes = r.maxBytes
			}
		}
	}
	return r.exec.Execute(ctx, req, ev)
}

func (r *poolRunner) Shutdown(context.Context) error {
	if r.exec != nil {
		r.exec.Close()
	}
	return nil
}

// Metrics reports the executor's figures and how busy the pool is.
func (r *poolRunner) Metrics() []sdk.Metric {
	if r.exec == nil {
		return nil
	}
	return append(r.exec.Metrics(),
		sdk.Metric{Name: "wtb_pool_workers", Help: "Executions the pool runs at once (max_workers).", Kind: sdk.MetricGauge, Value: float64(cap(r.slots))},
		sdk.Metric{Name: "wtb_pool_busy_workers", Help: "Workers running an execution now.", Kind: sdk.MetricGauge, Value: float64(len(r.slots))})
}

var _ sdk.MetricsReporter = (*poolRunner)(nil)

func main() {
	serve.Runner(&poolRunner{})
}
