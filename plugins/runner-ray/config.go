package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wtbench/wtb/plugins/internal/rayenv"
	"github.com/wtbench/wtb/sdk"
)

// config is the runner block of a bench file. The attributes RayConfig had
// are pointers: nil means "not written", so a preset can fill it and an
// explicit value always wins over the preset.
type config struct {
	Preset           string          `json:"preset"`
	RayAddress       *string         `json:"ray_address"`
	NumCPUsPerTask   *float64        `json:"num_cpus_per_task"`
	MemoryPerTaskGB  *float64        `json:"memory_per_task_gb"`
	MaxPendingTasks  *int            `json:"max_pending_tasks"`
	MaxRetries       *int            `json:"max_retries"`
	Actors           *int            `json:"actors"`
	RuntimeEnv       json.RawMessage `json:"runtime_env"`
	Python           string          `json:"python"`
	Executor         string          `json:"executor"`
	ConnectTimeout   string          `json:"connect_timeout"`
	Namespace        string          `json:"namespace"`
	MaxOutputBytes   int64           `json:"max_output_bytes"`
	DriverRestarts   int             `json:"driver_restarts"`
	connectTimeout   time.Duration
	resolvedExecutor string
}

// preset is one of RayConfig's named configurations.
type preset struct {
	address        string
	cpus, memoryGB float64
	pending, tries int
	actors         int // 0: as many as the cluster's CPUs allow
}

// presets are the original RayConfig's for_local_development, for_production
// and for_testing, with the plain RayConfig defaults as "production" (what a
// block without a preset gets).
var presets = map[string]preset{
	// One machine: whatever Ray is running here ("auto"), or a private one
	// started for the batch; small tasks, a short queue.
	"local_development": {address: "auto", cpus: 1, memoryGB: 1, pending: 16, tries: 1},
	// A cluster: the seed's RayConfig defaults.
	"production": {address: "auto", cpus: 1, memoryGB: 2, pending: 100, tries: 3},
	// CI: two small actors, fast failure.
	"testing": {address: "auto", cpus: 0.5, memoryGB: 0.25, pending: 4, tries: 1, actors: 2},
}

func presetNames() string { return "local_development, production, testing" }

func attributes() []sdk.Attribute {
	return []sdk.Attribute{
		{Name: "preset", Type: "string", Default: "production",
			Description: "RayConfig preset filling the attributes below that are not written: " + presetNames() + "."},
		{Name: "ray_address", Type: "string",
			Description: `"auto" (the cluster running on this machine), "HOST:PORT" (the head's GCS), "ray://HOST:10001" (Ray Client) or "local" (start a private Ray for the batch).`},
		{Name: "num_cpus_per_task", Type: "number", Description: "CPUs each execution actor reserves."},
		{Name: "memory_per_task_gb", Type: "number", Description: "Memory (GiB) each execution actor reserves."},
		{Name: "max_pending_tasks", Type: "number", Description: "Executions handed to Ray at once; more wait in wtb (backpressure)."},
		{Name: "max_retries", Type: "number", Description: "Times Ray restarts an execution actor whose process died. The execution it was running comes back as a retryable failure, retried by the batch's max_retries (so every retry shows in the audit trail)."},
		{Name: "actors", Type: "number", Description: "Execution actors per runtime environment; default: what the cluster's CPUs allow at num_cpus_per_task, at most max_pending_tasks."},
		{Name: "runtime_env", Type: "any", Description: "Ray runtime_env for every actor (env_vars, pip, working_dir, py_modules, ...); an environment \"ray\" block adds per-variant settings."},
		{Name: "python", Type: "string", Default: "",
			Description: "Python with ray installed that runs the driver; default $WTB_RAY_PYTHON, else python3. Its Ray must match the cluster's."},
		{Name: "executor", Type: "string", Default: "ship",
			Description: `How actors get wtb's node executor: "ship" uploads this plugin binary with the job (py_modules), or the path of wtb-runner-ray on every Ray node.`},
		{Name: "connect_timeout", Type: "string", Default: "60s", Description: "How long connecting to the cluster may take."},
		{Name: "namespace", Type: "string", Default: "wtb", Description: "Ray namespace of the driver's job."},
		{Name: "max_output_bytes", Type: "number", Default: 0, Description: "Largest stdout a command node may write, unless the node sets its own (0: the executor's 16 MiB)."},
		{Name: "driver_restarts", Type: "number", Default: 5, Description: "Times the Ray driver is restarted after dying, within ten minutes, before executions fail for good."},
	}
}

