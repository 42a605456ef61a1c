// Package sdk is the public Go API for writing WTB plugins.
//
// A WTB plugin is a separate executable that the wtb host launches through
// HashiCorp go-plugin and talks to over a versioned gRPC contract
// (proto/wtb/runner/v1, proto/wtb/environment/v1). Two kinds exist:
//
//   - a runner executes workflow segments (a list of nodes starting from a state)
//     and reports events: node started, node finished with its checkpoint, logs,
//     and the final result. Implement [Runner] and call [ServeRunner] from main.
//   - an environment provider prepares where each variant runs (environment
//     variables, a working directory, setup). Implement [EnvironmentProvider] and
//     call [ServeEnvironment] from main.
//
// Runners rarely execute nodes themselves: package sdk/executor runs command
// nodes, the built-in "merge" node and node kinds a runner registers in Go.
// Package sdk/conformance checks a built plugin binary against the contract from
// `go test`.
//
// The package never depends on the host: a plugin built against it pulls in
// go-plugin, gRPC, protobuf and hclog, nothing else.
package sdk
