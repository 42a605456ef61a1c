package application

import (
	"context"
	"slices"

	"github.com/wtbench/wtb/host/internal/pluginhost"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/wtbench/wtb/sdk"
)

// FoundPlugin is a plugin binary on the search path and what it said about
// itself when started briefly (wtb plugins).
type FoundPlugin struct {
	Kind string // "runner" or "environment"
	Name string // short name: "pool" for wtb-runner-pool
	Path string
	// Shadowed is set when an earlier directory holds a plugin of the same
	// kind and name: this one is never used.
	Shadowed bool
	Info     sdk.Info
	// NodeKinds are a runner's node kinds (empty for an environment provider).
	NodeKinds []string
	// Negotiated is the protocol version the handshake settled on.
	Negotiated int
	// Err says why the plugin could not be started and described.
	Err error
}

// Plugin kinds, as FoundPlugin.Kind and the bench file's blocks name them.
const (
	PluginRunner      = string(pluginhost.KindRunner)
	PluginEnvironment = string(pluginhost.KindEnvironment)
)

// PluginSearchPath is where plugins are looked for: first (--plugin-dir) when
// set, then the bench file's plugin_dir (configured), $WTB_PLUGIN_PATH and
// bin/plugins beside the wtb binary.
func PluginSearchPath(first, configured string) []string {
	dirs := pluginhost.SearchPath(configured)
	if first != "" {
		dirs = append(pluginhost.SearchPath(first)[:1], dirs...)
	}
	return dirs
}

// KillPlugins kills every plugin process this host started, with all they
// started, at once: an emergency exit (a second Ctrl-C).
func KillPlugins() { pluginhost.KillAll() }

// Plugins lists the plugins on the search path (App.PluginDirs without a
// bench file), starting each one to describe it; a plugin that cannot be
// described is listed with its error. dirs is the path searched.
func (a *App) Plugins(ctx context.Context) (dirs []string, found []FoundPlugin) {
	dirs = a.PluginDirs("")
	for _, c := range pluginhost.Discover(dirs) {
		d, err := pluginhost.Describe(ctx, c, a.ScratchDir)
		found = append(found, foundPlugin(c, d, err))
	}
	return dirs, found
}

// DescribePlugin starts the plugin named name (of kind, when kind is not
// "") and describes it (wtb plugins describe). A name no plugin has, or one
// that a runner and an environment provider share without kind, is a
// KindConfig error; a plugin that does not start, a KindRuntime one.
func (a *App) DescribePlugin(ctx context.Context, name, kind string) (FoundPlugin, error) {
	cands := pluginhost.Discover(a.PluginDirs(""))
	var found []pluginhost.Candidate
	for _, c := range cands {
		if c.Name == name && !c.Shadowed && (kind == "" || string(c.Kind) == kind) {
			found = append(found, c)
		}
	}
	switch {
	case len(found) == 0:
		var names []string
		for _, c := range cands {
			if !c.Shadowed && !slices.Contains(names, c.Name) {
				names = append(names, c.Name)
			}
		}
		return FoundPlugin{}, configErr("no plugin named %q (wtb plugins lists them).%s", name, suggest.DidYouMean(name, names))
	case len(found) > 1:
		return FoundPlugin{}, configErr("%q names a runner and an environment provider: add --kind runner or --kind environment", name)
	}
	d, err := pluginhost.Describe(ctx, found[0], a.ScratchDir)
	if err != nil {
		return FoundPlugin{}, &Error{Kind: KindRuntime, Err: err}
	}
	return foundPlugin(found[0], d, nil), nil
}

func foundPlugin(c pluginhost.Candidate, d pluginhost.Description, err error) FoundPlugin {
	return FoundPlugin{Kind: string(c.Kind), Name: c.Name, Path: c.Path, Shadowed: c.Shadowed,
		Info: d.Info, NodeKinds: d.NodeKinds, Negotiated: d.Negotiated, Err: err}
}
