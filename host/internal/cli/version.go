package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/jsondoc"
)

func (a *app) versionCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the wtb version and the plugin protocol it speaks",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			v := jsondoc.VersionOf(Version)
			if format == "json" {
				return jsondoc.Write(a.stdout, v)
			}
			fmt.Fprintf(a.stdout, "wtb %s (plugin protocol %d, SDK %s, %s %s/%s)\n", v.Version, v.ProtocolVersion, v.SDKVersion,
				v.GoVersion, v.OS, v.Arch)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

func (a *app) schemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema [KIND]",
		Short: "Print the JSON Schema of a --format json document (without KIND: list the kinds)",
		Long: `Every command that prints data can print it as one JSON document
(--format json) with format_version and kind fields. This prints the JSON
Schema (draft 2020-12) a document of that kind follows; refs point at "defs".`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				for _, k := range jsondoc.Kinds {
					fmt.Fprintln(a.stdout, k)
				}
				return nil
			}
			data, err := jsondoc.Schema(args[0])
			if err != nil {
				return unknownValue("document kind", args[0], jsondoc.Kinds)
			}
			_, err = a.stdout.Write(data)
			return err
		},
	}
}
