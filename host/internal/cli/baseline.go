package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/dataset"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/store"
)

func (a *app) exportCommand() *cobra.Command {
	var baseline string
	cmd := &cobra.Command{
		Use:   "export BATCH_ID --baseline FILE",
		Short: "Write a stored batch as a baseline file to commit, so CI compares against it without the database",
		Long: `Write what a comparison needs of a stored batch to FILE, a JSON document
(wtb schema baseline) to commit to the repository: the batch's evaluators,
combinations, thresholds and pass score, a digest of each case's input and
expected values, and per execution its scores, latency and a digest of the
state after each node. It holds no states, outputs, logs, errors or sensitive
values; the bench file is named relative to its repository.

A comparison against the file gives the figures and verdicts of one against
the stored batch: wtb compare FILE BATCH, wtb run … --baseline FILE and wtb
report --markdown FILE --baseline FILE all take it where they take a batch.
Where an execution first diverges is found from the digests, so the node is
named but not what changed in it.

Exporting the same batch again writes the same bytes (one execution a line):
a new baseline's git diff shows the executions whose outcome changed.`,
		Example: `  wtb run bench.hcl                                   # on main
  wtb export latest --baseline ci/baseline.json
  git add ci/baseline.json && git commit -m "new baseline"

  wtb run bench.hcl --baseline ci/baseline.json --summary summary.md --fail-on regression   # in CI`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if baseline == "" {
				return exitf(ExitConfig, "say where to write it: --baseline FILE (or - for standard output)")
			}
			var b *application.Baseline
			err := a.reading(cmd.Context(), func(ctx context.Context, st store.Store) (err error) {
				b, err = application.ExportBaseline(ctx, st, args[0], Version)
				return err
			})
			if err != nil {
				return a.failed(err)
			}
			var buf bytes.Buffer
			if err := jsondoc.WriteBaseline(&buf, b); err != nil {
				return exitf(ExitRuntime, "%v", err)
			}
			if baseline == "-" {
				_, err := a.stdout.Write(buf.Bytes())
				return err
			}
			if err := writeFileAtomic(baseline, buf.Bytes()); err != nil {
				return exitf(ExitRuntime, "writing %s: %v", baseline, err)
			}
			fmt.Fprintf(a.stderr, "wrote %s: baseline of batch %s (%s, %s, cases %s; %.1f KiB)\n", baseline, b.Batch.ID,
				plural(len(b.Executions), "execution", "executions"), plural(len(b.Cases), "case", "cases"),
				orDash(dataset.Short(b.Batch.CasesHash)), float64(buf.Len())/1024)
			return nil
		},
	}
	cmd.Flags().StringVar(&baseline, "baseline", "", "write the batch's baseline file here (- for standard output; schema: wtb schema baseline)")
	return cmd
}

// isBaselineFile says whether an argument that takes a batch or a baseline
// file names a file: batch ids ("latest", 20261202-101010-1a2b3c4d) never
// hold a path separator or end in .json.
func isBaselineFile(arg string) bool {
	return strings.ContainsRune(arg, '/') || strings.ContainsRune(arg, filepath.Separator) || strings.HasSuffix(arg, ".json")
}

// loadBaseline reads and checks a baseline file: one clear error for a
// missing file, another kind of document, a newer format or a document its
// schema refuses. Fields this wtb does not know are read past (a newer wtb's
// file still reads here).
func (a *app) loadBaseline(path string) (*application.Baseline, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, exitf(ExitConfig, "no baseline file %s (`%s` writes one)", path, a.command("export", "BATCH", "--baseline", path))
	}
	if err != nil {
		return nil, exitf(ExitConfig, "reading the baseline file %s: %v", path, err)
	}
	b, err := application.ParseBaseline(data, path)
	if err != nil {
		return nil, a.failed(err)
	}
	if err := jsondoc.CheckReadable(data); err != nil {
		return nil, exitf(ExitConfig, "%s is not a valid baseline file: %s", path, oneLine(err))
	}
	return b, nil
}

// noBatchHint adds to a missing batch's error that a file of that name
// exists, when one does: "baseline" is read as a batch id, "./baseline" as a
// file.
func noBatchHint(err error, arg string) error {
	if !errors.Is(err, application.ErrNoBatch) {
		return err
	}
	if fi, serr := os.Stat(arg); serr == nil && fi.Mode().IsRegular() {
		return fmt.Errorf("%w; a file %s exists: write ./%s to read it as a baseline file", err, arg, arg)
	}
	return err
}

// writeFileAtomic writes data to path through a temporary file beside it,
// so a reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
