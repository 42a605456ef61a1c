package application

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
)

// defaultLeaseTTL is how long a batch stays owned after its owner stops
// renewing: the time a successor waits after a host dies without cleaning up.
const defaultLeaseTTL = 30 * time.Second

// errLeaseLost cancels a run whose batch another process took over (this one
// stalled longer than its lease).
var errLeaseLost = errors.New("another wtb process took over this batch after this one stopped renewing its lease")

// lease is this process's ownership of one batch.
type lease struct {
	st     store.Store
	id     string
	owner  string
	ttl    time.Duration
	lost   atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once

	// cancelled is the cancel request the owner acted on (`wtb cancel`).
	cancelled atomic.Pointer[store.CancelRequest]
}

func leaseTTL() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("WTB_LEASE_TTL")); err == nil && d > 0 {
		return d
	}
	return defaultLeaseTTL
}

// ownerID names this process as a batch owner: host, pid and the process's
// start time (which tells a live process from a later one with the same pid).
func ownerID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("wtb pid %d on %s (started %d, %s)", os.Getpid(), host, processStart(os.Getpid()), hex.EncodeToString(b[:]))
}

var ownerRE = regexp.MustCompile(`^wtb pid (\d+) on (\S+) \(started (\d+), [0-9a-f]+\)$`)

// deadLocalOwner says owner is a wtb process on this machine that is gone, so
// its lease need not be waited out.
func deadLocalOwner(owner string) bool {
	m := ownerRE.FindStringSubmatch(owner)
	host, _ := os.Hostname()
	if m == nil || m[2] != host {
		return false
	}
	pid, _ := strconv.Atoi(m[1])
	started, _ := strconv.ParseUint(m[3], 10, 64)
	return processStart(pid) != started
}

// Interrupted says a batch is marked running but nobody runs it: its owner's
// lease ran out, or its owner was a process on this machine that is gone.
func Interrupted(b *store.Batch) bool {
	return b.Orphaned() || b.Status == store.StatusRunning && deadLocalOwner(b.Owner)
}

// DisplayStatus is a batch's status as a user should read it.
func DisplayStatus(b *store.Batch) string {
	if Interrupted(b) {
		return "interrupted"
	}
	return b.Status
}

// processStart is a process's start time in clock ticks since boot (Linux), or
// 0 when it does not exist or cannot be read.
func processStart(pid int) uint64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 20 || fields[0] == "Z" {
		return 0
	}
	v, _ := strconv.ParseUint(fields[19], 10, 64)
	return v
}

// own takes batch id for this process and renews the lease until release. The
// returned context is cancelled if another process takes the batch over.
func (a *App) own(ctx context.Context, st store.Store, id string) (context.Context, *lease, error) {
	l := &lease{st: st, id: id, owner: ownerID(), ttl: leaseTTL(), stop: make(chan struct{})}
	err := st.Batches().Acquire(ctx, id, l.owner, l.ttl)
	var held *store.LeaseHeldError
	if errors.As(err, &held) && deadLocalOwner(held.Owner) {
		a.Log.Info("the batch's previous owner on this machine is gone; taking over", "batch", id, "previous", held.Owner)
		err = st.Batches().Takeover(ctx, id, held.Owner, l.owner, l.ttl)
	}
	if err != nil {
		if errors.As(err, &held) {
			return nil, nil, runtimeErr("%v; a batch has one owner at a time: wait for it to finish, or stop it (if that process died, its lease runs out within %s and you can resume then)",
				held, numfmt.Elapsed(l.ttl))
		}
		return nil, nil, runtimeErr("%w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer cancel(nil)
		tick := time.NewTicker(l.ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			rctx, rcancel := context.WithTimeout(context.Background(), l.ttl/3)
			err := st.Batches().Renew(rctx, id, l.owner, l.ttl)
			rcancel()
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				l.lost.Store(true)
				a.Log.Error("lost ownership of the batch; stopping", "batch", id)
				cancel(errLeaseLost)
				return
			case err != nil:
				// The store is unreachable: writes retry on their own; keep trying.
				a.Log.Warn("could not renew the batch lease; will retry", "batch", id, "error", err)
			default:
				l.checkCancel(a, cancel)
			}
		}
	}()
	return ctx, l, nil
}

// checkCancel reads, once the lease is renewed, whether someone asked the
// batch to stop (`wtb cancel`, from any process or machine) and if so
// cancels the run's context, as Ctrl-C does: the run stops dispatching,
// cancels what runs, stores what finished and ends "cancelled". The lease is
// still renewed until then.
func (l *lease) checkCancel(a *App, cancel context.CancelCauseFunc) {
	if l.cancelled.Load() != nil {
		return
	}
	ctx, done := context.WithTimeout(context.Background(), l.ttl/3)
	defer done()
	req, err := l.st.Batches().CancelRequest(ctx, l.id)
	if err != nil {
		a.Log.Warn("could not read whether the batch was cancelled; will retry", "batch", l.id, "error", err)
		return
	}
	if req == nil {
		return
	}
	l.cancelled.Store(req)
	a.notice("batch %s: cancel requested by %s at %s: stopping — cancelling running executions and storing what finished",
		l.id, req.By, numfmt.Date(req.At))
	cancel(fmt.Errorf("cancelled by %s", req.By))
}

// CancelRequest is the cancel request the run stopped for, or nil.
func (l *lease) CancelRequest() *store.CancelRequest {
	if l == nil {
		return nil
	}
	return l.cancelled.Load()
}

// release gives the batch up (after its final status is written).
func (l *lease) release() {
	if l == nil {
		return
	}
	l.closed.Do(func() {
		close(l.stop)
		l.wg.Wait()
		if l.lost.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.st.Batches().Release(ctx, l.id, l.owner)
	})
}

// Lost says another process owns the batch now.
func (l *lease) Lost() bool { return l != nil && l.lost.Load() }
