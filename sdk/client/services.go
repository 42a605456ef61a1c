package client

import (
	"context"
	"encoding/json"
	"errors"

	plugin "github.com/hashicorp/go-plugin"
	environmentv1 "github.com/wtbench/wtb/proto/wtb/environment/v1"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/internal/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// runnerPlugin and environmentPlugin are the go-plugin glue on the host's side.
type runnerPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (runnerPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host side serves nothing")
}

func (runnerPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return runnerv1.NewRunnerServiceClient(cc), nil
}

type environmentPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (environmentPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host side serves nothing")
}

func (environmentPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return environmentv1.NewEnvironmentProviderServiceClient(cc), nil
}

// RunnerClient is a runner plugin seen from the host, in the SDK's Go types.
// Errors are the RPC's (a gRPC status), for the caller to word.
type RunnerClient struct{ rc runnerv1.RunnerServiceClient }

// Info returns what the runner says about itself and the node kinds it runs.
func (c *RunnerClient) Info(ctx context.Context) (sdk.Info, []string, error) {
	resp, err := c.rc.GetInfo(ctx, &runnerv1.GetInfoRequest{})
	if err != nil {
		return sdk.Info{}, nil, err
	}
	return wire.InfoFromProto(resp.GetInfo()), resp.GetNodeKinds(), nil
}

// Configure sends the runner its block (a JSON object) and returns how many
// executions it can make progress on at once (0: unbounded).
func (c *RunnerClient) Configure(ctx context.Context, config json.RawMessage, hostVersion string) (int, sdk.Diagnostics, error) {
	resp, err := c.rc.Configure(ctx, &runnerv1.ConfigureRequest{ConfigJson: config, HostVersion: hostVersion})
	if err != nil {
		return 0, nil, err
	}
	return int(resp.GetMaxConcurrency()), wire.DiagnosticsFromProto(resp.GetDiagnostics()), nil
}

// OpenSession opens an execution session (see Session).
func (c *RunnerClient) OpenSession(ctx context.Context, describe func(error) string) (*Session, error) {
	return openSession(ctx, c.rc, describe)
}

// Metrics returns the runner's own figures; a runner built with an SDK that
// predates the call reports none.
func (c *RunnerClient) Metrics(ctx context.Context) ([]sdk.Metric, error) {
	resp, err := c.rc.GetMetrics(ctx, &runnerv1.GetMetricsRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return wire.MetricsFromProto(resp.GetMetrics()), nil
}

// Shutdown asks the runner to release its resources.
func (c *RunnerClient) Shutdown(ctx context.Context) error {
	_, err := c.rc.Shutdown(ctx, &runnerv1.ShutdownRequest{})
	return err
}

// EnvironmentClient is an environment provider plugin seen from the host.
type EnvironmentClient struct {
	ec environmentv1.EnvironmentProviderServiceClient
}

// Info returns what the provider says about itself.
func (c *EnvironmentClient) Info(ctx context.Context) (sdk.Info, error) {
	resp, err := c.ec.GetInfo(ctx, &environmentv1.GetInfoRequest{})
	if err != nil {
		return sdk.Info{}, err
	}
	return wire.InfoFromProto(resp.GetInfo()), nil
}

// Configure sends the provider its block.
func (c *EnvironmentClient) Configure(ctx context.Context, config json.RawMessage, hostVersion string) (sdk.Diagnostics, error) {
	resp, err := c.ec.Configure(ctx, &environmentv1.ConfigureRequest{ConfigJson: config, HostVersion: hostVersion})
	if err != nil {
		return nil, err
	}
	return wire.DiagnosticsFromProto(resp.GetDiagnostics()), nil
}

// Create prepares the environment of a variant.
func (c *EnvironmentClient) Create(ctx context.Context, batchID, variantID string, config json.RawMessage) (sdk.RuntimeEnv, sdk.Diagnostics, error) {
	resp, err := c.ec.CreateEnvironment(ctx, &environmentv1.CreateEnvironmentRequest{BatchId: batchID, VariantId: variantID, ConfigJson: config})
	if err != nil {
		return sdk.RuntimeEnv{}, nil, err
	}
	return wire.RuntimeEnvFromProto(resp.GetRuntimeEnv()), wire.DiagnosticsFromProto(resp.GetDiagnostics()), nil
}

// RuntimeEnv returns the environment Create made for a variant, if the
// provider still has one (GetRuntimeEnv).
func (c *EnvironmentClient) RuntimeEnv(ctx context.Context, variantID string) (sdk.RuntimeEnv, bool, error) {
	resp, err := c.ec.GetRuntimeEnv(ctx, &environmentv1.GetRuntimeEnvRequest{VariantId: variantID})
	if err != nil {
		return sdk.RuntimeEnv{}, false, err
	}
	if !resp.GetFound() {
		return sdk.RuntimeEnv{}, false, nil
	}
	return wire.RuntimeEnvFromProto(resp.GetRuntimeEnv()), true, nil
}

// Cleanup removes what Create made.
func (c *EnvironmentClient) Cleanup(ctx context.Context, variantID string) error {
	_, err := c.ec.CleanupEnvironment(ctx, &environmentv1.CleanupEnvironmentRequest{VariantId: variantID})
	return err
}

// Shutdown asks the provider to release its resources.
func (c *EnvironmentClient) Shutdown(ctx context.Context) error {
	_, err := c.ec.Shutdown(ctx, &environmentv1.ShutdownRequest{})
	return err
}
