// Package sdk is the public Go API for writing WTB plugins: the types a plugin
// sees (ExecuteRequest, Node, Outcome, Events, Schema, Diagnostics) and the
// interfaces it implements.
//
// A WTB plugin is a separate executable that the wtb host launches through
// HashiCorp go-plugin and talks to over a versioned gRPC contract
// (proto/wtb/runner/v1, proto/wtb/environment/v1). Two kinds exist:
//
//   - a runner executes workflow segments (a list of nodes starting from a state)
//     and reports events: node started, node finished with its checkpoint, logs,
//     and the final result. Implement [Runner] and call serve.Runner from main.
//   - an environment provider prepares where each variant runs (environment
//     variables, a working directory, setup). Implement [EnvironmentProvider] and
//     call serve.Environment from main.
//
// The packages around it:
//
//   - sdk/serve runs a plugin (handshake, gRPC, cleanup when the host dies);
//   - sdk/executor runs command nodes, the built-in "merge" node and node kinds a
//     runner registers in Go — every runner shipped with WTB uses it;
//   - sdk/childproc starts child processes so that none outlives the plugin;
//   - sdk/conformance checks a built plugin binary against the contract from
//     `go test`;
//   - sdk/client is the host's side of the contract (the wtb host and the
//     conformance kits use it).
//
// The wire contract itself stays inside (sdk/internal/wire): plugin authors
// write Go types only. A plugin built against the SDK pulls in go-plugin, gRPC,
// protobuf, hclog and golang.org/x/sys, nothing else — never the host.
package sdk
