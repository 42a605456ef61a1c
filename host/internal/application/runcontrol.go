package application

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/adapt"
	"github.com/wtbench/wtb/host/internal/bridge"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// controller makes the adaptive-repeats and racing controller of a run (nil
// when the batch has neither, or when complete asks for every execution),
// restoring what an earlier run of the batch decided and scored. Each new
// decision is stored at once — a resume after a crash honours it — and told
// to the audit trail.
func (a *App) controller(ctx context.Context, st store.Store, bus *events.Bus, rec *store.Batch, b *spec.Batch, complete bool) (*adapt.Controller, error) {
	if complete {
		if len(rec.Decisions) > 0 {
			a.notice("resume --complete: running the %d executions adaptive repeats and racing had saved", adapt.Skipped(rec.Decisions))
			rec.Decisions = nil
			if err := st.Batches().SetDecisions(ctx, rec.ID, nil); err != nil {
				return nil, runtimeErr("%w", err)
			}
		}
		return nil, nil
	}
	var ctl *adapt.Controller
	var mu sync.Mutex
	ctl = adapt.New(b, func(d store.Decision) {
		mu.Lock()
		defer mu.Unlock()
		if err := st.Batches().SetDecisions(context.Background(), rec.ID, ctl.Decisions()); err != nil {
			a.Log.Warn("storing a decision failed; it is stored at the end of the run", "error", err)
		}
		data := map[string]any{"kind": d.Kind, "repeats": d.Repeats, "executions": d.Executions}
		if d.Kind == store.DecisionPruned {
			data["best"], data["p_value"], data["bound"], data["cases_seen"] = d.Best, d.PValue, d.Bound, d.CasesSeen
		} else {
			data["ci_half_width"] = d.CIHalfWidth
		}
		bus.Publish(events.Event{Type: events.CombinationStopped, BatchID: rec.ID, Combination: d.Combination,
			Message: fmt.Sprintf("%s %s: %s", d.Combination, d.Kind, d.Reason), Data: data})
	})
	if ctl == nil {
		return nil, nil
	}
	// A resumed batch's decisions stand and its stored scores are evidence
	// (a new batch has neither).
	err := ctl.Restore(rec.Decisions, func(fn func(r *store.Result) error) error {
		return st.Results().EachScored(ctx, rec.ID, fn)
	})
	if err != nil {
		return nil, runtimeErr("restoring the batch's decisions: %w", err)
	}
	return ctl, nil
}

// watchStalls reports, for the run's duration, every wait on the database the
// store retried through on its own: a WARN log line when it starts and when it
// ends, and an audit entry with its duration. It returns the undo.
func (a *App) watchStalls(st store.Store, bus *events.Bus, batchID string) func() {
	sr, ok := st.(store.StallReporter)
	if !ok {
		return func() {}
	}
	sr.SetStallHandler(func(s store.Stall) {
		if s.Ongoing {
			a.Log.Warn("the database is not answering; retrying", "error", s.Err)
			return
		}
		e := events.Event{Type: events.StoreStalled, BatchID: batchID, Attempt: s.Attempts,
			Data: map[string]any{"waited_ms": float64(s.Waited) / float64(time.Millisecond), "recovered": s.Err == nil}}
		if s.Err != nil {
			a.Log.Warn("gave up waiting for the database", "waited", s.Waited.Round(time.Millisecond), "attempts", s.Attempts, "error", s.Err)
			e.Error = s.Err.Error()
			e.Message = fmt.Sprintf("gave up on the database after %s (%d attempts)", numfmt.Elapsed(s.Waited), s.Attempts)
		} else {
			a.Log.Warn("the database answers again", "waited", s.Waited.Round(time.Millisecond), "attempts", s.Attempts)
			e.Message = fmt.Sprintf("waited %s for the database (%d attempts)", numfmt.Elapsed(s.Waited), s.Attempts)
		}
		bus.Publish(e)
	})
	return func() { sr.SetStallHandler(nil) }
}

// startBridges connects the batch's bridges to the bus. A resumed batch runs
// those whose stored form kept everything they need (header values and URL
// passwords are never stored).
func (a *App) startBridges(bus *events.Bus, batchID string, b *spec.Batch) (*bridge.Hub, error) {
	var run []spec.Bridge
	for _, br := range b.Bridges {
		if br.Kind == spec.BridgeOTLP {
			continue // the trace export's (startTraceExports)
		}
		if lost := br.LostSecrets(); lost != "" {
			a.notice("bridge %s (%s) is off for this run: the batch does not store %s (they may be secrets); run the bench file again to bridge its events",
				br.Kind, br.URL, lost)
			continue
		}
		run = append(run, br)
	}
	if len(run) == 0 {
		return nil, nil
	}
	hub, err := bridge.Start(bus, run, bridge.Options{BatchID: batchID, Log: a.Log})
	if err != nil {
		return nil, configErr("%v", err)
	}
	return hub, nil
}

func (a *App) closeBridges(hub *bridge.Hub) {
	for _, st := range hub.Close() {
		if st.Dropped() > 0 {
			a.notice("bridge %s (%s): %d events sent, %d dropped (%d past the buffer, %d undelivered at the end, %d refused); see wtb audit",
				st.Bridge, st.URL, st.Sent, st.Dropped(), st.PastBuffer, st.Undelivered, st.Rejected)
		} else {
			a.notice("bridge %s (%s): %d events sent", st.Bridge, st.URL, st.Sent)
		}
	}
}
