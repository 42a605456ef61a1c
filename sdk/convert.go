package sdk

import (
	"encoding/json"
	"fmt"
	"time"

	pluginv1 "github.com/wtbench/wtb/proto/wtb/plugin/v1"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The functions in this file translate between the SDK's Go types and the wire
// contract. They are exported because the host uses the same translation; plugin
// authors do not need them.

// ExecuteRequestFromProto converts a wire request.
func ExecuteRequestFromProto(p *runnerv1.ExecuteRequest) *ExecuteRequest {
	r := &ExecuteRequest{
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
	}
	if c := p.GetCase(); c != nil {
		r.Case = Case{ID: c.GetId(), Input: c.GetInputJson(), Expected: c.GetExpectedJson()}
	}
	if d := p.GetDeadline(); d != nil {
		r.Deadline = d.AsTime()
	}
	r.Nodes = make([]Node, len(p.GetNodes()))
	for i, n := range p.GetNodes() {
		r.Nodes[i] = Node{
			Name: n.GetName(), Kind: n.GetKind(), Command: n.GetCommand(), Params: n.GetParamsJson(),
			Env: n.GetEnv(), Timeout: n.GetTimeout().AsDuration(), Variant: n.GetVariant(),
			DependsOn: n.GetDependsOn(), MaxOutputBytes: n.GetMaxOutputBytes(), ConfigHash: n.GetConfigHash(),
		}
	}
	return r
}

// ExecuteRequestToProto converts a request to its wire form.
func ExecuteRequestToProto(r *ExecuteRequest) *runnerv1.ExecuteRequest {
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
	}
	if !r.Deadline.IsZero() {
		p.Deadline = timestamppb.New(r.Deadline)
	}
	p.Nodes = make([]*runnerv1.Node, len(r.Nodes))
	for i, n := range r.Nodes {
		pn := &runnerv1.Node{
			Name: n.Name, Kind: n.Kind, Command: n.Command, ParamsJson: n.Params, Env: n.Env,
			Variant: n.Variant, DependsOn: n.DependsOn, MaxOutputBytes: n.MaxOutputBytes, ConfigHash: n.ConfigHash,
		}
		if n.Timeout > 0 {
			pn.Timeout = durationpb.New(n.Timeout)
		}
		p.Nodes[i] = pn
	}
	return p
}

// RuntimeEnvFromProto converts a wire runtime environment.
func RuntimeEnvFromProto(p *pluginv1.RuntimeEnv) RuntimeEnv {
	if p == nil {
		return RuntimeEnv{}
	}
	return RuntimeEnv{ID: p.GetId(), Env: p.GetEnv(), WorkingDir: p.GetWorkingDir(), Labels: p.GetLabels()}
}

// RuntimeEnvToProto converts a runtime environment to its wire form.
func RuntimeEnvToProto(e RuntimeEnv) *pluginv1.RuntimeEnv {
	return &pluginv1.RuntimeEnv{Id: e.ID, Env: e.Env, WorkingDir: e.WorkingDir, Labels: e.Labels}
}

// OutcomeFromProto converts a wire ExecutionFinished event.
func OutcomeFromProto(p *runnerv1.ExecutionFinished) Outcome {
	return Outcome{
		Status: Status(p.GetStatus()), FinalState: p.GetFinalStateJson(), Error: p.GetError(),
		Retryable: p.GetRetryable(), Duration: p.GetDuration().AsDuration(), WorkerID: p.GetWorkerId(),
		FailedNode: p.GetFailedNode(), FailureKind: FailureKind(p.GetFailureKind()),
	}
}

// OutcomeToProto converts an outcome to its wire form.
func OutcomeToProto(o Outcome) *runnerv1.ExecutionFinished {
	return &runnerv1.ExecutionFinished{
		Status: runnerv1.ExecutionStatus(o.Status), FinalStateJson: o.FinalState, Error: o.Error,
		Retryable: o.Retryable, Duration: durationpb.New(o.Duration), WorkerId: o.WorkerID,
		FailedNode: o.FailedNode, FailureKind: runnerv1.FailureKind(o.FailureKind),
	}
}

// NodeResultFromProto converts a wire NodeFinished event.
func NodeResultFromProto(p *runnerv1.NodeFinished) NodeResult {
	return NodeResult{Node: p.GetNode(), State: p.GetStateJson(), Output: p.GetOutputJson(),
		Duration: p.GetDuration().AsDuration(), Metrics: p.GetMetrics(), WorkerID: p.GetWorkerId()}
}

// NodeFailureFromProto converts a wire NodeFailed event.
func NodeFailureFromProto(p *runnerv1.NodeFailed) NodeFailure {
	return NodeFailure{Node: p.GetNode(), Error: p.GetError(), Kind: FailureKind(p.GetKind()),
		Retryable: p.GetRetryable(), Duration: p.GetDuration().AsDuration(), ExitCode: int(p.GetExitCode())}
}

// InfoToProto converts plugin info and its schema to the wire form.
func InfoToProto(info Info, kind pluginv1.PluginKind) (*pluginv1.PluginInfo, error) {
	schema, err := SchemaToProto(info.Schema)
	if err != nil {
		return nil, err
	}
	return &pluginv1.PluginInfo{
		Name: info.Name, Kind: kind, Version: info.Version, SdkVersion: Version,
		ProtocolVersions: []int32{ProtocolVersion}, Capabilities: info.Capabilities,
		Description: info.Description, ConfigSchema: schema,
	}, nil
}

// SchemaToProto converts a schema to its wire form.
func SchemaToProto(s Schema) (*pluginv1.ConfigSchema, error) {
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
func DiagnosticsToProto(ds Diagnostics) []*pluginv1.Diagnostic {
	out := make([]*pluginv1.Diagnostic, len(ds))
	for i, d := range ds {
		out[i] = &pluginv1.Diagnostic{Severity: pluginv1.Severity(d.Severity), Summary: d.Summary,
			Detail: d.Detail, AttributePath: d.Path}
	}
	return out
}

// DiagnosticsFromProto converts wire diagnostics.
func DiagnosticsFromProto(ps []*pluginv1.Diagnostic) Diagnostics {
	out := make(Diagnostics, len(ps))
	for i, p := range ps {
		out[i] = Diagnostic{Severity: Severity(p.GetSeverity()), Summary: p.GetSummary(),
			Detail: p.GetDetail(), Path: p.GetAttributePath()}
	}
	return out
}

func durationOrNil(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}
