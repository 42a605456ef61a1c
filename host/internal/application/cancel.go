package application

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/store"
)

// CancelOutcome is a cancel request written for a batch's owner.
type CancelOutcome struct {
	Batch   *store.Batch
	Request store.CancelRequest
	// Earlier says the request was made before this one (by someone else,
	// or an earlier `wtb cancel`) and the owner has yet to act on it; this
	// one changed nothing.
	Earlier bool
	// Within is how soon the owner sees it: one renewal of its lease (as
	// this process's WTB_LEASE_TTL sets it).
	Within time.Duration
}

// Cancel asks the process running a batch — on this machine or another —
// to stop it, through the database: the owner reads the request when it
// next renews its lease and stops as on Ctrl-C (what finished is stored, the
// batch ends "cancelled" and `wtb resume` completes it). Who asked, and
// when, goes to the batch's audit trail. A batch nobody runs is a
// configuration error that says what it is instead.
func (a *App) Cancel(ctx context.Context, st store.Store, id string) (*CancelOutcome, error) {
	rec, _, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	if err := notRunning(rec); err != nil {
		return nil, err
	}
	req := store.CancelRequest{By: requester(), At: time.Now().UTC().Truncate(time.Microsecond)}
	got, err := st.Batches().RequestCancel(ctx, rec.ID, req)
	if errors.Is(err, store.ErrNotRunning) {
		// It ended, or its lease ran out, since it was read.
		now, err := st.Batches().Get(ctx, rec.ID)
		if err != nil {
			return nil, runtimeErr("%w", err)
		}
		if err := notRunning(now); err != nil {
			return nil, err
		}
		return nil, configErr("batch %s is not running: nothing to cancel", rec.ID)
	}
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	out := &CancelOutcome{Batch: rec, Request: *got, Earlier: got.By != req.By || !got.At.Equal(req.At), Within: leaseTTL() / 3}
	if out.Earlier {
		return out, nil
	}
	host, _ := os.Hostname()
	details, _ := json.Marshal(map[string]any{"requested_by": req.By, "requested_at": req.At.Format(time.RFC3339Nano),
		"host": host, "pid": os.Getpid(), "user": userName(), "owner": rec.Owner})
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	entry := store.AuditEntry{ID: rec.ID + "-cancel-" + hex.EncodeToString(suffix[:]), BatchID: rec.ID, Time: req.At, Severity: "WARNING",
		EventType: string(events.BatchCancelRequested), Message: fmt.Sprintf("cancel requested by %s; the owner (%s) stops at its next lease renewal", req.By, rec.Owner),
		Details: details}
	if err := st.Audit().Append(ctx, []store.AuditEntry{entry}); err != nil {
		a.Log.Warn("the cancel request is written, but not its audit entry", "error", err)
	}
	return out, nil
}

// NotRunningError says why a batch cannot be cancelled: nobody runs it.
type NotRunningError struct {
	Batch *store.Batch
}

func (e *NotRunningError) Error() string { return e.Explain("wtb resume " + e.Batch.ID) }

// Explain says what the batch is instead of running, with resume as the
// command that finishes it.
func (e *NotRunningError) Explain(resume string) string {
	rec := e.Batch
	switch {
	case Interrupted(rec):
		return fmt.Sprintf("batch %s is not running: the process that ran it (%s) is gone, so it is interrupted; `%s` finishes it",
			rec.ID, orNobody(rec.Owner), resume)
	case rec.Status == store.StatusCancelled:
		return fmt.Sprintf("batch %s is not running: it was cancelled already (what finished is stored; `%s` finishes it)", rec.ID, resume)
	}
	return fmt.Sprintf("batch %s is not running: it %s; nothing to cancel", rec.ID, ended(rec))
}

// notRunning is a *NotRunningError (a configuration error) for a batch
// nobody runs, or nil.
func notRunning(rec *store.Batch) error {
	if rec.Status == store.StatusRunning && !Interrupted(rec) {
		return nil
	}
	return &Error{Kind: KindConfig, Err: &NotRunningError{Batch: rec}}
}

func ended(rec *store.Batch) string {
	when := ""
	if rec.FinishedAt != nil {
		when = " at " + numfmt.Date(*rec.FinishedAt)
	}
	return rec.Status + when
}

func orNobody(owner string) string {
	if owner == "" {
		return "no owner"
	}
	return owner
}

// requester names this process for the batch's owner and its audit trail.
func requester() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("wtb cancel, pid %d on %s (user %s)", os.Getpid(), host, userName())
}

func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprint(os.Getuid())
}

// WaitStopped waits, reading the batch every interval, until it is no
// longer running (or its owner is gone), and returns it as it ended.
func WaitStopped(ctx context.Context, st store.Store, id string, every time.Duration) (*store.Batch, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rec, err := st.Batches().Get(ctx, id)
		if err != nil {
			return nil, runtimeErr("%w", err)
		}
		if rec.Status != store.StatusRunning || Interrupted(rec) {
			return rec, nil
		}
		select {
		case <-ctx.Done():
			return rec, ctx.Err()
		case <-t.C:
		}
	}
}
