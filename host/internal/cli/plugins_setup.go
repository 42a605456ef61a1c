package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/diagnostic"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/pluginhost"
	"github.com/wtbench/wtb/host/internal/spec"
)

// killPlugins kills every plugin process started by this host, with all they
// started, at once.
func killPlugins() { pluginhost.KillAll() }

// printDiagnostics renders diagnostics with file:line:col and a source snippet.
func (a *app) printDiagnostics(files map[string]*hcl.File, diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	diagnostic.Write(a.stderr, files, diags, diagnostic.Options{Color: !a.noColor && isTerminal(a.stderr)})
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func (a *app) searchPath(fromFile string) []string {
	dirs := pluginhost.SearchPath(fromFile)
	if a.pluginDir != "" {
		dirs = append(pluginhost.SearchPath(a.pluginDir)[:1], dirs...)
	}
	return dirs
}

// plugins are the plugin processes of one batch.
type plugins struct {
	runner *pluginhost.Runner
	env    *pluginhost.Environment
}

func (p *plugins) close() {
	if p == nil {
		return
	}
	if p.runner != nil {
		_ = p.runner.Close(context.Background())
	}
	if p.env != nil {
		_ = p.env.Close(context.Background())
	}
}

func (a *app) pluginSpec(dirs []string, kind pluginhost.Kind, ref spec.PluginRef, bus *events.Bus) (pluginhost.Spec, error) {
	path, err := pluginhost.Find(dirs, kind, ref.Plugin)
	if err != nil {
		return pluginhost.Spec{}, err
	}
	prefix := "runner-"
	if kind == pluginhost.KindEnvironment {
		prefix = "env-"
	}
	return pluginhost.Spec{Name: prefix + ref.Plugin, Path: path, SHA256: ref.SHA256, StartTimeout: ref.StartTimeout.D(),
		Config: ref.Config, Logger: a.log, HostVersion: Version,
		OnEvent: func(e pluginhost.Event) { publishPluginEvent(bus, e) }}, nil
}

func publishPluginEvent(bus *events.Bus, e pluginhost.Event) {
	if bus == nil {
		return
	}
	typ := map[pluginhost.EventType]events.Type{
		pluginhost.PluginStarted: events.PluginStarted, pluginhost.PluginCrashed: events.PluginCrashed,
		pluginhost.PluginRestarted: events.PluginRestarted, pluginhost.PluginStopped: events.PluginStopped,
		pluginhost.PluginGaveUp: events.PluginGaveUp,
	}[e.Type]
	msg := fmt.Sprintf("plugin %s %s", e.Plugin, e.Type)
	if e.Pid > 0 {
		msg = fmt.Sprintf("plugin %s (pid %d) %s", e.Plugin, e.Pid, e.Type)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	bus.Publish(events.Event{Type: typ, Plugin: e.Plugin, Message: msg})
}

// startPluginsFromConfig launches the batch's plugins, decodes their blocks
// against the schemas they declare and configures them (keep) or only
// validates the configuration (!keep, the plugins are then stopped). Problems
// with the blocks come back as diagnostics pointing into the bench file.
func (a *app) startPluginsFromConfig(ctx context.Context, cfg *config.Config, bd *config.BatchDecl, bus *events.Bus, keep bool) (*plugins, hcl.Diagnostics, error) {
	dirs := a.searchPath(cfg.PluginDir)
	bd.Spec.PluginDir = cfg.PluginDir
	ps := &plugins{}
	var diags hcl.Diagnostics
	launch := func(pb *config.PluginBlock) (pluginhost.Spec, bool) {
		ref := spec.PluginRef{Block: pb.Label, Plugin: pb.Plugin, SHA256: pb.SHA256, StartTimeout: spec.Duration(pb.StartTimeout)}
		sp, err := a.pluginSpec(dirs, pluginhost.Kind(pb.Kind), ref, bus)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plugin not found", Detail: err.Error(), Subject: pb.PluginRange.Ptr()})
			return sp, false
		}
		return sp, true
	}
	// A plugin that cannot start is a runtime failure (exit 3), not a mistake
	// in the file: one line, naming where the block is.
	var startErr error
	pluginError := func(pb *config.PluginBlock, err error) {
		if startErr == nil {
			startErr = fmt.Errorf("%s:%d:%d: %w", pb.PluginRange.Filename, pb.PluginRange.Start.Line, pb.PluginRange.Start.Column, err)
		}
	}

	if pb := bd.Runner; pb != nil {
		if sp, ok := launch(pb); ok {
			r, err := pluginhost.LaunchRunner(ctx, sp)
			if err != nil {
				pluginError(pb, err)
			} else {
				ps.runner = r
				bd.Spec.Runner = spec.PluginRef{Block: pb.Label, Plugin: pb.Plugin, SHA256: pb.SHA256, StartTimeout: spec.Duration(pb.StartTimeout)}
				kinds := r.NodeKinds()
				for _, u := range bd.Spec.UnsupportedKinds(kinds) {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Node kind not supported by the runner",
						Detail: fmt.Sprintf("Node %q%s has kind %q, but runner plugin %s runs only: %s.", u.Node, variantSuffix(u.Variant), u.Kind,
							pb.Plugin, strings.Join(sortedCopy(kinds), ", ")),
						Subject: cfg.KindRange(bd.Spec.Workflow.Name, u.Node, u.Variant)})
				}
				cfgJSON, d := pb.DecodeBody(r.Info().Schema)
				diags = append(diags, d...)
				if !d.HasErrors() {
					bd.Spec.Runner.Config = cfgJSON
					configure := r.Validate
					if keep {
						configure = r.Configure
					}
					sd, err := configure(ctx, cfgJSON)
					if err != nil {
						ps.close()
						return nil, diags, err
					}
					diags = append(diags, pb.PluginDiagnostics(sd)...)
				}
			}
		}
	}
	if pb := bd.Environment; pb != nil {
		if sp, ok := launch(pb); ok {
			e, err := pluginhost.LaunchEnvironment(ctx, sp)
			if err != nil {
				pluginError(pb, err)
			} else {
				ps.env = e
				ref := &spec.PluginRef{Block: pb.Label, Plugin: pb.Plugin, SHA256: pb.SHA256, StartTimeout: spec.Duration(pb.StartTimeout)}
				cfgJSON, d := pb.DecodeBody(e.Info().Schema)
				diags = append(diags, d...)
				if !d.HasErrors() {
					ref.Config = cfgJSON
					sd, err := e.Configure(ctx, cfgJSON)
					if err != nil {
						ps.close()
						return nil, diags, err
					}
					diags = append(diags, pb.PluginDiagnostics(sd)...)
				}
				bd.Spec.Environment = ref
			}
		}
	}
	if startErr != nil {
		ps.close()
		return nil, diags, startErr
	}
	if diags.HasErrors() || !keep {
		ps.close()
		return nil, diags, nil
	}
	return ps, diags, nil
}

