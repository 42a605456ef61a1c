// Command badversion is a runner plugin that only speaks protocol version 99:
// it completes go-plugin's handshake with the WTB cookie and offers nothing
// the host can use.
package main

import (
	"context"

	plugin "github.com/hashicorp/go-plugin"
	"github.com/wtbench/wtb/sdk"
	"google.golang.org/grpc"
)

type runner struct{ plugin.NetRPCUnsupportedPlugin }

func (runner) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (runner) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 99, MagicCookieKey: sdk.MagicCookieKey, MagicCookieValue: sdk.MagicCookieValue},
		VersionedPlugins: map[int]plugin.PluginSet{99: {"runner": runner{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
