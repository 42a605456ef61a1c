package application

import (
	"context"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"

	"github.com/wtbench/wtb/sdk"
)

// eventHistory bounds the events a bus keeps for queries.
const eventHistory = 10000

// Load reads a bench file. Its diagnostics (warnings too) come back whatever
// happens, for the caller to show with Config.Files; the error is set when
// they include errors.
func Load(path string, vars map[string]string) (*config.Config, hcl.Diagnostics, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, nil, configErr("%v.%s", err, suggest.File("", path))
	}
	cfg, diags := config.Load(path, config.Options{Vars: vars})
	if diags.HasErrors() {
		return cfg, diags, configErr("%s has %s", path, plural(errorCount(diags), "error", "errors"))
	}
	return cfg, diags, nil
}

func errorCount(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// Prepared is a batch ready to run: its plugins started and configured, its
// spec resolved against what they can do, its evaluators compiled. Everything
// that can be checked before a run has been.
type Prepared struct {
	Config *config.Config
	// Spec is the batch as it will run and be stored. It is the prepared
	// batch's own (the Config's declarations are left as they were) and is
	// not changed after Prepare.
	Spec      *spec.Batch
	Plugins   *Plugins
	Bus       *events.Bus
	Evaluator *eval.Evaluator
}

// Close stops the plugins.
func (p *Prepared) Close() { p.Plugins.Close() }

// PrepareOptions choose what to prepare.
type PrepareOptions struct {
	// Batch names the batch_test ("" when the file has one).
	Batch string
	// Runner, when set, runs the batch on this runner block instead of its own
	// (parity).
	Runner string
}

// Prepare starts a batch's plugins, checks their blocks and the node kinds,
// and resolves the batch spec. Diagnostics point into the bench file; a
// plugin that fails to start is a runtime error.
func (a *App) Prepare(ctx context.Context, cfg *config.Config, opts PrepareOptions) (*Prepared, hcl.Diagnostics, error) {
	bd, err := cfg.Batch(opts.Batch)
	if err != nil {
		return nil, nil, configErr("%v", err)
	}
	if opts.Runner != "" {
		pb, ok := cfg.Runners[opts.Runner]
		if !ok {
			return nil, nil, unknownRunner(cfg, opts.Runner)
		}
		decl := *bd
		decl.Runner = pb
		bd = &decl
	}
	bus := events.New(eventHistory)
	ps, r, diags, err := a.startFromBlocks(ctx, cfg, bd, bus, true)
	if err != nil {
		return nil, diags, err
	}
	if diags.HasErrors() {
		return nil, diags, configErr("%s has %s", cfg.Path, plural(errorCount(diags), "error", "errors"))
	}
	b := *bd.Spec
	b.PluginDir, b.Runner, b.Environment = cfg.PluginDir, r.runner, r.env
	if b.SharePrefixes && !ps.Runner.HasCapability(sdk.CapabilityStartState) {
		a.notice("note: runner plugin %s cannot start from a checkpoint; prefix sharing is off", b.Runner.Plugin)
		b.SharePrefixes = false
	}
	ev, err := eval.Compile(&b)
	if err != nil {
		ps.Close()
		return nil, diags, configErr("%v", err)
	}
	return &Prepared{Config: cfg, Spec: &b, Plugins: ps, Bus: bus, Evaluator: ev}, diags, nil
}

// unknownRunner is the error for a runner block name the file does not
// declare (wtb parity --runners).
func unknownRunner(cfg *config.Config, name string) error {
	names := spec.SortedKeys(cfg.Runners)
	return configErr("%s declares no runner %q (it has: %s).%s", cfg.Path, name, strings.Join(names, ", "), suggest.DidYouMean(name, names))
}

// Validate checks every batch of a loaded file; with plugins it also starts
// each batch's plugins to check their blocks and node kinds, then stops them.
func (a *App) Validate(ctx context.Context, cfg *config.Config, plugins bool) (hcl.Diagnostics, error) {
	var diags hcl.Diagnostics
	for _, bd := range cfg.Batches {
		if plugins {
			_, _, d, err := a.startFromBlocks(ctx, cfg, bd, nil, false)
			diags = append(diags, d...)
			if err != nil {
				return diags, err
			}
		}
		if _, err := eval.Compile(bd.Spec); err != nil {
			return diags, configErr("%v", err)
		}
	}
	if diags.HasErrors() {
		return diags, configErr("%s has %s", cfg.Path, plural(errorCount(diags), "error", "errors"))
	}
	return diags, nil
}
