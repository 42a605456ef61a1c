package application

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/pluginhost"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
)

// Plugins are the plugin processes of one batch.
type Plugins struct {
	Runner *pluginhost.Runner
	Env    *pluginhost.Environment // nil without an environment block
}

// Close stops the plugins.
func (p *Plugins) Close() {
	if p == nil {
		return
	}
	if p.Runner != nil {
		_ = p.Runner.Close(context.Background())
	}
	if p.Env != nil {
		_ = p.Env.Close(context.Background())
	}
}

func (a *App) pluginSpec(dirs []string, benchDir string, kind pluginhost.Kind, ref spec.PluginRef, bus *events.Bus) (pluginhost.Spec, error) {
	path, err := pluginhost.Find(dirs, kind, ref.Plugin)
	if err != nil {
		return pluginhost.Spec{}, err
	}
	prefix := "runner-"
	if kind == pluginhost.KindEnvironment {
		prefix = "env-"
	}
	return pluginhost.Spec{Name: prefix + ref.Plugin, Path: path, SHA256: ref.SHA256, StartTimeout: ref.StartTimeout.D(),
		Config: ref.Config, Logger: a.Log, HostVersion: a.Version, Env: []string{"WTB_BENCH_DIR=" + benchDir}, SocketDir: a.ScratchDir,
		OnEvent: func(e pluginhost.Event) { publishPluginEvent(bus, e) }}, nil
}

var pluginEventTypes = map[pluginhost.EventType]events.Type{
	pluginhost.PluginStarted: events.PluginStarted, pluginhost.PluginCrashed: events.PluginCrashed,
	pluginhost.PluginRestarted: events.PluginRestarted, pluginhost.PluginStopped: events.PluginStopped,
	pluginhost.PluginGaveUp: events.PluginGaveUp,
}

func publishPluginEvent(bus *events.Bus, e pluginhost.Event) {
	if bus == nil {
		return
	}
	msg := fmt.Sprintf("plugin %s %s", e.Plugin, e.Type)
	if e.Pid > 0 {
		msg = fmt.Sprintf("plugin %s (pid %d) %s", e.Plugin, e.Pid, e.Type)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	bus.Publish(events.Event{Type: pluginEventTypes[e.Type], Plugin: e.Plugin, Message: msg})
}

// refs are the runner and environment blocks as the plugins decoded them.
type refs struct {
	runner spec.PluginRef
	env    *spec.PluginRef
}

// startFromBlocks launches a batch's plugins, decodes their blocks against
// the schemas they declare, checks the node kinds, and configures them (keep)
// or only validates the configuration (!keep: the plugins are then stopped).
// Problems with the blocks are diagnostics pointing into the bench file; a
// plugin that cannot start is an error naming the block.
func (a *App) startFromBlocks(ctx context.Context, cfg *config.Config, bd *config.BatchDecl, bus *events.Bus, keep bool) (*Plugins, refs, hcl.Diagnostics, error) {
	dirs := a.PluginDirs(cfg.PluginDir)
	ps := &Plugins{}
	var r refs
	var diags hcl.Diagnostics
	fail := func(err error) (*Plugins, refs, hcl.Diagnostics, error) {
		ps.Close()
		return nil, refs{}, diags, err
	}
	blockRef := func(pb *config.PluginBlock) spec.PluginRef {
		return spec.PluginRef{Block: pb.Label, Plugin: pb.Plugin, SHA256: pb.SHA256, StartTimeout: spec.Duration(pb.StartTimeout)}
	}
	// launched finds and starts a block's plugin: nil, nil when it is not
	// installed (a diagnostic says so).
	find := func(pb *config.PluginBlock) (pluginhost.Spec, bool) {
		sp, err := a.pluginSpec(dirs, cfg.Dir, pluginhost.Kind(pb.Kind), blockRef(pb), bus)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plugin not found", Detail: err.Error(), Subject: pb.PluginRange.Ptr()})
		}
		return sp, err == nil
	}
	// A plugin that cannot start is a runtime failure, not a mistake in the
	// file: one line, naming where the block is.
	startErr := func(pb *config.PluginBlock, err error) error {
		return runtimeErr("%s:%d:%d: %w", pb.PluginRange.Filename, pb.PluginRange.Start.Line, pb.PluginRange.Start.Column, err)
	}

	if pb := bd.Runner; pb != nil {
		if sp, ok := find(pb); ok {
			run, err := pluginhost.LaunchRunner(ctx, sp)
			if err != nil {
				return fail(startErr(pb, err))
			}
			ps.Runner = run
			r.runner = blockRef(pb)
			kinds := run.NodeKinds()
			for _, u := range bd.Spec.UnsupportedKinds(kinds) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Node kind not supported by the runner",
					Detail: fmt.Sprintf("Node %q%s has kind %q, but runner plugin %s runs only: %s.", u.Node, variantSuffix(u.Variant), u.Kind,
						pb.Plugin, strings.Join(sorted(kinds), ", ")),
					Subject: cfg.KindRange(bd.Spec.Workflow.Name, u.Node, u.Variant)})
			}
			cfgJSON, d := pb.DecodeBody(run.Info().Schema)
			diags = append(diags, d...)
			if !d.HasErrors() {
				r.runner.Config = cfgJSON
				configure := run.Validate
				if keep {
					configure = run.Configure
				}
				sd, err := configure(ctx, cfgJSON)
				if err != nil {
					return fail(runtimeErr("%w", err))
				}
				diags = append(diags, pb.PluginDiagnostics(sd)...)
			}
		}
	}
	if bd.Environment == nil {
		diags = append(diags, variantEnvironmentDiags(cfg, bd.Spec, "", nil)...)
	}
	if pb := bd.Environment; pb != nil {
		if sp, ok := find(pb); ok {
			env, err := pluginhost.LaunchEnvironment(ctx, sp)
			if err != nil {
				return fail(startErr(pb, err))
			}
			ps.Env = env
			ref := blockRef(pb)
			for _, a := range env.Info().Schema.Attributes {
				ref.Settings = append(ref.Settings, a.Name)
			}
			diags = append(diags, variantEnvironmentDiags(cfg, bd.Spec, pb.Plugin, ref.Settings)...)
			cfgJSON, d := pb.DecodeBody(env.Info().Schema)
			diags = append(diags, d...)
			if !d.HasErrors() {
				ref.Config = cfgJSON
				sd, err := env.Configure(ctx, cfgJSON)
				if err != nil {
					return fail(runtimeErr("%w", err))
				}
				diags = append(diags, pb.PluginDiagnostics(sd)...)
			}
			r.env = &ref
		}
	}
	if diags.HasErrors() || !keep {
		ps.Close()
		return nil, r, diags, nil
	}
	return ps, r, diags, nil
}

