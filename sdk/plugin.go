package sdk

import (
	"context"
	"encoding/json"
)

// Info describes a plugin.
type Info struct {
	// Name is the short name, e.g. "pool" for wtb-runner-pool.
	Name        string
	Version     string
	Description string
	// Capabilities lists additive contract features the plugin supports.
	Capabilities []string
	Schema       Schema
	// SDKVersion and ProtocolVersions are filled in when the host reads a
	// plugin's info; a plugin leaves them empty (its SDK reports them).
	SDKVersion       string
	ProtocolVersions []int
}

// Capabilities a runner may announce.
const (
	// CapabilityStartState: the runner honours ExecuteRequest.StartState, so the
	// host can resume, fork and share prefixes through it.
	CapabilityStartState = "start_state"
	// CapabilityCancel: the runner stops an execution promptly on cancel.
	CapabilityCancel = "cancel"
)

// Runner executes workflow segments. The SDK calls Execute concurrently, at most
// as many at once as Configure's capacity (the host enforces it); Execute must
// return when ctx is cancelled.
type Runner interface {
	Info() Info
	// NodeKinds lists the node kinds the runner executes.
	NodeKinds() []string
	// Configure validates and applies the plugin's block and returns the number of
	// executions the runner can make progress on at once (0 = unbounded).
	Configure(ctx context.Context, config json.RawMessage) (capacity int, diags Diagnostics)
	// Execute runs one segment, reporting node events to ev, and returns its
	// outcome. The SDK turns the outcome into the final event.
	Execute(ctx context.Context, req *ExecuteRequest, ev Events) Outcome
	// Shutdown releases the runner's resources; running executions were cancelled.
	Shutdown(ctx context.Context) error
}

// Connector is implemented by plugins that depend on an external system (a
// cluster, a remote service). Connect is called after a Configure without
// errors; a failure is a runtime problem, reported to the user as such (the
// host exits with its runtime-failure code), not as a configuration error.
type Connector interface {
	Connect(ctx context.Context) error
}

// EnvironmentProvider prepares the environments variants run in.
type EnvironmentProvider interface {
	Info() Info
	Configure(ctx context.Context, config json.RawMessage) Diagnostics
	// CreateEnvironment prepares the environment of a variant. The variant config
	// (a JSON object) is merged over the provider's base configuration. Calling it
	// again for the same variant returns the same environment.
	CreateEnvironment(ctx context.Context, batchID, variantID string, config json.RawMessage) (RuntimeEnv, Diagnostics)
	// RuntimeEnv returns the environment created for variantID, if any.
	RuntimeEnv(ctx context.Context, variantID string) (RuntimeEnv, bool, error)
	// CleanupEnvironment removes what CreateEnvironment made; unknown ids are fine.
	CleanupEnvironment(ctx context.Context, variantID string) error
	Shutdown(ctx context.Context) error
}
