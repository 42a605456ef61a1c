package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/store"
)

func (a *app) planCommand() *cobra.Command {
	var batch, format string
	var vars []string
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show what a batch would run: executions, and node runs without sharing, with sharing and from the cache",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTextJSON(format); err != nil {
				return err
			}
			cfg, err := a.loadConfig(args[0], vars)
			if err != nil {
				return err
			}
			bd, err := cfg.Batch(batch)
			if err != nil {
				return exitf(ExitConfig, "%v", err)
			}
			b := bd.Spec
			// A plan only reads: no database yet means an empty cache.
			st, err := application.OpenReader(cmd.Context(), a.databaseURL(cfg.Database))
			switch {
			case errors.Is(err, application.ErrNoDatabase):
				st = nil
			case err != nil:
				return exitf(ExitRuntime, "opening the database: %v", oneLine(err))
			default:
				defer st.Close()
			}
			v := application.Plan(cmd.Context(), st, b)
			if format == "json" {
				return jsondoc.Write(a.stdout, jsondoc.PlanOf(v))
			}
			fmt.Fprintf(a.stdout, "batch_test %q: %d combinations × %d cases × %d repeats = %d executions\n",
				b.Name, len(b.Combinations), len(b.Cases), b.Repeat, v.Counts.Executions)
			sharing := "on"
			if !b.SharePrefixes {
				sharing = "off (share_prefixes = false)"
			}
			fmt.Fprintf(a.stdout, "prefix sharing: %s; runner requests (segments): %d\n", sharing, v.Counts.Segments)
			if ad := b.Adaptive; ad != nil {
				per := len(b.Cases) * len(b.Combinations)
				fmt.Fprintf(a.stdout, "adaptive repeats: %d to %d per combination, until the 95%% CI half-width of its mean is ≤ %g: between %d and %d executions (the counts below are the most)\n",
					ad.Min, b.Repeat, ad.CIHalfWidth, ad.Min*per, b.Repeat*per)
			}
			if r := b.Racing; r != nil {
				fmt.Fprintf(a.stdout, "racing: after %d cases, a combination worse than the best with %s confidence stops (the counts below are the most)\n",
					r.MinCases, numfmt.Percent(r.Confidence))
			}
			fmt.Fprintln(a.stdout)
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tVARIANTS\tRUNS WITHOUT SHARING\tRUNS WITH SHARING\tFROM CACHE\tCACHE")
			var tu, ts, tc int
			for i, s := range v.Counts.Nodes {
				n := b.Workflow.Nodes[i]
				c := v.FromCache[i]
				cacheOn := b.Cache
				if n.Cache != nil {
					cacheOn = *n.Cache
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%v\n", s.Node, len(n.Variants), s.Unshared, s.Shared, c, cacheOn)
				tu, ts, tc = tu+s.Unshared, ts+s.Shared, tc+c
			}
			fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t\n", tu, ts, tc)
			_ = tw.Flush()
			if ts > 0 {
				fmt.Fprintf(a.stdout, "\nto run: %d node runs (%s of %d)\n", ts-tc, numfmt.Percent(float64(ts-tc)/float64(tu)), tu)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&batch, "batch", "", "which batch_test when the file has several")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value")
	cmd.Flags().StringVar(&format, "format", "text", "text or json (schema: wtb schema plan)")
	return cmd
}

func (a *app) cacheCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cache", Short: "Inspect or clear the node cache"}
	var statsFormat, clearFormat string
	stats := &cobra.Command{
		Use:   "stats",
		Short: "How many node runs the cache holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTextJSON(statsFormat); err != nil {
				return err
			}
			return a.reading(cmd.Context(), func(ctx context.Context, st store.Store) error {
				s, err := st.Checkpoints().CacheStats(ctx)
				if err != nil {
					return exitf(ExitRuntime, "%v", err)
				}
				if statsFormat == "json" {
					return jsondoc.Write(a.stdout, jsondoc.CacheStatsOf(st.Describe(), s))
				}
				fmt.Fprintf(a.stdout, "node cache in %s: %d entries from %s, %.1f MiB of state\n", st.Describe(), s.Entries,
					plural(s.Batches, "batch", "batches"), float64(s.Bytes)/(1<<20))
				return nil
			})
		},
	}
	stats.Flags().StringVar(&statsFormat, "format", "text", "text or json (schema: wtb schema cache_stats)")
	clearCmd := &cobra.Command{
		Use:   "clear",
		Short: "Forget every cache entry (checkpoints stay for inspection)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTextJSON(clearFormat); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context(), "")
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := st.Checkpoints().ClearCache(cmd.Context())
			if err != nil {
				return exitf(ExitRuntime, "%v", err)
			}
			if clearFormat == "json" {
				return jsondoc.Write(a.stdout, jsondoc.CacheClearedOf(st.Describe(), n))
			}
			fmt.Fprintf(a.stdout, "cleared %s\n", plural(n, "cache entry", "cache entries"))
			return nil
		},
	}
	clearCmd.Flags().StringVar(&clearFormat, "format", "text", "text or json (schema: wtb schema cache_cleared)")
	cmd.AddCommand(stats, clearCmd)
	return cmd
}
