package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// config is the runner block of a bench file.
type config struct {
	Address          string `json:"address"`
	Namespace        string `json:"namespace"`
	TaskQueue        string `json:"task_queue"`
	MaxConcurrent    int    `json:"max_concurrent"`
	NodeMaxAttempts  int    `json:"node_max_attempts"`
	NodeStartToClose string `json:"node_start_to_close"`
	HeartbeatTimeout string `json:"heartbeat_timeout"`
	RetryInterval    string `json:"retry_initial_interval"`
	MaxPayloadBytes  int    `json:"max_payload_bytes"`
	Identity         string `json:"identity"`
	TLSOptions
}

type temporalRunner struct {
	mu     sync.Mutex
	cfg    config
	policy NodePolicy
	client client.Client
	dc     converter.DataConverter
	fc     converter.FailureConverter
}

func (r *temporalRunner) Info() sdk.Info {
	return sdk.Info{
		Name:         "temporal",
		Version:      version,
		Description:  "Runs each execution segment as a Temporal workflow; wtb-runner-temporal worker processes execute the nodes.",
		Capabilities: []string{sdk.CapabilityStartState, sdk.CapabilityCancel},
		Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "address", Type: "string", Default: "127.0.0.1:7233", Description: "Temporal frontend host:port."},
			{Name: "namespace", Type: "string", Default: "default"},
			{Name: "task_queue", Type: "string", Default: "wtb", Description: "Task queue the workers poll."},
			{Name: "max_concurrent", Type: "number", Default: 256, Description: "Workflows in flight at once (the batch's max_pending also bounds it)."},
			{Name: "node_max_attempts", Type: "number", Default: 3, Description: "Attempts of a node's activity (lost workers, retryable failures)."},
			{Name: "node_start_to_close", Type: "string", Default: "1h", Description: "Longest a node without its own timeout may run."},
			{Name: "heartbeat_timeout", Type: "string", Default: "10s", Description: "A worker silent for this long is presumed dead; its node is retried elsewhere."},
			{Name: "retry_initial_interval", Type: "string", Default: "1s"},
			{Name: "max_payload_bytes", Type: "number", Default: 2 << 20, Description: "Largest compressed node state; keep it at or below the server's blob size limit."},
			{Name: "identity", Type: "string", Default: "", Description: "Client identity shown in Temporal."},
			{Name: "tls", Type: "bool", Default: false, Description: "Connect with TLS (implied by the tls_* files)."},
			{Name: "tls_ca_file", Type: "string", Default: ""},
			{Name: "tls_cert_file", Type: "string", Default: "", Description: "Client certificate for mutual TLS."},
			{Name: "tls_key_file", Type: "string", Default: ""},
			{Name: "tls_server_name", Type: "string", Default: ""},
		}},
	}
}

func (r *temporalRunner) NodeKinds() []string { return []string{"command", "merge"} }

func durationAttr(name, v string, diags *sdk.Diagnostics) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		*diags = append(*diags, sdk.AttributeError(name, name+" must be a positive duration such as \"10s\"", fmt.Sprintf("got %q", v)))
	}
	return d
}

func (r *temporalRunner) Configure(_ context.Context, raw json.RawMessage) (int, sdk.Diagnostics) {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return 0, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid configuration", Detail: err.Error()}}
	}
	var diags sdk.Diagnostics
	if cfg.Address == "" {
		diags = append(diags, sdk.AttributeError("address", "address must not be empty", ""))
	}
	if cfg.TaskQueue == "" {
		diags = append(diags, sdk.AttributeError("task_queue", "task_queue must not be empty", ""))
	}
	if cfg.MaxConcurrent < 1 {
		diags = append(diags, sdk.AttributeError("max_concurrent", "max_concurrent must be at least 1", fmt.Sprintf("got %d", cfg.MaxConcurrent)))
	}
	if cfg.NodeMaxAttempts < 1 {
		diags = append(diags, sdk.AttributeError("node_max_attempts", "node_max_attempts must be at least 1", ""))
	}
	if cfg.MaxPayloadBytes < 1024 {
		diags = append(diags, sdk.AttributeError("max_payload_bytes", "max_payload_bytes must be at least 1024", ""))
	}
	policy := NodePolicy{MaxAttempts: int32(cfg.NodeMaxAttempts), MaxPayloadBytes: cfg.MaxPayloadBytes,
		StartToClose:     durationAttr("node_start_to_close", cfg.NodeStartToClose, &diags),
		HeartbeatTimeout: durationAttr("heartbeat_timeout", cfg.HeartbeatTimeout, &diags),
		InitialInterval:  durationAttr("retry_initial_interval", cfg.RetryInterval, &diags)}
	if _, err := cfg.TLSOptions.config(); err != nil {
		diags = append(diags, sdk.AttributeError("tls_ca_file", "invalid TLS settings", err.Error()))
	}
	if diags.HasErrors() {
		return 0, diags
	}
	r.mu.Lock()
	r.cfg, r.policy = cfg, policy
	r.mu.Unlock()
	return cfg.MaxConcurrent, nil
}

