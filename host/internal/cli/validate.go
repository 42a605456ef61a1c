package cli

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/spec"
)

func (a *app) validateCommand() *cobra.Command {
	var vars []string
	var noPlugins, strict bool
	var format string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a bench file and its plugin blocks, reporting every problem at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			if format == "json" {
				return a.validateJSON(cmd.Context(), args[0], vars, !noPlugins, strict)
			}
			vm, err := parseVars(vars)
			if err != nil {
				return exitf(ExitConfig, "%v", err)
			}
			cfg, loaded, err := application.Load(args[0], vm)
			if cfg != nil {
				a.printDiagnostics(cfg.Files(), loaded)
			}
			if err != nil {
				return a.failed(err)
			}
			diags, err := a.bench().Validate(cmd.Context(), cfg, !noPlugins)
			a.printDiagnostics(cfg.Files(), diags)
			if err != nil {
				return a.failed(err)
			}
			if n := warnings(append(loaded, diags...)); strict && n > 0 {
				return exitf(ExitConfig, "%s has %s (--strict fails on warnings)", args[0], plural(n, "warning", "warnings"))
			}
			for _, bd := range cfg.Batches {
				b := bd.Spec
				fmt.Fprintf(a.stdout, "batch_test %q: %s × %s × %d repeat = %s\n", b.Name,
					plural(len(b.Combinations), "combination", "combinations"), plural(len(b.Cases), "case", "cases"),
					b.Repeat, plural(b.Total(), "execution", "executions"))
			}
			fmt.Fprintf(a.stdout, "%s is valid.\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value")
	cmd.Flags().BoolVar(&noPlugins, "no-plugins", false, "skip launching plugins to check their blocks")
	cmd.Flags().BoolVar(&strict, "strict", false, "fail (exit 2) on warnings too, e.g. an expect path that matches no case")
	cmd.Flags().StringVar(&format, "format", "text", "text or json (diagnostics on stdout, like terraform validate -json; schema: wtb schema validate)")
	return cmd
}

// validateJSON prints validate's outcome as one document; the exit code is
// the same as in text mode.
func (a *app) validateJSON(ctx context.Context, path string, vars []string, plugins, strict bool) error {
	vm, err := parseVars(vars)
	if err != nil {
		return exitf(ExitConfig, "%v", err)
	}
	cfg, diags, err := application.Load(path, vm)
	if err == nil {
		var more hcl.Diagnostics
		more, err = a.bench().Validate(ctx, cfg, plugins)
		diags = append(diags, more...)
	}
	if err != nil && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: oneLine(err)})
	}
	var specs []*spec.Batch
	if cfg != nil {
		for _, bd := range cfg.Batches {
			specs = append(specs, bd.Spec)
		}
	}
	out := jsondoc.ValidateOf(path, diags, specs)
	if strict && out.WarningCount > 0 {
		out.Valid = false // what the exit code says
	}
	if werr := jsondoc.Write(a.stdout, out); werr != nil {
		return exitf(ExitRuntime, "%v", werr)
	}
	if err != nil {
		code := ExitConfig
		if application.KindOf(err) == application.KindRuntime {
			code = ExitRuntime
		}
		return exitCode(code)
	}
	if strict && warnings(diags) > 0 {
		return exitCode(ExitConfig)
	}
	return nil
}

// warnings counts the warnings among diags.
func warnings(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			n++
		}
	}
	return n
}
