package pluginhost

import (
	"context"
	"fmt"
	"sync"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/client"
)

// Environment is a supervised environment provider plugin. Calls are unary, so a
// crash is handled where it is seen: the plugin is relaunched, reconfigured and
// the call tried once more.
type Environment struct {
	spec   Spec
	mu     sync.Mutex
	plugin *client.Plugin
	info   sdk.Info
	closed bool
}

// LaunchEnvironment starts an environment provider plugin and reads its info.
func LaunchEnvironment(ctx context.Context, spec Spec) (*Environment, error) {
	spec.Kind = client.KindEnvironment
	spec.defaults()
	p, err := spec.launch()
	if err != nil {
		return nil, err
	}
	ictx, cancel := spec.bound(ctx)
	info, err := p.Environment().Info(ictx)
	cancel()
	if err != nil {
		p.Kill()
		return nil, spec.callError("GetInfo", err)
	}
	spec.OnEvent(Event{Type: PluginStarted, Plugin: spec.Name, Pid: p.Pid(),
		Detail: fmt.Sprintf("%s %s, protocol %d", info.Name, info.Version, p.Version)})
	return &Environment{spec: spec, plugin: p, info: info}, nil
}

// Info is what the plugin said about itself.
func (e *Environment) Info() sdk.Info { return e.info }

// Name is the plugin's display name.
func (e *Environment) Name() string { return e.spec.Name }

// Configure sends the plugin its configuration (kept for restarts).
func (e *Environment) Configure(ctx context.Context, config []byte) (sdk.Diagnostics, error) {
	e.mu.Lock()
	e.spec.Config = config
	e.mu.Unlock()
	var diags sdk.Diagnostics
	ctx, cancel := e.spec.bound(ctx)
	defer cancel()
	err := e.call(ctx, func(c *client.EnvironmentClient) (err error) {
		diags, err = c.Configure(ctx, config, e.spec.HostVersion)
		return err
	})
	return diags, err
}

// Create prepares the environment of one variant.
func (e *Environment) Create(ctx context.Context, batchID, variantID string, config []byte) (sdk.RuntimeEnv, sdk.Diagnostics, error) {
	var env sdk.RuntimeEnv
	var diags sdk.Diagnostics
	err := e.call(ctx, func(c *client.EnvironmentClient) (err error) {
		env, diags, err = c.Create(ctx, batchID, variantID, config)
		return err
	})
	return env, diags, err
}

// Cleanup removes the environment of one variant.
func (e *Environment) Cleanup(ctx context.Context, variantID string) error {
	return e.call(ctx, func(c *client.EnvironmentClient) error { return c.Cleanup(ctx, variantID) })
}

// call runs f against the plugin, relaunching it once if it has died.
func (e *Environment) call(ctx context.Context, f func(*client.EnvironmentClient) error) error {
	e.mu.Lock()
	p, closed := e.plugin, e.closed
	e.mu.Unlock()
	if closed {
		return fmt.Errorf("environment plugin %s is shut down", e.spec.Name)
	}
	err := f(p.Environment())
	if err == nil || !p.Exited() {
		if err != nil {
			return pluginError(e.spec.Name, "call", err)
		}
		return nil
	}
	e.spec.OnEvent(Event{Type: PluginCrashed, Plugin: e.spec.Name, Pid: p.Pid(), Detail: err.Error()})
	np, lerr := e.spec.launch()
	if lerr != nil {
		return fmt.Errorf("environment plugin %s crashed and could not be restarted: %w", e.spec.Name, lerr)
	}
	diags, cerr := np.Environment().Configure(ctx, e.spec.Config, e.spec.HostVersion)
	if cerr == nil && diags.HasErrors() {
		cerr = fmt.Errorf("configuration rejected after restart")
	}
	if cerr != nil {
		np.Kill()
		return fmt.Errorf("environment plugin %s crashed and could not be reconfigured: %w", e.spec.Name, cerr)
	}
	e.mu.Lock()
	e.plugin = np
	e.mu.Unlock()
	e.spec.OnEvent(Event{Type: PluginRestarted, Plugin: e.spec.Name, Pid: np.Pid()})
	if err := f(np.Environment()); err != nil {
		return pluginError(e.spec.Name, "call", err)
	}
	return nil
}

// Close shuts the plugin down.
func (e *Environment) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	p := e.plugin
	e.mu.Unlock()
	if !p.Exited() {
		_ = p.Environment().Shutdown(ctx)
		p.Kill()
		e.spec.OnEvent(Event{Type: PluginStopped, Plugin: e.spec.Name, Pid: p.Pid()})
	}
	return nil
}