// Connect dials the Temporal frontend; an unreachable server is a runtime
// failure the host reports with the address.
func (r *temporalRunner) Connect(ctx context.Context) error {
	r.mu.Lock()
	cfg := r.cfg
	r.mu.Unlock()
	c, err := dial(ctx, cfg.Address, cfg.Namespace, cfg.Identity, cfg.TLSOptions)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.client != nil {
		r.client.Close()
	}
	r.client = c
	r.dc = dataConverter()
	r.fc = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: r.dc})
	r.mu.Unlock()
	return nil
}

func dial(ctx context.Context, address, namespace, identity string, tlsOpts TLSOptions) (client.Client, error) {
	tlsCfg, err := tlsOpts.config()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Identity: identity,
		DataConverter: dataConverter(), ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg},
		Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %v", address, namespace, err)
	}
	return c, nil
}

// WorkflowID is derived from the batch and the execution key, so a retry or a
// resume of the same segment finds the same workflow instead of starting a
// duplicate.
func WorkflowID(batchID, executionKey string) string {
	sum := sha256.Sum256([]byte(executionKey))
	return "wtb-" + batchID + "-" + hex.EncodeToString(sum[:12])
}

func (r *temporalRunner) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
	start := time.Now()
	r.mu.Lock()
	c, cfg, policy, dc, fc := r.client, r.cfg, r.policy, r.dc, r.fc
	r.mu.Unlock()
	fail := func(msg string, retryable bool) sdk.Outcome {
		return sdk.Outcome{Status: sdk.StatusFailed, Error: msg, Retryable: retryable, FailureKind: sdk.FailureInfrastructure, Duration: time.Since(start)}
	}
	if c == nil {
		return fail("temporal runner is not connected", true)
	}
	in := SegmentInput{BatchID: req.BatchID, ExecutionKey: req.ExecutionKey, Attempt: req.Attempt, Combination: req.Combination,
		Variants: req.Variants, Case: req.Case, Repeat: req.RepeatIndex, Nodes: req.Nodes, StartState: req.StartState,
		Env: req.Env, Policy: policy, ModelCalls: req.ModelCalls, Recordings: req.Recordings}
	id := WorkflowID(req.BatchID, req.ExecutionKey)
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: cfg.TaskQueue,
		// A running workflow with this id (the host or plugin restarted) is
		// joined; a completed one is not run again: its history is read back.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowExecutionTimeout: 24 * time.Hour,
	}
	var runID string
	// Start with a context of its own: a start that the server accepted while
	// the host was cancelling must still be seen, and then cancelled.
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	run, err := c.ExecuteWorkflow(sctx, opts, workflowName, in)
	scancel()
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		runID = "" // the latest run: it completed, its history holds the results
	case err != nil:
		if ctx.Err() != nil {
			if !errors.Is(context.Cause(ctx), sdk.ErrHostGone) {
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_ = c.CancelWorkflow(cctx, id, "")
				cancel()
			}
			return sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled while the workflow was starting", FailureKind: sdk.FailureCancelled}
		}
		return fail(fmt.Sprintf("starting workflow %s on %s: %v", id, cfg.Address, err), true)
	default:
		runID = run.GetRunID()
	}

	// Follow the workflow's history: node started and finished events come
	// from its activity events, the outcome from its close event.
	stopCancel := context.AfterFunc(ctx, func() {
		// A host that died did not ask to stop: the workflow runs on, and the
		// host's retry or `wtb resume` joins it (same workflow id) so no node
		// that already started runs twice. A cancel the user asked for stops it.
		if errors.Is(context.Cause(ctx), sdk.ErrHostGone) {
			return
		}
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.CancelWorkflow(cctx, id, runID)
	})
	defer stopCancel()
	hctx, hcancel := context.WithCancel(context.Background())
	defer hcancel()
	go func() { // bound the wait after a cancel
		<-ctx.Done()
		select {
		case <-time.After(30 * time.Second):
			hcancel()
		case <-hctx.Done():
		}
	}()
	f := &follower{req: req, ev: ev, dc: dc, fc: fc, state: req.StartState, scheduled: map[int64]int{}}
	for _, n := range req.Nodes {
		f.nodes = append(f.nodes, n.Name)
	}
	iter := c.GetWorkflowHistory(hctx, id, runID, true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		event, err := iter.Next()
		if err != nil {
			if ctx.Err() != nil {
				return sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled: " + context.Cause(ctx).Error(), FailureKind: sdk.FailureCancelled}
			}
			return fail(fmt.Sprintf("reading the history of workflow %s: %v", id, err), true)
		}
		if out, done := f.handle(event); done {
			out.Duration = time.Since(start)
			return out
		}
	}
	return fail(fmt.Sprintf("the history of workflow %s ended without a close event", id), true)
}

