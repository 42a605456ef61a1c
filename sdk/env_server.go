package sdk

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	environmentv1 "github.com/wtbench/wtb/proto/wtb/environment/v1"
	pluginv1 "github.com/wtbench/wtb/proto/wtb/plugin/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// EnvironmentPlugin is the go-plugin glue for environment providers. Plugin
// authors use ServeEnvironment; hosts put an EnvironmentPlugin (without Impl) in
// their plugin set to get an environmentv1.EnvironmentProviderServiceClient.
type EnvironmentPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl   EnvironmentProvider
	Logger hclog.Logger
}

// GRPCServer registers the environment provider service.
func (p *EnvironmentPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	environmentv1.RegisterEnvironmentProviderServiceServer(s, &envServer{impl: p.Impl})
	return nil
}

// GRPCClient returns the raw contract client.
func (p *EnvironmentPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return environmentv1.NewEnvironmentProviderServiceClient(cc), nil
}

type envServer struct {
	environmentv1.UnimplementedEnvironmentProviderServiceServer
	impl EnvironmentProvider
}

func (s *envServer) GetInfo(context.Context, *environmentv1.GetInfoRequest) (*environmentv1.GetInfoResponse, error) {
	info, err := InfoToProto(s.impl.Info(), pluginv1.PluginKind_PLUGIN_KIND_ENVIRONMENT)
	if err != nil {
		return nil, fmt.Errorf("describing the plugin: %w", err)
	}
	return &environmentv1.GetInfoResponse{Info: info}, nil
}

func (s *envServer) Configure(ctx context.Context, req *environmentv1.ConfigureRequest) (*environmentv1.ConfigureResponse, error) {
	diags := s.impl.Configure(ctx, req.GetConfigJson())
	if c, ok := s.impl.(Connector); ok && !diags.HasErrors() {
		if err := c.Connect(ctx); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	return &environmentv1.ConfigureResponse{Diagnostics: DiagnosticsToProto(diags)}, nil
}

func (s *envServer) CreateEnvironment(ctx context.Context, req *environmentv1.CreateEnvironmentRequest) (*environmentv1.CreateEnvironmentResponse, error) {
	env, diags := s.impl.CreateEnvironment(ctx, req.GetBatchId(), req.GetVariantId(), req.GetConfigJson())
	return &environmentv1.CreateEnvironmentResponse{RuntimeEnv: RuntimeEnvToProto(env), Diagnostics: DiagnosticsToProto(diags)}, nil
}

func (s *envServer) GetRuntimeEnv(ctx context.Context, req *environmentv1.GetRuntimeEnvRequest) (*environmentv1.GetRuntimeEnvResponse, error) {
	env, ok, err := s.impl.RuntimeEnv(ctx, req.GetVariantId())
	if err != nil {
		return nil, err
	}
	resp := &environmentv1.GetRuntimeEnvResponse{Found: ok}
	if ok {
		resp.RuntimeEnv = RuntimeEnvToProto(env)
	}
	return resp, nil
}

func (s *envServer) CleanupEnvironment(ctx context.Context, req *environmentv1.CleanupEnvironmentRequest) (*environmentv1.CleanupEnvironmentResponse, error) {
	if err := s.impl.CleanupEnvironment(ctx, req.GetVariantId()); err != nil {
		return nil, err
	}
	return &environmentv1.CleanupEnvironmentResponse{}, nil
}

func (s *envServer) Shutdown(ctx context.Context, _ *environmentv1.ShutdownRequest) (*environmentv1.ShutdownResponse, error) {
	if err := s.impl.Shutdown(ctx); err != nil {
		return nil, err
	}
	return &environmentv1.ShutdownResponse{}, nil
}
