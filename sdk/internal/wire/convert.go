// Package wire translates between the SDK's Go types and the versioned gRPC
// contract (proto/wtb/...), and holds the go-plugin glue both sides share. It
// is internal: plugin authors and the host's upper layers see Go types only;
// the serving side (sdk/serve) and the host side (sdk/client) speak the wire
// through it.
package wire

import (
	"encoding/json"
	"fmt"

	pluginv1 "github.com/wtbench/wtb/proto/wtb/plugin/v1"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/modelcallpb"
	"github.com/wtbench/wtb/sdk/tracepb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ExecuteRequestFromProto converts a wire request.
func ExecuteRequestFromProto(p *runnerv1.ExecuteRequest) *sdk.ExecuteRequest {
	r := &sdk.ExecuteRequest{
		ExecutionID:       p.GetExecutionId(),
		ExecutionKey:      p.GetExecutionKey(),
		Attempt:           int(p.GetAttempt()),
		BatchID:           p.GetBatchId(),
		Combination:       p.GetCombination(),
		Variants:          p.GetVariants(),
		RepeatIndex:       int(p.GetRepeatIndex()),
		StartState:        p.GetStartStateJson(),
		StartCheckpointID: p.GetStartCheckpointId(),
		Env:               RuntimeEnvFromProto(p.GetRuntimeEnv()),
		Labels:            p.GetLabels(),
		ModelCalls:        modelcallpb.ConfigFromProto(p.GetModelCalls()),
		Recordings:        modelcallpb.RecordingsFromProto(p.GetRecordings()),
	}
	if c := p.GetCase(); c != nil {
		r.Case = sdk.Case{ID: c.GetId(), Input: c.GetInputJson(), Expected: c.GetExpectedJson()}
	}
	if d := p.GetDeadline(); d != nil {
		r.Deadline = d.AsTime()
	}
	r.Nodes = make([]sdk.Node, len(p.GetNodes()))
	for i, n := range p.GetNodes() {
		r.Nodes[i] = sdk.Node{
			Name: n.GetName(), Kind: n.GetKind(), Command: n.GetCommand(), Params: n.GetParamsJson(),
			Env: n.GetEnv(), Timeout: n.GetTimeout().AsDuration(), Variant: n.GetVariant(),
			DependsOn: n.GetDependsOn(), MaxOutputBytes: n.GetMaxOutputBytes(), ConfigHash: n.GetConfigHash(),
			RunKey: n.GetRunKey(),
		}
		if w := n.GetWorker(); w != nil {
			r.Nodes[i].Worker = &sdk.WorkerSpec{Max: int(w.GetMax()), MaxRequests: int(w.GetMaxRequests()),
				IdleTimeout: w.GetIdleTimeout().AsDuration()}
		}
	}
	return r
}

// ExecuteRequestToProto converts a request to its wire form.
func ExecuteRequestToProto(r *sdk.ExecuteRequest) *runnerv1.ExecuteRequest {
	p := &runnerv1.ExecuteRequest{
		ExecutionId:       r.ExecutionID,
		ExecutionKey:      r.ExecutionKey,
		Attempt:           int32(r.Attempt),
		BatchId:           r.BatchID,
		Combination:       r.Combination,
		Variants:          r.Variants,
		Case:              &runnerv1.Case{Id: r.Case.ID, InputJson: r.Case.Input, ExpectedJson: r.Case.Expected},
		RepeatIndex:       int32(r.RepeatIndex),
		StartStateJson:    r.StartState,
		StartCheckpointId: r.StartCheckpointID,
		RuntimeEnv:        RuntimeEnvToProto(r.Env),
		Labels:            r.Labels,
		ModelCalls:        modelcallpb.ConfigToProto(r.ModelCalls),
		Recordings:        modelcallpb.RecordingsToProto(r.Recordings),
	}
	if !r.Deadline.IsZero() {
		p.Deadline = timestamppb.New(r.Deadline)
	}
	p.Nodes = make([]*runnerv1.Node, len(r.Nodes))
	for i, n := range r.Nodes {
		pn := &runnerv1.Node{
			Name: n.Name, Kind: n.Kind, Command: n.Command, ParamsJson: n.Params, Env: n.Env,
			Variant: n.Variant, DependsOn: n.DependsOn, MaxOutputBytes: n.MaxOutputBytes, ConfigHash: n.ConfigHash,
			RunKey: n.RunKey,
		}
		if n.Timeout > 0 {
			pn.Timeout = durationpb.New(n.Timeout)
		}
		if w := n.Worker; w != nil {
			pn.Worker = &runnerv1.WorkerSpec{Max: int32(w.Max), MaxRequests: int32(w.MaxRequests)}
			if w.IdleTimeout > 0 {
				pn.Worker.IdleTimeout = durationpb.New(w.IdleTimeout)
			}
		}
		p.Nodes[i] = pn
	}
	return p
}

// RuntimeEnvFromProto converts a wire runtime environment.
func RuntimeEnvFromProto(p *pluginv1.RuntimeEnv) sdk.RuntimeEnv {
	if p == nil {
		return sdk.RuntimeEnv{}
	}
	return sdk.RuntimeEnv{ID: p.GetId(), Env: p.GetEnv(), WorkingDir: p.GetWorkingDir(), Labels: p.GetLabels()}
}

// RuntimeEnvToProto converts a runtime environment to its wire form.
func RuntimeEnvToProto(e sdk.RuntimeEnv) *pluginv1.RuntimeEnv {
	return &pluginv1.RuntimeEnv{Id: e.ID, Env: e.Env, WorkingDir: e.WorkingDir, Labels: e.Labels}
}

// OutcomeFromProto converts a wire ExecutionFinished event.
func OutcomeFromProto(p *runnerv1.ExecutionFinished) sdk.Outcome {
	return sdk.Outcome{
		Status: sdk.Status(p.GetStatus()), FinalState: p.GetFinalStateJson(), Error: p.GetError(),
		Retryable: p.GetRetryable(), Duration: p.GetDuration().AsDuration(), WorkerID: p.GetWorkerId(),
		FailedNode: p.GetFailedNode(), FailureKind: sdk.FailureKind(p.GetFailureKind()),
	}
}

// OutcomeToProto converts an outcome to its wire form.
func OutcomeToProto(o sdk.Outcome) *runnerv1.ExecutionFinished {
	return &runnerv1.ExecutionFinished{
		Status: runnerv1.ExecutionStatus(o.Status), FinalStateJson: o.FinalState, Error: o.Error,
		Retryable: o.Retryable, Duration: durationpb.New(o.Duration), WorkerId: o.WorkerID,
		FailedNode: o.FailedNode, FailureKind: runnerv1.FailureKind(o.FailureKind),
	}
}

// NodeResultFromProto converts a wire NodeFinished event.
func NodeResultFromProto(p *runnerv1.NodeFinished) sdk.NodeResult {
	return sdk.NodeResult{Node: p.GetNode(), State: p.GetStateJson(), Output: p.GetOutputJson(),
		Duration: p.GetDuration().AsDuration(), Metrics: p.GetMetrics(), WorkerID: p.GetWorkerId(),
		Interactions: modelcallpb.InteractionsFromProto(p.GetInteractions()), Spans: tracepb.FromProto(p.GetSpans())}
}

// NodeResultToProto converts a finished node run to its wire event.
func NodeResultToProto(r sdk.NodeResult) *runnerv1.NodeFinished {
	return &runnerv1.NodeFinished{Node: r.Node, StateJson: r.State, OutputJson: r.Output, Duration: durationpb.New(r.Duration),
		Metrics: r.Metrics, WorkerId: r.WorkerID, Interactions: modelcallpb.InteractionsToProto(r.Interactions),
		Spans: tracepb.ToProto(r.Spans)}
}

// NodeFailureToProto converts a failed node run to its wire event.
func NodeFailureToProto(f sdk.NodeFailure) *runnerv1.NodeFailed {
	p := &runnerv1.NodeFailed{Node: f.Node, Error: f.Error, Kind: runnerv1.FailureKind(f.Kind), Retryable: f.Retryable,
		ExitCode: int32(f.ExitCode), Interactions: modelcallpb.InteractionsToProto(f.Interactions),
		Spans: tracepb.ToProto(f.Spans)}
	if f.Duration != 0 {
		p.Duration = durationpb.New(f.Duration)
	}
	return p
}

// NodeFailureFromProto converts a wire NodeFailed event.
func NodeFailureFromProto(p *runnerv1.NodeFailed) sdk.NodeFailure {
	return sdk.NodeFailure{Node: p.GetNode(), Error: p.GetError(), Kind: sdk.FailureKind(p.GetKind()),
		Retryable: p.GetRetryable(), Duration: p.GetDuration().AsDuration(), ExitCode: int(p.GetExitCode()),
		Interactions: modelcallpb.InteractionsFromProto(p.GetInteractions()), Spans: tracepb.FromProto(p.GetSpans())}
}

// InfoToProto converts plugin info and its schema to the wire form.
func InfoToProto(info sdk.Info, kind pluginv1.PluginKind) (*pluginv1.PluginInfo, error) {
	schema, err := SchemaToProto(info.Schema)
	if err != nil {
		return nil, err
	}
	return &pluginv1.PluginInfo{
		Name: info.Name, Kind: kind, Version: info.Version, SdkVersion: sdk.Version,
		ProtocolVersions: []int32{sdk.ProtocolVersion}, Capabilities: info.Capabilities,
		Description: info.Description, ConfigSchema: schema,
	}, nil
}

// SchemaToProto converts a schema to its wire form.
func SchemaToProto(s sdk.Schema) (*pluginv1.ConfigSchema, error) {
	out := &pluginv1.ConfigSchema{}
	for _, a := range s.Attributes {
		pa := &pluginv1.AttributeSchema{Name: a.Name, Type: a.Type, Required: a.Required,
			Description: a.Description, Sensitive: a.Sensitive}
		if pa.Type == "" {
			pa.Type = "any"
		}
		if a.Default != nil {
			d, err := json.Marshal(a.Default)
			if err != nil {
				return nil, fmt.Errorf("default of attribute %q: %w", a.Name, err)
			}
			pa.DefaultJson = d
		}
		out.Attributes = append(out.Attributes, pa)
	}
	return out, nil
}

// DiagnosticsToProto converts diagnostics to their wire form.
func DiagnosticsToProto(ds sdk.Diagnostics) []*pluginv1.Diagnostic {
	out := make([]*pluginv1.Diagnostic, len(ds))
	for i, d := range ds {
		out[i] = &pluginv1.Diagnostic{Severity: pluginv1.Severity(d.Severity), Summary: d.Summary,
			Detail: d.Detail, AttributePath: d.Path}
	}
	return out
}

// DiagnosticsFromProto converts wire diagnostics.
func DiagnosticsFromProto(ps []*pluginv1.Diagnostic) sdk.Diagnostics {
	out := make(sdk.Diagnostics, len(ps))
	for i, p := range ps {
		out[i] = sdk.Diagnostic{Severity: sdk.Severity(p.GetSeverity()), Summary: p.GetSummary(),
			Detail: p.GetDetail(), Path: p.GetAttributePath()}
	}
	return out
}

// InfoFromProto converts wire plugin info, schema included.
func InfoFromProto(p *pluginv1.PluginInfo) sdk.Info {
	info := sdk.Info{Name: p.GetName(), Version: p.GetVersion(), Description: p.GetDescription(),
		Capabilities: p.GetCapabilities(), SDKVersion: p.GetSdkVersion()}
	for _, v := range p.GetProtocolVersions() {
		info.ProtocolVersions = append(info.ProtocolVersions, int(v))
	}
	for _, a := range p.GetConfigSchema().GetAttributes() {
		attr := sdk.Attribute{Name: a.GetName(), Type: a.GetType(), Required: a.GetRequired(),
			Description: a.GetDescription(), Sensitive: a.GetSensitive()}
		if d := a.GetDefaultJson(); len(d) > 0 {
			attr.Default = json.RawMessage(d)
		}
		info.Schema.Attributes = append(info.Schema.Attributes, attr)
	}
	return info
}

// MetricsToProto converts a runner's figures to the wire form.
func MetricsToProto(ms []sdk.Metric) []*runnerv1.Metric {
	out := make([]*runnerv1.Metric, 0, len(ms))
	for _, m := range ms {
		t := runnerv1.MetricType_METRIC_TYPE_GAUGE
		if m.Kind == sdk.MetricCounter {
			t = runnerv1.MetricType_METRIC_TYPE_COUNTER
		}
		out = append(out, &runnerv1.Metric{Name: m.Name, Help: m.Help, Type: t, Labels: m.Labels, Value: m.Value})
	}
	return out
}

// MetricsFromProto converts wire figures back.
func MetricsFromProto(ms []*runnerv1.Metric) []sdk.Metric {
	out := make([]sdk.Metric, 0, len(ms))
	for _, m := range ms {
		kind := sdk.MetricGauge
		if m.GetType() == runnerv1.MetricType_METRIC_TYPE_COUNTER {
			kind = sdk.MetricCounter
		}
		out = append(out, sdk.Metric{Name: m.GetName(), Help: m.GetHelp(), Kind: kind, Labels: m.GetLabels(), Value: m.GetValue()})
	}
	return out
}