// resolve applies the preset and checks every attribute.
func (c *config) resolve() sdk.Diagnostics {
	var diags sdk.Diagnostics
	if c.Preset == "" {
		c.Preset = "production"
	}
	p, ok := presets[c.Preset]
	if !ok {
		// Go on with the default, so every other mistake is reported too.
		diags = append(diags, sdk.AttributeError("preset", "unknown preset", fmt.Sprintf("got %q; want one of %s", c.Preset, presetNames())))
		p = presets["production"]
	}
	if c.RayAddress == nil {
		c.RayAddress = &p.address
	}
	if c.NumCPUsPerTask == nil {
		c.NumCPUsPerTask = &p.cpus
	}
	if c.MemoryPerTaskGB == nil {
		c.MemoryPerTaskGB = &p.memoryGB
	}
	if c.MaxPendingTasks == nil {
		c.MaxPendingTasks = &p.pending
	}
	if c.MaxRetries == nil {
		c.MaxRetries = &p.tries
	}
	if c.Actors == nil {
		c.Actors = &p.actors
	}
	addr := strings.TrimSpace(*c.RayAddress)
	switch {
	case addr == "":
		diags = append(diags, sdk.AttributeError("ray_address", "ray_address must not be empty", `use "auto", "HOST:PORT", "ray://HOST:PORT" or "local"`))
	case strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://"):
		diags = append(diags, sdk.AttributeError("ray_address", "ray_address is a Ray Jobs (dashboard) address",
			"wtb drives the cluster from its own driver; give the head's GCS address (HOST:6379) or a Ray Client address (ray://HOST:10001)"))
	}
	if *c.NumCPUsPerTask < 0 || *c.NumCPUsPerTask > 1024 {
		diags = append(diags, sdk.AttributeError("num_cpus_per_task", "num_cpus_per_task must be between 0 and 1024", fmt.Sprintf("got %g", *c.NumCPUsPerTask)))
	}
	if *c.MemoryPerTaskGB < 0 || *c.MemoryPerTaskGB > 4096 {
		diags = append(diags, sdk.AttributeError("memory_per_task_gb", "memory_per_task_gb must be between 0 and 4096", fmt.Sprintf("got %g", *c.MemoryPerTaskGB)))
	}
	if *c.MaxPendingTasks < 1 || *c.MaxPendingTasks > 100000 {
		diags = append(diags, sdk.AttributeError("max_pending_tasks", "max_pending_tasks must be between 1 and 100000", fmt.Sprintf("got %d", *c.MaxPendingTasks)))
	}
	if *c.MaxRetries < 0 || *c.MaxRetries > 1000 {
		diags = append(diags, sdk.AttributeError("max_retries", "max_retries must be between 0 and 1000", fmt.Sprintf("got %d", *c.MaxRetries)))
	}
	if *c.Actors < 0 || *c.Actors > 10000 {
		diags = append(diags, sdk.AttributeError("actors", "actors must be between 0 (as the cluster allows) and 10000", fmt.Sprintf("got %d", *c.Actors)))
	}
	if len(c.RuntimeEnv) > 0 && string(c.RuntimeEnv) != "null" {
		var env map[string]any
		if err := json.Unmarshal(c.RuntimeEnv, &env); err != nil {
			diags = append(diags, sdk.AttributeError("runtime_env", "runtime_env must be an object", err.Error()))
		} else if problems := rayenv.Check(env); len(problems) > 0 {
			diags = append(diags, sdk.AttributeError("runtime_env", "invalid runtime_env", problems.String()))
		} else if err := rayenv.Localize(env, benchDir()); err != nil {
			diags = append(diags, sdk.AttributeError("runtime_env", "invalid runtime_env", err.Error()))
		} else {
			c.RuntimeEnv, _ = json.Marshal(env)
		}
	}
	d, err := time.ParseDuration(c.ConnectTimeout)
	if err != nil || d <= 0 {
		diags = append(diags, sdk.AttributeError("connect_timeout", "connect_timeout must be a positive duration such as \"60s\"", fmt.Sprintf("got %q", c.ConnectTimeout)))
	}
	c.connectTimeout = d
	if c.MaxOutputBytes < 0 {
		diags = append(diags, sdk.AttributeError("max_output_bytes", "max_output_bytes must not be negative", ""))
	}
	if c.DriverRestarts < 0 {
		diags = append(diags, sdk.AttributeError("driver_restarts", "driver_restarts must not be negative", ""))
	}
	if c.Python == "" {
		c.Python = os.Getenv("WTB_RAY_PYTHON")
	}
	if c.Python == "" {
		c.Python = "python3"
	}
	switch c.Executor {
	case "", "ship":
		self, err := os.Executable()
		if err != nil {
			diags = append(diags, sdk.AttributeError("executor", "cannot find this plugin's binary to ship", err.Error()))
		}
		c.Executor, c.resolvedExecutor = "ship", self
	default:
		c.resolvedExecutor = c.Executor
	}
	return diags
}

// benchDir is where relative paths in the runner block start: the bench
// file's directory, which wtb passes to its plugins.
func benchDir() string {
	if d := os.Getenv("WTB_BENCH_DIR"); d != "" {
		return d
	}
	d, _ := os.Getwd()
	return d
}
