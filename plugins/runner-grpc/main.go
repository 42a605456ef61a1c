// Command wtb-runner-grpc runs WTB segments on an external service that
// implements wtb.remote.v1.ExecutionService (any language), relaying its
// events through the plugin contract.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/wtbench/wtb/plugins/internal/remote"
	remotev1 "github.com/wtbench/wtb/proto/wtb/remote/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/modelcallpb"
	"github.com/wtbench/wtb/sdk/serve"
	"github.com/wtbench/wtb/sdk/tracepb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

type config struct {
	remote.Options
	MaxConcurrent int `json:"max_concurrent"`
}

type grpcRunner struct {
	mu       sync.Mutex
	settings *remote.Settings
	conn     *grpc.ClientConn
	client   remotev1.ExecutionServiceClient
}

func (r *grpcRunner) Info() sdk.Info {
	return sdk.Info{
		Name:         "grpc",
		Version:      version,
		Description:  "Runs segments on an external service implementing wtb.remote.v1.ExecutionService.",
		Capabilities: []string{sdk.CapabilityStartState, sdk.CapabilityCancel},
		Schema: sdk.Schema{Attributes: append(remote.Attributes(),
			sdk.Attribute{Name: "max_concurrent", Type: "number", Default: 64, Description: "Segments in flight at once."})},
	}
}

func (r *grpcRunner) NodeKinds() []string { return []string{"command", "merge"} }

func (r *grpcRunner) Configure(_ context.Context, raw json.RawMessage) (int, sdk.Diagnostics) {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return 0, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: "invalid configuration", Detail: err.Error()}}
	}
	s, diags := remote.Parse(cfg.Options)
	if cfg.MaxConcurrent < 1 {
		diags = append(diags, sdk.AttributeError("max_concurrent", "max_concurrent must be at least 1", ""))
	}
	if diags.HasErrors() {
		return 0, diags
	}
	r.mu.Lock()
	r.settings = s
	r.mu.Unlock()
	return cfg.MaxConcurrent, nil
}

// Connect dials the service and calls GetInfo, so a wrong address, token or
// certificate is reported before anything runs.
func (r *grpcRunner) Connect(ctx context.Context) error {
	r.mu.Lock()
	s := r.settings
	r.mu.Unlock()
	conn, err := s.Connect(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := remotev1.NewExecutionServiceClient(conn).GetInfo(ctx, &remotev1.GetInfoRequest{})
		return err
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.conn != nil {
		r.conn.Close()
	}
	r.conn, r.client = conn, remotev1.NewExecutionServiceClient(conn)
	r.mu.Unlock()
	return nil
}

func request(req *sdk.ExecuteRequest) *remotev1.ExecuteSegmentRequest {
	out := &remotev1.ExecuteSegmentRequest{
		// The key is the execution key (with batch and attempt): a call the
		// plugin repeats after a lost connection is the same segment.
		IdempotencyKey: fmt.Sprintf("%s/%s#%d", req.BatchID, req.ExecutionKey, req.Attempt),
		BatchId:        req.BatchID, ExecutionKey: req.ExecutionKey, Attempt: int32(req.Attempt), Combination: req.Combination,
		Variants: req.Variants, CaseId: req.Case.ID, CaseInputJson: req.Case.Input, CaseExpectedJson: req.Case.Expected,
		RepeatIndex: int32(req.RepeatIndex), StartStateJson: req.StartState,
		Environment: &remotev1.Environment{Id: req.Env.ID, Env: req.Env.Env, WorkingDir: req.Env.WorkingDir},
		ModelCalls:  modelcallpb.ConfigToProto(req.ModelCalls),
		Recordings:  modelcallpb.RecordingsToProto(req.Recordings),
	}
	for _, n := range req.Nodes {
		rn := &remotev1.Node{Name: n.Name, Kind: n.Kind, Command: n.Command, ParamsJson: n.Params, Env: n.Env,
			Variant: n.Variant, MaxOutputBytes: n.MaxOutputBytes, ConfigHash: n.ConfigHash, RunKey: n.RunKey}
		if n.Timeout > 0 {
			rn.Timeout = durationpb.New(n.Timeout)
		}
		if w := n.Worker; w != nil {
			rn.Worker = &remotev1.WorkerSpec{Max: int32(w.Max), MaxRequests: int32(w.MaxRequests)}
			if w.IdleTimeout > 0 {
				rn.Worker.IdleTimeout = durationpb.New(w.IdleTimeout)
			}
		}
		out.Nodes = append(out.Nodes, rn)
	}
	return out
}

// relay forwards one stream's events, skipping what an earlier stream of the
// same segment already reported (a retried call replays from the start).
type relay struct {
	ev       sdk.Events
	started  map[string]bool
	finished map[string]bool
	state    []byte
}

func (r *grpcRunner) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
	start := time.Now()
	r.mu.Lock()
	c, s := r.client, r.settings
	r.mu.Unlock()
	if c == nil {
		return sdk.Outcome{Status: sdk.StatusFailed, Error: "runner-grpc is not connected", Retryable: true, FailureKind: sdk.FailureInfrastructure}
	}
	rl := &relay{ev: ev, started: map[string]bool{}, finished: map[string]bool{}, state: req.StartState}
	rreq := request(req)
	var lastErr error
	for attempt := 0; attempt <= s.Retries; attempt++ {
		if attempt > 0 {
			ev.Log("", sdk.LogRunner, fmt.Sprintf("call %d failed (%v); retrying", attempt, lastErr))
			select {
			case <-time.After(s.Backoff(attempt)):
			case <-ctx.Done():
				return cancelled(ctx, start)
			}
		}
		out, err := r.stream(ctx, c, s, rreq, rl)
		if err == nil {
			out.Duration = time.Since(start)
			return out
		}
		if ctx.Err() != nil {
			return cancelled(ctx, start)
		}
		lastErr = err
		if !remote.Transient(err) {
			break
		}
	}
	msg := remote.Explain(s.Address, lastErr).Error()
	if remote.Transient(lastErr) {
		msg = fmt.Sprintf("%s (after %d attempts)", msg, s.Retries+1)
	}
	return sdk.Outcome{Status: sdk.StatusFailed, Error: msg, Retryable: remote.Transient(lastErr), FailureKind: sdk.FailureInfrastructure,
		Duration: time.Since(start)}
}