// startPluginsFromSpec launches the plugins a stored batch used (resume, fork).
func (a *app) startPluginsFromSpec(ctx context.Context, b *spec.Batch, bus *events.Bus) (*plugins, error) {
	dirs := a.searchPath(b.PluginDir)
	ps := &plugins{}
	rs, err := a.pluginSpec(dirs, pluginhost.KindRunner, b.Runner, bus)
	if err != nil {
		return nil, err
	}
	if ps.runner, err = pluginhost.LaunchRunner(ctx, rs); err != nil {
		return nil, err
	}
	if bad := b.UnsupportedKinds(ps.runner.NodeKinds()); len(bad) > 0 {
		ps.close()
		return nil, fmt.Errorf("runner plugin %s no longer runs node kind %q (node %q%s); it runs: %s", b.Runner.Plugin,
			bad[0].Kind, bad[0].Node, variantSuffix(bad[0].Variant), strings.Join(sortedCopy(ps.runner.NodeKinds()), ", "))
	}
	d, err := ps.runner.Configure(ctx, b.Runner.Config)
	if err == nil && d.HasErrors() {
		err = fmt.Errorf("runner plugin %s rejects the stored configuration: %v", b.Runner.Plugin, d[0].Error())
	}
	if err != nil {
		ps.close()
		return nil, err
	}
	if b.Environment != nil {
		es, err := a.pluginSpec(dirs, pluginhost.KindEnvironment, *b.Environment, bus)
		if err == nil {
			ps.env, err = pluginhost.LaunchEnvironment(ctx, es)
		}
		if err == nil {
			sd, cerr := ps.env.Configure(ctx, b.Environment.Config)
			err = cerr
			if err == nil && sd.HasErrors() {
				err = fmt.Errorf("environment plugin %s rejects the stored configuration: %v", b.Environment.Plugin, sd[0].Error())
			}
		}
		if err != nil {
			ps.close()
			return nil, err
		}
	}
	return ps, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func variantSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " (variant " + v + ")"
}
