package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/store"
)

const retentionHelp = `A batch goes with everything that belongs to it: its results, checkpoints,
audit trail and model-call recordings, in one transaction per batch. Its
node runs leave the node cache, and its recordings leave replay: replay
finds recordings by node run across batches, so a later batch that replays
those node runs needs them recorded again (` + "`wtb cassettes export ID DIR`" + `
keeps them as files first).

Never deleted: a batch that is running (its owner's lease is live; a batch
whose owner is gone — interrupted — can go), and a batch whose checkpoints
a rescored batch reads (a rescore stores scores, not states). Forks copy the
checkpoints they reuse, so a fork stays when its parent goes, detached (no
parent any more). A SQLite database created by this wtb shrinks on disk
after a deletion; one created by an older wtb keeps the space for later
batches until --vacuum rewrites it once. PostgreSQL keeps the space for new
rows (autovacuum); --vacuum runs VACUUM on the tables now.

On PostgreSQL results and checkpoints are partitioned by the month a batch
started: when every batch of a month that is over goes, its partitions are
dropped whole — instant, and the space goes back to the file system — rather
than deleted row by row (--dry-run says which months).`

func (a *app) deleteCommand() *cobra.Command {
	o := application.DeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete BATCH_ID...",
		Short: "Delete batches with their results, checkpoints, audit trail and model-call recordings",
		Long: `Delete the batches named, all or none: if one of them must stay, nothing is
deleted and the error says why. --with-forks deletes the batches derived from
them too (forks and rescores, and theirs).

` + retentionHelp,
		Example: `  wtb delete 20261125-101010-1a2b3c4d --dry-run
  wtb delete 20261125-101010-1a2b3c4d 20261126-090000-5e6f7a8b --with-forks`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o.IDs = args
			return a.retention(ctx, func(st store.Store) (*application.RetentionOutcome, error) { return a.bench().Delete(ctx, st, o) })
		},
	}
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "list what would be deleted, with its rows, and delete nothing")
	cmd.Flags().BoolVar(&o.WithForks, "with-forks", false, "also delete the batches derived from them (forks, rescores, and theirs)")
	cmd.Flags().BoolVar(&o.Vacuum, "vacuum", false, "afterwards rewrite an older SQLite database once so that it gives space back (writers wait meanwhile; refused while a batch runs); PostgreSQL: VACUUM the tables now")
	return cmd
}