// startFromSpec launches the plugins a stored batch used (resume, fork).
func (a *App) startFromSpec(ctx context.Context, b *spec.Batch, bus *events.Bus) (*Plugins, error) {
	dirs := a.PluginDirs(b.PluginDir)
	ps := &Plugins{}
	fail := func(err error) (*Plugins, error) {
		ps.Close()
		return nil, runtimeErr("%w", err)
	}
	rs, err := a.pluginSpec(dirs, b.Dir, pluginhost.KindRunner, b.Runner, bus)
	if err != nil {
		return fail(err)
	}
	if ps.Runner, err = pluginhost.LaunchRunner(ctx, rs); err != nil {
		return fail(err)
	}
	if bad := b.UnsupportedKinds(ps.Runner.NodeKinds()); len(bad) > 0 {
		return fail(fmt.Errorf("runner plugin %s no longer runs node kind %q (node %q%s); it runs: %s", b.Runner.Plugin,
			bad[0].Kind, bad[0].Node, variantSuffix(bad[0].Variant), strings.Join(sorted(ps.Runner.NodeKinds()), ", ")))
	}
	d, err := ps.Runner.Configure(ctx, b.Runner.Config)
	if err == nil && d.HasErrors() {
		err = fmt.Errorf("runner plugin %s rejects the stored configuration: %v", b.Runner.Plugin, d[0].Error())
	}
	if err != nil {
		return fail(err)
	}
	if b.Environment != nil {
		es, err := a.pluginSpec(dirs, b.Dir, pluginhost.KindEnvironment, *b.Environment, bus)
		if err == nil {
			ps.Env, err = pluginhost.LaunchEnvironment(ctx, es)
		}
		if err == nil {
			var sd = d
			sd, err = ps.Env.Configure(ctx, b.Environment.Config)
			if err == nil && sd.HasErrors() {
				err = fmt.Errorf("environment plugin %s rejects the stored configuration: %v", b.Environment.Plugin, sd[0].Error())
			}
		}
		if err != nil {
			return fail(err)
		}
	}
	return ps, nil
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func variantSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " (variant " + v + ")"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// variantEnvironmentDiags checks the keys of each variant's environment
// object against the provider: a key that is not one of its settings is an
// environment variable, so its value must be a string — anything else is a
// mistyped setting, refused now rather than when the environment is made.
func variantEnvironmentDiags(cfg *config.Config, b *spec.Batch, plugin string, settings []string) hcl.Diagnostics {
	known := map[string]bool{}
	for _, s := range settings {
		known[s] = true
	}
	var diags hcl.Diagnostics
	for _, n := range b.Workflow.Nodes {
		for _, v := range n.Variants {
			if plugin == "" && len(v.Environment) > 0 {
				// Nothing would apply it: say so rather than run without it.
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Environment without an environment block",
					Detail: fmt.Sprintf("Variant %q of node %q sets an environment, but batch_test %q has no environment block to apply it; "+
						"add environment = environment.NAME (an environment \"local\" block for environment variables).", v.Name, n.Name, b.Name),
					Subject: cfg.EnvironmentRange(b.Workflow.Name, n.Name, v.Name)})
				continue
			}
			for _, k := range sorted(keysOf(v.Environment)) {
				if known[k] {
					continue
				}
				meant := suggest.Closest(k, settings)
				if _, isString := v.Environment[k].(string); isString {
					// A string is an environment variable, unless it is a
					// misspelt setting (working_dri): say so, as a warning,
					// since MODLE may be a variable on purpose.
					if meant != "" && strings.ToLower(k) == k {
						diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Environment variable or misspelt setting?",
							Detail: fmt.Sprintf("Variant %q of node %q sets %q, which is not a setting of environment plugin %s, so it becomes an environment variable. Did you mean %q?",
								v.Name, n.Name, k, plugin, meant),
							Subject: cfg.EnvironmentRange(b.Workflow.Name, n.Name, v.Name)})
					}
					continue
				}
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown environment setting",
					Detail: fmt.Sprintf("Variant %q of node %q sets %q, which is not a setting of environment plugin %s (it has: %s); "+
						"other keys are environment variables, whose values are strings.%s", v.Name, n.Name, k, plugin, strings.Join(sorted(settings), ", "),
						suggest.DidYouMean(k, settings)),
					Subject: cfg.EnvironmentRange(b.Workflow.Name, n.Name, v.Name)})
			}
		}
	}
	return diags
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
