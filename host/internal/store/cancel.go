package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotRunning is returned when a cancel is requested of a batch nobody
// runs: it is not marked running, or no owner holds a live lease on it.
var ErrNotRunning = errors.New("not running")

// CancelRequest is a request that a batch's owner stop, from any process on
// any machine that reaches the database (`wtb cancel`).
type CancelRequest struct {
	// By names who asked: the process, its host and user.
	By string
	At time.Time
}

// CancelRequests carry cancel requests to a batch's owner through the
// database: a request is written on the batch's row, the owner reads it
// each time it renews its lease.
type CancelRequests interface {
	// RequestCancel asks the owner of a running batch to stop. It returns
	// the request in force: this one, or an earlier one nobody has acted on
	// yet (first asked, first kept). A batch that is not running with a live
	// lease is ErrNotRunning (ErrNotFound when there is no such batch).
	RequestCancel(ctx context.Context, id string, r CancelRequest) (*CancelRequest, error)
	// CancelRequest returns the request made since the batch's owner took
	// it, or nil.
	CancelRequest(ctx context.Context, id string) (*CancelRequest, error)
}
