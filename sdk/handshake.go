package sdk

import plugin "github.com/hashicorp/go-plugin"

// ProtocolVersion is the major version of the plugin contract this SDK speaks. It is
// the "v1" in wtb.runner.v1 and the version go-plugin negotiates at start-up.
const ProtocolVersion = 1

// Version is the version of this SDK, reported by plugins in their info.
const Version = "0.1.0"

// Names under which the plugins are registered with go-plugin.
const (
	RunnerPluginName      = "runner"
	EnvironmentPluginName = "environment"
)

// Binary name prefixes the host looks for when it discovers plugins.
const (
	RunnerBinaryPrefix      = "wtb-runner-"
	EnvironmentBinaryPrefix = "wtb-env-"
)

// MaxMessageBytes caps a single gRPC message between host and plugin in both
// directions. gRPC's default of 4 MiB is too small for node states of several MiB;
// 256 MiB is Terraform's cap and still bounds memory use of a runaway plugin.
const MaxMessageBytes = 256 << 20

// WindowBytes is the HTTP/2 flow-control window of plugin connections.
const WindowBytes = 8 << 20

// Handshake is shared by the host and every plugin. The cookie is not a security
// measure; it only tells a user who runs a plugin by hand what it is. It never changes.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "WTB_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "7c2f4f0b1e9a4f7fb3f0d2a8e5c6b1d4-wtb",
}
