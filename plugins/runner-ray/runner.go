package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/plugins/internal/rayenv"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

type rayRunner struct {
	mu       sync.Mutex
	cfg      config
	envs     map[string]mergedEnv // by environment label
	drv      *driver
	log      hclog.Logger
	inflight atomic.Int64
	lost     atomic.Int64
}

func (r *rayRunner) Info() sdk.Info {
	return sdk.Info{
		Name:         "ray",
		Version:      version,
		Description:  "Runs executions on a Ray cluster: a pool of execution actors, each running nodes with wtb's own executor.",
		Capabilities: []string{sdk.CapabilityStartState, sdk.CapabilityCancel},
		Schema:       sdk.Schema{Attributes: attributes()},
	}
}

func (r *rayRunner) NodeKinds() []string { return []string{executor.KindCommand, executor.KindMerge} }

func (r *rayRunner) Configure(_ context.Context, raw json.RawMessage) (int, sdk.Diagnostics) {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return 0, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid configuration", Detail: err.Error()}}
	}
	if diags := cfg.resolve(); diags.HasErrors() {
		return 0, diags
	}
	r.mu.Lock()
	r.cfg, r.envs = cfg, nil
	if r.log == nil {
		r.log = pluginLog()
	}
	r.mu.Unlock()
	return *cfg.MaxPendingTasks, nil
}

func pluginLog() hclog.Logger {
	level := hclog.LevelFromString(os.Getenv("WTB_PLUGIN_LOG_LEVEL"))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{Name: "runner-ray", Level: level, Output: os.Stderr, JSONFormat: true})
}

// Connect starts the driver, which connects to the cluster: an unreachable
// cluster or a missing ray module is a runtime failure with one clear line.
func (r *rayRunner) Connect(ctx context.Context) error {
	r.mu.Lock()
	cfg, old := r.cfg, r.drv
	r.mu.Unlock()
	if old != nil {
		old.close(5 * time.Second)
	}
	// The runner's own runtime_env: what executions without a "ray"
	// environment get, and the actors the driver starts up front.
	base, err := r.variantEnv("")
	if err != nil {
		return err
	}
	// Configure (and so Connect) is bounded by the host's start_timeout:
	// connect within it, leaving time to answer.
	connectTimeout := cfg.connectTimeout
	if dl, ok := ctx.Deadline(); ok {
		connectTimeout = min(connectTimeout, max(time.Until(dl)-3*time.Second, time.Second))
	}
	d := newDriver(driverConfig{
		Address: *cfg.RayAddress, Namespace: cfg.Namespace, NumCPUs: *cfg.NumCPUsPerTask,
		MemoryBytes: int64(*cfg.MemoryPerTaskGB * (1 << 30)), MaxPending: *cfg.MaxPendingTasks,
		MaxRestarts: *cfg.MaxRetries, Actors: *cfg.Actors, RuntimeEnv: base.json, BaseEnvKey: base.key,
		Executor: cfg.resolvedExecutor, Ship: cfg.Executor == "ship", ConnectTimeout: connectTimeout.Seconds(),
	}, cfg.Python, cfg.DriverRestarts, r.log)
	if err := d.start(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	r.drv = d
	r.mu.Unlock()
	_, info := d.stats()
	r.log.Info("connected to Ray", "address", *cfg.RayAddress, "cluster", string(info))
	return nil
}

func (r *rayRunner) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
	start := time.Now()
	r.mu.Lock()
	d, maxBytes := r.drv, r.cfg.MaxOutputBytes
	r.mu.Unlock()
	fail := func(msg string, retryable bool) sdk.Outcome {
		return sdk.Outcome{Status: sdk.StatusFailed, Error: msg, Retryable: retryable, FailureKind: sdk.FailureInfrastructure, Duration: time.Since(start)}
	}
	if d == nil {
		return fail("ray runner: Execute before Connect", false)
	}
	if maxBytes > 0 {
		for i := range req.Nodes {
			if req.Nodes[i].MaxOutputBytes == 0 {
				req.Nodes[i].MaxOutputBytes = maxBytes
			}
		}
	}
	msg := driverMsg{Op: "run", CallID: req.ExecutionKey + "#" + strconv.Itoa(req.Attempt)}
	env, err := r.variantEnv(req.Env.Labels[rayenv.Label])
	if err != nil {
		return fail(err.Error(), false)
	}
	msg.EnvKey, msg.RuntimeEnv = env.key, env.json
	if env.workingDir {
		// Ray unpacks working_dir on the actor's node and starts the actor
		// in it; the node runs there, not in a directory of this machine.
		req.Env.WorkingDir = ""
	}
	// The call id only has to be unique among one actor's running calls.
	payload, err := json.Marshal(call{ID: msg.CallID, Request: req})
	if err != nil {
		return fail("encoding the segment: "+err.Error(), false)
	}
	msg.Payload = payload
	r.inflight.Add(1)
	defer r.inflight.Add(-1)
	answer, err := d.call(ctx, msg)
	switch {
	case ctx.Err() != nil:
		return sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled", FailureKind: sdk.FailureCancelled, Duration: time.Since(start)}
	case err != nil:
		return fail(err.Error(), false)
	case answer.Op == "lost":
		r.lost.Add(1)
		return fail(answer.Message, answer.Retryable)
	}
	var rp reply
	if err := json.Unmarshal(answer.Payload, &rp); err != nil {
		return fail(fmt.Sprintf("the Ray actor %s answered something that is not a segment reply: %v", answer.Actor, err), true)
	}
	rp.replay(ev)
	if rp.Outcome.WorkerID == "" {
		rp.Outcome.WorkerID = answer.Actor
	}
	return rp.Outcome
}