func cancelled(ctx context.Context, start time.Time) sdk.Outcome {
	return sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled: " + context.Cause(ctx).Error(),
		FailureKind: sdk.FailureCancelled, Duration: time.Since(start)}
}

// stream makes one ExecuteSegment call and relays its events until the
// segment finishes. An error means the call broke before it did.
func (r *grpcRunner) stream(ctx context.Context, c remotev1.ExecutionServiceClient, s *remote.Settings,
	req *remotev1.ExecuteSegmentRequest, rl *relay) (sdk.Outcome, error) {
	cctx, cancel := context.WithTimeout(ctx, s.CallTimeout())
	defer cancel()
	st, err := c.ExecuteSegment(cctx, req)
	if err != nil {
		return sdk.Outcome{}, err
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return sdk.Outcome{}, err
		}
		switch e := resp.GetEvent().(type) {
		case *remotev1.ExecuteSegmentResponse_NodeStarted:
			if !rl.started[e.NodeStarted.GetNode()] {
				rl.started[e.NodeStarted.GetNode()] = true
				rl.ev.NodeStarted(e.NodeStarted.GetNode(), e.NodeStarted.GetWorkerId())
			}
		case *remotev1.ExecuteSegmentResponse_Log:
			if !rl.finished[e.Log.GetNode()] {
				rl.ev.Log(e.Log.GetNode(), sdk.LogStderr, e.Log.GetLine())
			}
		case *remotev1.ExecuteSegmentResponse_NodeFinished:
			nf := e.NodeFinished
			if rl.finished[nf.GetNode()] {
				continue
			}
			rl.finished[nf.GetNode()] = true
			rl.state = nf.GetStateJson()
			rl.ev.NodeFinished(sdk.NodeResult{Node: nf.GetNode(), State: nf.GetStateJson(), Output: nf.GetOutputJson(),
				Duration: nf.GetDuration().AsDuration(), Metrics: nf.GetMetrics(), WorkerID: nf.GetWorkerId(),
				Interactions: modelcallpb.InteractionsFromProto(nf.GetInteractions()), Spans: tracepb.FromProto(nf.GetSpans())})
		case *remotev1.ExecuteSegmentResponse_NodeFailed:
			nf := e.NodeFailed
			rl.ev.NodeFailed(sdk.NodeFailure{Node: nf.GetNode(), Error: nf.GetError(), Kind: sdk.ParseFailureKind(nf.GetKind()),
				Retryable: nf.GetRetryable(), ExitCode: int(nf.GetExitCode()),
				Interactions: modelcallpb.InteractionsFromProto(nf.GetInteractions()), Spans: tracepb.FromProto(nf.GetSpans())})
		case *remotev1.ExecuteSegmentResponse_SegmentFinished:
			f := e.SegmentFinished
			if f.GetSucceeded() {
				return sdk.Outcome{Status: sdk.StatusSucceeded, FinalState: f.GetFinalStateJson(), WorkerID: f.GetWorkerId()}, nil
			}
			status := sdk.StatusFailed
			if sdk.ParseFailureKind(f.GetFailureKind()) == sdk.FailureCancelled {
				status = sdk.StatusCancelled
			}
			return sdk.Outcome{Status: status, FinalState: f.GetFinalStateJson(), Error: f.GetError(), FailedNode: f.GetFailedNode(),
				FailureKind: sdk.ParseFailureKind(f.GetFailureKind()), Retryable: f.GetRetryable(), WorkerID: f.GetWorkerId()}, nil
		}
	}
}

func (r *grpcRunner) Shutdown(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
	return nil
}

func main() {
	serve.Runner(&grpcRunner{})
}
