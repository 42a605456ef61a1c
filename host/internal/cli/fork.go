package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
)

func (a *app) forkCommand() *cobra.Command {
	f := &runFlags{}
	var from string
	var onlyNew bool
	cmd := &cobra.Command{
		Use:   "fork BATCH_ID --from NODE [FILE]",
		Short: "Re-run only the nodes after NODE, starting from a prior batch's checkpoints",
		Long: `Fork a new batch from the stored checkpoints of BATCH_ID: the nodes up to and
including NODE are not run again; every execution starts from the parent's
checkpoint after NODE and runs only the nodes after it. With FILE the new
batch uses that file's workflow and variants (say, a new prompt variant for
the last node) and its database; without it, the parent's own spec runs again
(new samples of nondeterministic nodes).

The nodes up to NODE must be configured as they were when the parent ran
(command, params, env, scripts, environment): the scripts are compared with
the hashes stored with the parent. Otherwise the fork is refused, naming the
node and file that changed. The new batch records its parent, and
` + "`wtb compare PARENT CHILD`" + ` compares them.

When FILE adds a variant after NODE, the combinations the parent ran as they
are still configured would only run again: --only-new runs just the
combinations that are new (the fork says how many are, and offers it).

The reused node runs keep the stderr and runner lines the parent stored.`,
		Example: `  wtb fork 20261125-101010-1a2b3c4d --from retrieve bench.hcl
  wtb fork 20261125-101010-1a2b3c4d --from retrieve bench.hcl --only-new
  wtb compare 20261125-101010-1a2b3c4d latest --cases`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return exitf(ExitConfig, "wtb fork needs --from NODE: the last node whose checkpoints are reused")
			}
			file := ""
			if len(args) == 2 {
				file = args[1]
			}
			return a.fork(cmd.Context(), application.ForkOptions{Parent: args[0], Node: from, File: file, OnlyNew: onlyNew}, f)
		},
	}
	addRunFlags(cmd, f)
	addRunCIFlags(cmd, f)
	cmd.Flags().StringVar(&from, "from", "", "reuse the checkpoints up to and including this node")
	cmd.Flags().BoolVar(&onlyNew, "only-new", false, "run only the combinations the parent did not run as they are configured now (say, those of a variant FILE adds)")
	return cmd
}

func (a *app) fork(ctx context.Context, o application.ForkOptions, f *runFlags) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	if err := f.ci.check(a); err != nil {
		return err
	}
	file := o.File
	// With FILE, the database is the one that file names (unless --db or
	// WTB_DATABASE_URL say otherwise), as for `wtb run FILE`.
	dbFromFile := ""
	if file != "" {
		cfg, p, err := a.prepare(ctx, file, f)
		if err != nil {
			return err
		}
		defer p.Close()
		o.Prepared, dbFromFile = p, cfg.Database
	}
	st, opts, err := a.openForRun(ctx, dbFromFile, f)
	if err != nil {
		return err
	}
	defer st.Close()
	o.OnNew = func(parent string, news []string, total int) {
		if o.OnlyNew || len(news) == 0 || len(news) == total {
			return
		}
		args := []string{"fork", parent, "--from", o.Node}
		if file != "" {
			args = append(args, file)
		}
		fmt.Fprintf(a.stderr, "%d of %d combinations are new since batch %s (%s); the other %d would run again as the parent ran them: `%s` runs only the new\n",
			len(news), total, parent, strings.Join(news, ", "), total-len(news), a.command(append(args, "--only-new")...))
	}
	out, err := a.bench().Fork(ctx, st, o, opts)
	return a.finish(out, err, st, f)
}
