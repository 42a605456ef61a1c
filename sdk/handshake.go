package sdk

import "errors"

// ProtocolVersion is the major version of the plugin contract this SDK speaks. It is
// the "v1" in wtb.runner.v1 and the version go-plugin negotiates at start-up.
const ProtocolVersion = 1

// Version is the version of this SDK, reported by plugins in their info.
const Version = "0.2.0"

// The handshake a plugin in any language completes with the host (go-plugin's
// magic cookie, in the plugin's environment). The cookie is not a security
// measure; it only tells a user who runs a plugin by hand what it is. It never
// changes.
const (
	MagicCookieKey   = "WTB_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "7c2f4f0b1e9a4f7fb3f0d2a8e5c6b1d4-wtb"
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

// ErrHostGone is the cause of an execution's cancellation when the host exited
// or its session with the plugin broke — not because anybody asked. A runner
// backed by a durable engine may let such work run on: the host's retry or
// `wtb resume` asks for the same execution key again and can join it.
var ErrHostGone = errors.New("the wtb host is gone")
