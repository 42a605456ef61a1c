// Command badversion is a runner plugin that only speaks protocol version 99.
package main

import (
	plugin "github.com/hashicorp/go-plugin"
	"github.com/wtbench/wtb/sdk"
)

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{99: {sdk.RunnerPluginName: &sdk.RunnerPlugin{}}},
		GRPCServer:       sdk.NewGRPCServer,
	})
}