func (r *rayRunner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	d := r.drv
	r.drv = nil
	r.mu.Unlock()
	if d == nil {
		return nil
	}
	grace := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		grace = time.Until(dl)
	}
	d.close(grace)
	return nil
}

// Metrics reports how busy the runner is and what went wrong on the cluster.
func (r *rayRunner) Metrics() []sdk.Metric {
	r.mu.Lock()
	d := r.drv
	r.mu.Unlock()
	restarted := 0
	if d != nil {
		restarted, _ = d.stats()
	}
	return []sdk.Metric{
		{Name: "wtb_ray_inflight_executions", Help: "Executions handed to the Ray driver and not answered yet.", Kind: sdk.MetricGauge, Value: float64(r.inflight.Load())},
		{Name: "wtb_ray_lost_executions_total", Help: "Executions whose actor or driver died under them (retryable).", Kind: sdk.MetricCounter, Value: float64(r.lost.Load())},
		{Name: "wtb_ray_driver_restarts_total", Help: "Times the Ray driver was restarted after dying.", Kind: sdk.MetricCounter, Value: float64(restarted)},
	}
}

var (
	_ sdk.Connector       = (*rayRunner)(nil)
	_ sdk.MetricsReporter = (*rayRunner)(nil)
)

// mergedEnv is a variant's runtime_env merged over the runner block's, and
// the key its actors are pooled under.
type mergedEnv struct {
	key        string
	json       json.RawMessage
	workingDir bool
}

// variantEnv merges an environment's runtime_env (the label the "ray"
// environment provider sets; "" for none) over the runner block's, once per
// label.
func (r *rayRunner) variantEnv(label string) (mergedEnv, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if env, ok := r.envs[label]; ok {
		return env, nil
	}
	var variant, base map[string]any
	if label != "" {
		if err := json.Unmarshal([]byte(label), &variant); err != nil {
			return mergedEnv{}, fmt.Errorf("the environment's %s label is not a JSON object: %w", rayenv.Label, err)
		}
	}
	if len(r.cfg.RuntimeEnv) > 0 {
		_ = json.Unmarshal(r.cfg.RuntimeEnv, &base) // checked in Configure
	}
	merged := rayenv.Merge(base, variant)
	if problems := rayenv.Check(merged); len(problems) > 0 {
		return mergedEnv{}, fmt.Errorf("the variant's Ray runtime_env is invalid: %s", problems.String())
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return mergedEnv{}, err
	}
	sum := sha256.Sum256(b)
	env := mergedEnv{key: hex.EncodeToString(sum[:8]), json: b, workingDir: merged["working_dir"] != nil}
	if r.envs == nil {
		r.envs = map[string]mergedEnv{}
	}
	r.envs[label] = env
	return env, nil
}