func (a *app) gcCommand() *cobra.Command {
	o := application.GCOptions{}
	var olderThan string
	cmd := &cobra.Command{
		Use:   "gc --older-than AGE [--keep-last N] [--dry-run]",
		Short: "Delete the batches older than AGE, keeping the last N of each batch name",
		Long: `Delete the batches created more than AGE ago (30d, 12h, 1d12h, 90m, 2w), except
the N most recent of each batch name (--keep-last: per name, whatever their
age, so a batch that runs rarely keeps its last N beside one that runs
hourly). With --keep-last alone, every batch but the last N of each name
goes. Batches that must stay are listed with why.

` + retentionHelp,
		Example: `  wtb gc --older-than 30d --dry-run
  wtb gc --older-than 30d --keep-last 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			o.OlderThan = -1
			if cmd.Flags().Changed("older-than") {
				d, err := parseAge(olderThan)
				if err != nil {
					return exitf(ExitConfig, "--older-than: %v", err)
				}
				o.OlderThan = d
			}
			return a.retention(ctx, func(st store.Store) (*application.RetentionOutcome, error) { return a.bench().GC(ctx, st, o) })
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "delete batches created more than this long ago: 30d, 12h, 1d12h, 90m, 2w")
	cmd.Flags().IntVar(&o.KeepLast, "keep-last", 0, "keep the N most recent batches of each batch name, whatever their age")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "list what would be deleted (ids, names, ages, rows) and delete nothing")
	cmd.Flags().BoolVar(&o.Vacuum, "vacuum", false, "afterwards rewrite an older SQLite database once so that it gives space back (writers wait meanwhile; refused while a batch runs); PostgreSQL: VACUUM the tables now")
	return cmd
}

// openExisting opens the database for writing but creates no SQLite file:
// deleting from or cancelling in a database that is not there is a wrong
// --db or directory.
func (a *app) openExisting(ctx context.Context) (store.Store, error) {
	url := a.databaseURL("")
	if path, err := application.SQLitePath(url); err == nil {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, exitf(ExitConfig, "no database at %s (point --db at an existing database)", path)
		}
	}
	return a.openStore(ctx, "")
}

// retention opens the database for writing, runs fn and renders what it did.
func (a *app) retention(ctx context.Context, fn func(store.Store) (*application.RetentionOutcome, error)) error {
	st, err := a.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	out, err := fn(st)
	if out != nil {
		a.writeRetention(out)
	}
	if err != nil {
		return a.failed(err)
	}
	return nil
}

func (a *app) writeRetention(out *application.RetentionOutcome) {
	verb := "deleted"
	if out.DryRun {
		verb = "would delete"
	}
	w := a.stdout
	switch {
	case len(out.Deleted) == 0:
		fmt.Fprintf(w, "nothing to delete")
		if out.DryRun {
			fmt.Fprint(w, " (dry run)")
		}
		fmt.Fprintln(w)
	default:
		fmt.Fprintf(w, "%s %s", verb, plural(len(out.Deleted), "batch", "batches"))
		if out.DryRun {
			fmt.Fprint(w, " (dry run: nothing is deleted)")
		}
		fmt.Fprintln(w, ":")
		a.retentionTable(out)
	}
	if out.Protected > 0 {
		fmt.Fprintf(w, "kept by --keep-last: %s\n", plural(out.Protected, "batch", "batches"))
	}
	if len(out.Kept) > 0 {
		fmt.Fprintf(w, "kept %s:\n", plural(len(out.Kept), "batch", "batches"))
		for _, d := range out.Kept {
			fmt.Fprintf(w, "  %s  %s: %s\n", d.Batch.ID, d.Batch.Name, d.Kept)
		}
	}
	for _, d := range out.Deleted {
		if len(d.Detached) > 0 {
			fmt.Fprintf(w, "%s of batch %s stay%s, detached from it: %s\n", plural(len(d.Detached), "fork", "forks"), d.Batch.ID,
				map[bool]string{true: "", false: "s"}[len(d.Detached) > 1], strings.Join(d.Detached, ", "))
		}
	}
	for _, p := range out.Partitions {
		month := p.Month[:4] + "-" + p.Month[4:]
		if out.DryRun {
			fmt.Fprintf(w, "every batch started in %s goes (%s): its partitions %s would be dropped whole rather than deleted row by row\n",
				month, plural(len(p.Batches), "batch", "batches"), strings.Join(p.Tables, ", "))
			continue
		}
		fmt.Fprintf(w, "dropped the partitions of %s (%s, every batch started that month) rather than deleting row by row: %s\n",
			month, plural(len(p.Batches), "batch", "batches"), p.Rows)
	}
	if len(out.Deleted) > 1 {
		fmt.Fprintf(w, "in all: %s\n", out.Rows)
	}
	if out.Rows[store.ModelCalls.Name] > 0 {
		fmt.Fprintf(w, "the %s go with their batches: a later replay of those node runs needs them recorded again (`wtb cassettes export ID DIR` keeps a batch's as files)\n",
			store.RowsName(store.ModelCalls.Name, out.Rows[store.ModelCalls.Name]))
	}
	if r := out.Reclaimed; r != nil {
		fmt.Fprintf(w, "database on disk: %s → %s", size(r.Before), size(r.After))
		if r.Free > 0 {
			fmt.Fprintf(w, ", %s free inside it", size(r.Free))
		}
		fmt.Fprintf(w, " (%s)\n", r.Note)
	}
}

// retentionTable lists the batches deleted (or to delete) with their rows.
func (a *app) retentionTable(out *application.RetentionOutcome) {
	tables := store.RowCounts{}
	for _, d := range out.Deleted {
		for t := range d.Rows {
			tables[t] += 0
		}
	}
	cols := tables.Tables()
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	head := []string{"BATCH", "NAME", "STATUS", "CREATED", "AGE"}
	for _, t := range cols {
		head = append(head, strings.ToUpper(store.RowsName(t, 2)))
	}
	fmt.Fprintln(tw, "  "+strings.Join(head, "\t"))
	now := time.Now()
	for _, d := range out.Deleted {
		b := d.Batch
		row := []string{b.ID, b.Name, application.DisplayStatus(&b), numfmt.Date(b.CreatedAt), age(now.Sub(b.CreatedAt))}
		for _, t := range cols {
			if d.Partition != "" && !out.DryRun {
				row = append(row, "(partition)") // counted with its month below
				continue
			}
			row = append(row, strconv.FormatInt(d.Rows[t], 10))
		}
		fmt.Fprintln(tw, "  "+strings.Join(row, "\t"))
	}
	_ = tw.Flush()
}

// age is a duration as a user reads an age: 45d, 3h, 12m, 40s.
func age(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int(max(d, 0)/time.Second))
}

// size is a size in KiB, MiB or GiB with one decimal.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

var ageUnits = map[string]time.Duration{"w": 7 * 24 * time.Hour, "d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second}

var agePart = regexp.MustCompile(`^(\d+(?:\.\d+)?)(w|d|h|m|s)`)

// parseAge reads an age: numbers with units w, d, h, m, s, one after the
// other (30d, 12h, 1d12h, 1.5d, 90m).
func parseAge(s string) (time.Duration, error) {
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, fmt.Errorf("give an age such as 30d, 12h or 90m")
	}
	var total time.Duration
	for rest != "" {
		m := agePart.FindStringSubmatch(rest)
		if m == nil {
			if _, err := strconv.ParseFloat(rest, 64); err == nil {
				return 0, fmt.Errorf("%q has no unit: write %sd for days (or h, m, s, w)", s, rest)
			}
			return 0, fmt.Errorf("%q is not an age: write it as 30d, 12h, 1d12h, 90m or 2w", s)
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		total += time.Duration(n * float64(ageUnits[m[2]]))
		rest = rest[len(m[0]):]
	}
	return total, nil
}
