package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/store"
)

// watchEvery is how often --follow and --watch look at the database.
const watchEvery = time.Second

func (a *app) printAuditEntry(e store.AuditEntry) {
	where := joinNonEmpty(" ", e.ExecutionKey, e.Node)
	if where != "" {
		where = " [" + where + "]"
	}
	fmt.Fprintf(a.stdout, "%s %-7s %-22s %s%s\n", numfmt.Date(e.Time), e.Severity, e.EventType, e.Message, where)
}

// followAudit prints the trail's new entries until the batch stops running
// (or Ctrl-C). Entries are asked for from the last time printed on, and the
// ones printed at that time are skipped.
func (a *app) followAudit(ctx context.Context, st store.Store, rec *store.Batch, f store.AuditFilter, printed []store.AuditEntry) error {
	seen := map[string]bool{}
	if n := len(printed); n > 0 {
		f.Since = printed[n-1].Time
		for _, e := range printed {
			if e.Time.Equal(f.Since) {
				seen[e.ID] = true
			}
		}
	}
	for {
		running, err := a.stillRunning(ctx, st, rec.ID)
		if err != nil {
			return err
		}
		entries, err := st.Audit().List(ctx, rec.ID, f)
		if err != nil {
			return exitf(ExitRuntime, "%v", err)
		}
		for _, e := range entries {
			if seen[e.ID] {
				continue
			}
			a.printAuditEntry(e)
			if !e.Time.Equal(f.Since) {
				f.Since, seen = e.Time, map[string]bool{}
			}
			seen[e.ID] = true
		}
		if !running {
			return nil
		}
		if !sleepCtx(ctx, watchEvery) {
			return nil
		}
	}
}

// stillRunning reports whether a batch is being run (its owner alive).
func (a *app) stillRunning(ctx context.Context, st store.Store, id string) (bool, error) {
	rec, err := st.Batches().Get(ctx, id)
	if err != nil {
		return false, exitf(ExitRuntime, "%v", err)
	}
	return rec.Status == store.StatusRunning && !application.Interrupted(rec), nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// watchResults prints the leaderboard again whenever more results are stored,
// until the batch stops running; on a terminal it redraws in place.
func (a *app) watchResults(ctx context.Context, st store.Store, id, format string) error {
	last := -1
	for {
		board, err := application.Leaderboard(ctx, st, id)
		if err != nil {
			return a.failed(err)
		}
		rec := board.Batch
		running := rec.Status == store.StatusRunning && !application.Interrupted(rec)
		if board.Summary.Stored != last || !running {
			if isTerminal(a.stdout) {
				fmt.Fprint(a.stdout, "\033[H\033[2J")
			}
			fmt.Fprintf(a.stdout, "batch %s (%s) — %s, %d of %d stored, %s\n", rec.ID, rec.Name, application.DisplayStatus(rec),
				board.Summary.Stored, board.Summary.Total, time.Now().Format(time.TimeOnly))
			if err := writeLeaderboard(a.stdout, format, rec, board.Spec, board.Summary, board.Failures, a.followUps(ctx, st, rec, board.Spec, board.Summary, board.Failures)); err != nil {
				return exitf(ExitRuntime, "%v", err)
			}
			last = board.Summary.Stored
		}
		if !running || !sleepCtx(ctx, watchEvery) {
			return nil
		}
		id = rec.ID // "latest" must not move to a newer batch mid-watch
	}
}
