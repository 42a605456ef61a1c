package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
)

func (a *app) pluginsCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the plugins wtb finds, with kind, version and protocol versions",
		Long: `List the plugins wtb finds on its search path (--plugin-dir, $WTB_PLUGIN_PATH,
bin/plugins beside wtb), starting each one to read its version, protocol
versions and capabilities. ` + "`wtb plugins describe NAME`" + ` shows a plugin's
configuration attributes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			dirs, found := a.bench().Plugins(cmd.Context())
			if format == "json" {
				d := jsondoc.Plugins{Header: jsondoc.Header{FormatVersion: jsondoc.FormatVersion, Kind: jsondoc.KindPlugins}, SearchPath: dirs, Plugins: []jsondoc.Plugin{}}
				for _, p := range found {
					d.Plugins = append(d.Plugins, jsondoc.PluginOf(p))
				}
				return jsondoc.Write(a.stdout, d)
			}
			fmt.Fprintf(a.stdout, "Searched: %s\n\n", strings.Join(dirs, ", "))
			if len(found) == 0 {
				fmt.Fprintln(a.stdout, "No plugins found. Build them with `make build`, or point --plugin-dir or WTB_PLUGIN_PATH at them.")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tPROTOCOL\tCAPABILITIES\tPATH")
			for _, c := range found {
				version, protocols, caps := describePlugin(c)
				name := c.Name
				if c.Shadowed {
					name += " (shadowed)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, c.Kind, version, protocols, caps, c.Path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.AddCommand(a.pluginsDescribeCommand())
	return cmd
}

func (a *app) pluginsDescribeCommand() *cobra.Command {
	var format, kind string
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a plugin's configuration attributes: type, default, description",
		Example: `  wtb plugins describe pool
  wtb plugins describe local --kind environment`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			c, err := a.bench().DescribePlugin(cmd.Context(), args[0], kind)
			if err != nil {
				if application.KindOf(err) == application.KindConfig {
					return a.failed(err)
				}
				return exitf(ExitRuntime, "%v", oneLine(err))
			}
			d := jsondoc.PluginSchemaOf(c)
			if format == "json" {
				return jsondoc.Write(a.stdout, d)
			}
			block := "runner"
			if c.Kind == application.PluginEnvironment {
				block = "environment"
			}
			fmt.Fprintf(a.stdout, "%s %q — %s %s\n", block, c.Name, c.Path, d.Plugin.Version)
			if d.Plugin.Description != "" {
				fmt.Fprintf(a.stdout, "%s\n", d.Plugin.Description)
			}
			fmt.Fprintf(a.stdout, "\n%s \"NAME\" {\n  plugin = %q\n", block, c.Name)
			for _, at := range d.Attributes {
				note := at.Type
				switch {
				case at.Required:
					note += ", required"
				case at.Sensitive:
					note += ", sensitive"
				case string(at.Default) != "null":
					note += ", default " + string(at.Default)
				}
				if at.Description != "" {
					note += ": " + at.Description
				}
				fmt.Fprintf(a.stdout, "  %-20s # %s\n", at.Name, note)
			}
			fmt.Fprintln(a.stdout, "}")
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.Flags().StringVar(&kind, "kind", "", "runner or environment, when both kinds have a plugin of that name")
	return cmd
}

// describePlugin is a found plugin's VERSION, PROTOCOL and CAPABILITIES
// columns.
func describePlugin(d application.FoundPlugin) (version, protocols, caps string) {
	if d.Err != nil {
		return "error", "-", oneLine(d.Err)
	}
	if d.Kind == application.PluginRunner {
		caps = "kinds=" + strings.Join(sortedCopy(d.NodeKinds), ",")
	}
	var pv []string
	for _, v := range d.Info.ProtocolVersions {
		pv = append(pv, fmt.Sprint(v))
	}
	caps = joinNonEmpty(" ", strings.Join(d.Info.Capabilities, ","), caps)
	if caps == "" {
		caps = "-"
	}
	return d.Info.Version, fmt.Sprintf("%s (negotiated %d)", strings.Join(pv, ","), d.Negotiated), caps
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func (a *app) searchPath(fromFile string) []string {
	return application.PluginSearchPath(a.pluginDir, fromFile)
}
