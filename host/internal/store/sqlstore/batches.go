package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

type batches struct{ s *Store }

func (r batches) Create(ctx context.Context, b *store.Batch) error {
	t := store.Batches
	ph := make([]string, 0, len(t.Columns))
	var args []any
	for _, c := range t.Writable() {
		p := fmt.Sprintf("$%d", len(ph)+1)
		if IsJSON(c.Kind) {
			p = r.s.d.JSON(p)
		}
		ph = append(ph, p)
		args = append(args, Arg(r.s.d, c, b))
	}
	query := "INSERT INTO " + t.Name + " (" + t.Names() + ") VALUES (" + strings.Join(ph, ", ") + ")"
	attempt := 0
	err := r.s.d.Retry(ctx, func(ctx context.Context) error {
		attempt++
		// No INSERT … DO NOTHING: it would hide a duplicate id, and a batch
		// id is new or wrong.
		err := r.s.db.InTx(ctx, func(tx Conn) error {
			_, err := tx.Exec(ctx, query, args...)
			return err
		})
		// A retry after a commit whose reply was lost finds its own row.
		if attempt > 1 && r.s.d.IsUniqueViolation(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("creating batch %s: %w", b.ID, err)
	}
	r.s.d.BatchCreated(ctx, b.ID)
	return nil
}

func (r batches) Get(ctx context.Context, id string) (*store.Batch, error) {
	b, err := one(ctx, r.s, store.Batches, "WHERE id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", id, err)
	}
	return b, nil
}

func (r batches) Latest(ctx context.Context) (*store.Batch, error) {
	b, err := one(ctx, r.s, store.Batches, "ORDER BY created_at DESC, "+r.s.d.TieBreak("id")+" DESC LIMIT 1")
	if err != nil {
		return nil, fmt.Errorf("latest batch: %w", err)
	}
	return b, nil
}

func (r batches) List(ctx context.Context, limit int) ([]store.Batch, error) {
	if limit <= 0 {
		limit = 50
	}
	out, err := all(ctx, r.s, store.Batches, nil, "ORDER BY created_at DESC, "+r.s.d.TieBreak("id")+" DESC LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	return out, nil
}

// exec runs a statement (retried) and returns the number of rows it touched.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.d.Retry(ctx, func(ctx context.Context) error {
		var err error
		n, err = s.db.Exec(ctx, query, args...)
		return err
	})
	return n, err
}

// exactlyOne runs an UPDATE of one batch and returns notFound (wrapped) when
// it touched none.
func (r batches) exactlyOne(ctx context.Context, id, what string, notFound error, query string, args ...any) error {
	n, err := r.s.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("batch %s: %w", id, notFound)
	}
	return nil
}

func (r batches) SetStatus(ctx context.Context, id, status string, finished *time.Time, summary json.RawMessage) error {
	var fin, sum any
	if finished != nil {
		fin = r.s.d.Time(*finished)
	}
	if len(summary) > 0 {
		sum = string(summary)
	}
	return r.exactlyOne(ctx, id, "updating batch "+id, store.ErrNotFound,
		`UPDATE wtb_batch_tests SET status = $1, finished_at = $2, summary = COALESCE(`+r.s.d.JSON("$3")+`, summary) WHERE id = $4`,
		status, fin, sum, id)
}

func (r batches) SetDecisions(ctx context.Context, id string, ds []store.Decision) error {
	return r.exactlyOne(ctx, id, "storing the decisions of batch "+id, store.ErrNotFound,
		`UPDATE wtb_batch_tests SET decisions = `+r.s.d.JSON("$1")+` WHERE id = $2`, store.JSONText(ds), id)
}

// errHeld marks an ownership update that touched no row.
var errHeld = errors.New("held by another owner")

// clearCancel is the SET clause that drops a cancel request: a new owner
// starts with none.
const clearCancel = ", cancel_requested_by = '', cancel_requested_at = NULL"

