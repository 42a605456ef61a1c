package wire

import (
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"github.com/wtbench/wtb/sdk"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Names under which the plugins are registered with go-plugin.
const (
	RunnerPluginName      = "runner"
	EnvironmentPluginName = "environment"
)

// WindowBytes is the HTTP/2 flow-control window of plugin connections: a
// session carries thousands of small messages a second, and the default
// 64 KiB window means a window update every few of them.
const WindowBytes = 8 << 20

// Handshake is shared by the host and every plugin.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{ProtocolVersion: sdk.ProtocolVersion,
		MagicCookieKey: sdk.MagicCookieKey, MagicCookieValue: sdk.MagicCookieValue}
}

// NewGRPCServer is the gRPC server every WTB plugin uses: large messages for
// big node states, and keepalive so a vanished host is noticed.
func NewGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(sdk.MaxMessageBytes),
		grpc.MaxSendMsgSize(sdk.MaxMessageBytes),
		grpc.InitialWindowSize(WindowBytes),
		grpc.InitialConnWindowSize(WindowBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	return grpc.NewServer(opts...)
}

// DialOptions are the host's options for a plugin connection.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(sdk.MaxMessageBytes), grpc.MaxCallSendMsgSize(sdk.MaxMessageBytes)),
		grpc.WithInitialWindowSize(WindowBytes),
		grpc.WithInitialConnWindowSize(WindowBytes),
	}
}
