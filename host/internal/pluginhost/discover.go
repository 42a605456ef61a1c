// Package pluginhost finds, launches, configures and supervises WTB plugins.
package pluginhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/client"
)

// Kind is the kind of a plugin binary.
type Kind = client.Kind

// Plugin kinds.
const (
	KindRunner      = client.KindRunner
	KindEnvironment = client.KindEnvironment
)

// KillAll kills every plugin this process started, with all they started, at
// once (an emergency exit).
func KillAll() { client.KillAll() }

// Candidate is a plugin binary found on disk.
type Candidate struct {
	Kind client.Kind
	Name string // short name: "pool" for wtb-runner-pool
	Path string
	// Shadowed is set when an earlier directory holds a plugin of the same kind and name.
	Shadowed bool
}

// SearchPath is the ordered list of directories searched for plugins: the
// configured plugin_dir, then $WTB_PLUGIN_PATH, then bin/plugins beside the wtb
// binary. The first directory holding a plugin wins.
func SearchPath(configured string) []string {
	var dirs []string
	add := func(d string) {
		if d == "" {
			return
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		for _, have := range dirs {
			if have == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	add(configured)
	for _, d := range filepath.SplitList(os.Getenv("WTB_PLUGIN_PATH")) {
		add(d)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		add(filepath.Join(filepath.Dir(exe), "plugins"))
	}
	return dirs
}

// Discover lists plugin binaries in dirs, in search order.
func Discover(dirs []string) []Candidate {
	var out []Candidate
	seen := map[string]bool{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			kind, name, ok := parseBinaryName(e.Name())
			if !ok {
				continue
			}
			path := filepath.Join(dir, e.Name())
			info, err := os.Stat(path)
			if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
				continue
			}
			key := string(kind) + "/" + name
			out = append(out, Candidate{Kind: kind, Name: name, Path: path, Shadowed: seen[key]})
			seen[key] = true
		}
	}
	return out
}

func parseBinaryName(file string) (client.Kind, string, bool) {
	switch {
	case strings.HasPrefix(file, sdk.RunnerBinaryPrefix):
		return client.KindRunner, strings.TrimPrefix(file, sdk.RunnerBinaryPrefix), len(file) > len(sdk.RunnerBinaryPrefix)
	case strings.HasPrefix(file, sdk.EnvironmentBinaryPrefix):
		return client.KindEnvironment, strings.TrimPrefix(file, sdk.EnvironmentBinaryPrefix), len(file) > len(sdk.EnvironmentBinaryPrefix)
	}
	return "", "", false
}

// BinaryName is the file name of a plugin.
func BinaryName(kind client.Kind, name string) string {
	if kind == client.KindEnvironment {
		return sdk.EnvironmentBinaryPrefix + name
	}
	return sdk.RunnerBinaryPrefix + name
}

// Find returns the path of a plugin, or an error that says where it looked.
func Find(dirs []string, kind client.Kind, name string) (string, error) {
	for _, c := range Discover(dirs) {
		if c.Kind == kind && c.Name == name && !c.Shadowed {
			return c.Path, nil
		}
	}
	var have []string
	for _, c := range Discover(dirs) {
		if c.Kind == kind && !c.Shadowed {
			have = append(have, c.Name)
		}
	}
	hint := "none are installed"
	if len(have) > 0 {
		hint = "available: " + strings.Join(have, ", ") + "." + suggest.DidYouMean(name, have)
	}
	return "", fmt.Errorf("no %s plugin %q (binary %s) in %s; %s (build them with `make build`, or set plugin_dir or WTB_PLUGIN_PATH)",
		kind, name, BinaryName(kind, name), strings.Join(dirs, ", "), hint)
}

// Description is what a plugin says about itself when launched briefly.
type Description struct {
	Info sdk.Info
	// NodeKinds are a runner's node kinds (empty for an environment provider).
	NodeKinds []string
	// Negotiated is the protocol version the handshake settled on.
	Negotiated int
}

// Describe launches a plugin, reads its info and stops it; its socket goes
// in socketDir (see Spec.SocketDir).
func Describe(ctx context.Context, c Candidate, socketDir string) (Description, error) {
	p, err := client.Launch(client.LaunchConfig{Name: string(c.Kind) + "-" + c.Name, Path: c.Path, Kind: c.Kind, StartTimeout: 10 * time.Second,
		SocketDir: socketDir})
	if err != nil {
		return Description{}, err
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d := Description{Negotiated: p.Version}
	if c.Kind == client.KindRunner {
		d.Info, d.NodeKinds, err = p.Runner().Info(ctx)
	} else {
		d.Info, err = p.Environment().Info(ctx)
	}
	if err != nil {
		return Description{}, fmt.Errorf("plugin %s: GetInfo: %w", c.Path, err)
	}
	return d, nil
}