func (r batches) Acquire(ctx context.Context, id, owner string, ttl time.Duration) error {
	d := r.s.d
	err := r.exactlyOne(ctx, id, "taking ownership of batch "+id, errHeld,
		`UPDATE wtb_batch_tests SET owner = $1, lease_until = `+d.NowPlus("$2")+clearCancel+`
		WHERE id = $3 AND (owner = '' OR owner = $1 OR lease_until IS NULL OR lease_until <= `+d.Now()+`)`,
		owner, ttl.Seconds(), id)
	if !errors.Is(err, errHeld) {
		return err
	}
	b, err := r.Get(ctx, id)
	if err != nil {
		return err
	}
	return &store.LeaseHeldError{Batch: id, Owner: b.Owner}
}

func (r batches) Renew(ctx context.Context, id, owner string, ttl time.Duration) error {
	return r.exactlyOne(ctx, id, "renewing the lease on batch "+id, store.ErrLeaseLost,
		`UPDATE wtb_batch_tests SET lease_until = `+r.s.d.NowPlus("$1")+` WHERE id = $2 AND owner = $3`, ttl.Seconds(), id, owner)
}

func (r batches) Takeover(ctx context.Context, id, dead, owner string, ttl time.Duration) error {
	err := r.exactlyOne(ctx, id, "taking over batch "+id, errHeld,
		`UPDATE wtb_batch_tests SET owner = $1, lease_until = `+r.s.d.NowPlus("$2")+clearCancel+` WHERE id = $3 AND owner = $4`,
		owner, ttl.Seconds(), id, dead)
	if errors.Is(err, errHeld) {
		return r.Acquire(ctx, id, owner, ttl) // released or taken meanwhile
	}
	return err
}

func (r batches) Release(ctx context.Context, id, owner string) error {
	if _, err := r.s.exec(ctx, `UPDATE wtb_batch_tests SET owner = '', lease_until = NULL WHERE id = $1 AND owner = $2`, id, owner); err != nil {
		return fmt.Errorf("releasing batch %s: %w", id, err)
	}
	return nil
}

func (r batches) RequestCancel(ctx context.Context, id string, req store.CancelRequest) (*store.CancelRequest, error) {
	n, err := r.s.exec(ctx, `UPDATE wtb_batch_tests SET cancel_requested_by = $1, cancel_requested_at = $2
		WHERE id = $3 AND status = 'running' AND owner <> '' AND lease_until > `+r.s.d.Now()+` AND cancel_requested_at IS NULL`,
		req.By, r.s.d.Time(req.At), id)
	if err != nil {
		return nil, fmt.Errorf("requesting the cancel of batch %s: %w", id, err)
	}
	if n == 1 {
		return &req, nil
	}
	b, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.Status == store.StatusRunning && b.LeaseLive && b.CancelRequestedAt != nil {
		return &store.CancelRequest{By: b.CancelRequestedBy, At: *b.CancelRequestedAt}, nil
	}
	return nil, fmt.Errorf("batch %s: %w", id, store.ErrNotRunning)
}

func (r batches) CancelRequest(ctx context.Context, id string) (*store.CancelRequest, error) {
	var by string
	var at *time.Time
	err := r.s.d.Retry(ctx, func(ctx context.Context) error {
		dest := r.s.d.Dest(store.OptTime, &at)
		err := r.s.db.QueryRow(ctx, `SELECT cancel_requested_by, cancel_requested_at FROM wtb_batch_tests WHERE id = $1`, id).Scan(&by, dest)
		if err == nil {
			r.s.d.Fill(store.OptTime, &at, dest)
		}
		return err
	})
	switch {
	case errors.Is(err, ErrNoRows):
		return nil, fmt.Errorf("batch %s: %w", id, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("reading the cancel request of batch %s: %w", id, err)
	case at == nil:
		return nil, nil
	}
	return &store.CancelRequest{By: by, At: *at}, nil
}