// follower turns a segment workflow's history into runner events.
type follower struct {
	req       *sdk.ExecuteRequest
	ev        sdk.Events
	dc        converter.DataConverter
	fc        converter.FailureConverter
	state     []byte
	scheduled map[int64]int // activity scheduled event id -> node index
	worker    string
	// nodes are the names of the nodes the workflow runs: those of the
	// request, unless it joined a workflow started by an earlier attempt
	// (after the host died) whose nodes began further back.
	nodes []string
}

func (f *follower) node(scheduledID int64) string {
	if i, ok := f.scheduled[scheduledID]; ok && i < len(f.nodes) {
		return f.nodes[i]
	}
	return "?"
}

func (f *follower) handle(e *historypb.HistoryEvent) (sdk.Outcome, bool) {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		var in struct {
			Nodes []struct {
				Name string `json:"Name"`
			} `json:"nodes"`
		}
		f.nodes = f.nodes[:0]
		if err := f.dc.FromPayloads(e.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err == nil && len(in.Nodes) > 0 {
			for _, n := range in.Nodes {
				f.nodes = append(f.nodes, n.Name)
			}
		} else {
			for _, n := range f.req.Nodes {
				f.nodes = append(f.nodes, n.Name)
			}
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		f.scheduled[e.GetEventId()] = len(f.scheduled)
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		a := e.GetActivityTaskStartedEventAttributes()
		f.worker = a.GetIdentity()
		f.ev.NodeStarted(f.node(a.GetScheduledEventId()), a.GetIdentity())
		if a.GetAttempt() > 1 {
			f.ev.Log(f.node(a.GetScheduledEventId()), sdk.LogRunner,
				fmt.Sprintf("attempt %d (earlier attempts failed: %s)", a.GetAttempt(), a.GetLastFailure().GetMessage()))
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		a := e.GetActivityTaskCompletedEventAttributes()
		var out NodeOutput
		if err := f.dc.FromPayloads(a.GetResult(), &out); err != nil {
			return sdk.Outcome{Status: sdk.StatusFailed, Error: "decoding a node result: " + err.Error(), FailureKind: sdk.FailureInfrastructure, Retryable: true}, true
		}
		for _, l := range out.Logs {
			f.ev.Log(out.Node, sdk.LogStderr, l)
		}
		f.state = out.State
		f.worker = out.WorkerID
		f.ev.NodeFinished(sdk.NodeResult{Node: out.Node, State: out.State, Output: out.Output, Duration: out.Duration,
			Metrics: out.Metrics, WorkerID: out.WorkerID, Interactions: out.Interactions, Spans: out.Spans})
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		return sdk.Outcome{Status: sdk.StatusSucceeded, FinalState: f.state, WorkerID: f.worker}, true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		err := f.fc.FailureToError(e.GetWorkflowExecutionFailedEventAttributes().GetFailure())
		if nf, ok := failureOf(err); ok {
			f.ev.NodeFailed(sdk.NodeFailure{Node: nf.Node, Error: nf.Message, Kind: nf.Kind, Retryable: nf.Retryable, ExitCode: nf.ExitCode,
				Interactions: nf.Interactions, Spans: nf.Spans})
			return sdk.Outcome{Status: sdk.StatusFailed, Error: nf.Message, Retryable: nf.Retryable, FailedNode: nf.Node,
				FailureKind: nf.Kind, WorkerID: nf.WorkerID}, true
		}
		// No node failure: the activity ran out of attempts (lost workers,
		// timeouts). Running the segment again may succeed.
		node := ""
		var actErr *temporal.ActivityError
		if errors.As(err, &actErr) {
			node = f.node(actErr.ScheduledEventID())
		}
		msg := fmt.Sprintf("node %q did not complete on any worker: %v", node, err)
		f.ev.NodeFailed(sdk.NodeFailure{Node: node, Error: msg, Kind: sdk.FailureInfrastructure, Retryable: true})
		return sdk.Outcome{Status: sdk.StatusFailed, Error: msg, Retryable: true, FailedNode: node, FailureKind: sdk.FailureInfrastructure}, true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		return sdk.Outcome{Status: sdk.StatusCancelled, Error: "workflow cancelled", FailureKind: sdk.FailureCancelled}, true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		return sdk.Outcome{Status: sdk.StatusFailed, Error: "workflow " + e.GetEventType().String(), Retryable: true, FailureKind: sdk.FailureInfrastructure}, true
	}
	return sdk.Outcome{}, false
}

func (r *temporalRunner) Shutdown(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		r.client.Close()
		r.client = nil
	}
	return nil
}
