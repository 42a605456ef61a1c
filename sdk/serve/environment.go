package serve

import (
	"context"
	"errors"
	"fmt"

	plugin "github.com/hashicorp/go-plugin"
	environmentv1 "github.com/wtbench/wtb/proto/wtb/environment/v1"
	pluginv1 "github.com/wtbench/wtb/proto/wtb/plugin/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/internal/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// environmentPlugin is the go-plugin glue on the plugin's side.
type environmentPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl sdk.EnvironmentProvider
}

func (p *environmentPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	environmentv1.RegisterEnvironmentProviderServiceServer(s, &envServer{impl: p.impl})
	return nil
}

func (p *environmentPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("the serving side has no client")
}

type envServer struct {
	environmentv1.UnimplementedEnvironmentProviderServiceServer
	impl sdk.EnvironmentProvider
}

func (s *envServer) GetInfo(context.Context, *environmentv1.GetInfoRequest) (*environmentv1.GetInfoResponse, error) {
	info, err := wire.InfoToProto(s.impl.Info(), pluginv1.PluginKind_PLUGIN_KIND_ENVIRONMENT)
	if err != nil {
		return nil, fmt.Errorf("describing the plugin: %w", err)
	}
	return &environmentv1.GetInfoResponse{Info: info}, nil
}

func (s *envServer) Configure(ctx context.Context, req *environmentv1.ConfigureRequest) (*environmentv1.ConfigureResponse, error) {
	diags := s.impl.Configure(ctx, req.GetConfigJson())
	if c, ok := s.impl.(sdk.Connector); ok && !diags.HasErrors() {
		if err := c.Connect(ctx); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	return &environmentv1.ConfigureResponse{Diagnostics: wire.DiagnosticsToProto(diags)}, nil
}

func (s *envServer) CreateEnvironment(ctx context.Context, req *environmentv1.CreateEnvironmentRequest) (*environmentv1.CreateEnvironmentResponse, error) {
	env, diags := s.impl.CreateEnvironment(ctx, req.GetBatchId(), req.GetVariantId(), req.GetConfigJson())
	return &environmentv1.CreateEnvironmentResponse{RuntimeEnv: wire.RuntimeEnvToProto(env), Diagnostics: wire.DiagnosticsToProto(diags)}, nil
}

func (s *envServer) GetRuntimeEnv(ctx context.Context, req *environmentv1.GetRuntimeEnvRequest) (*environmentv1.GetRuntimeEnvResponse, error) {
	env, ok, err := s.impl.RuntimeEnv(ctx, req.GetVariantId())
	if err != nil {
		return nil, err
	}
	resp := &environmentv1.GetRuntimeEnvResponse{Found: ok}
	if ok {
		resp.RuntimeEnv = wire.RuntimeEnvToProto(env)
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
