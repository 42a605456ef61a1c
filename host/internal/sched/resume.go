package sched

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/trajectory"
	"github.com/wtbench/wtb/sdk"
)

// prepare decides where an attempt starts: after the steps that are stored
// already (resume, fork) or found in the node cache. It returns false when
// nothing is left to run.
func (s *scheduler) prepare(ctx context.Context, a *attempt) bool {
	seg := a.seg
	if a.startState == nil {
		if seg.Parent == nil {
			a.startState, a.startID = seg.Case.Input, seg.RootID
		} else {
			parent := seg.Parent.Last()
			a.startState, a.startID = s.stateOf(ctx, a.group, parent), parent.ID
		}
	}
	for a.startIdx < len(seg.Steps) {
		st := seg.Steps[a.startIdx]
		if s.cfg.Stored != nil && s.cfg.Stored(st.ID) {
			cp, err := s.cfg.Store.Checkpoints().Get(ctx, st.ID)
			if err != nil {
				break
			}
			a.group.record(st, cp.State, cp.Output, cp.DurationMs, cp.Metrics, cp.WorkerID)
			if s.steps {
				if row, ok := s.storedSpans(ctx, cp.BatchID, cp.ID); ok {
					a.group.infos[st].steps = trajectory.Steps(st.Node.Name, row.list)
				}
			}
			s.tally.resumed()
			a.startState, a.startID = cp.State, st.ID
			a.startIdx++
			continue
		}
		if !st.Node.Cache {
			break
		}
		key := s.planner.CacheKey(a.startState, st)
		hit, err := s.cfg.Store.Checkpoints().FindCached(ctx, key)
		if err != nil {
			break
		}
		cp := newCheckpoint(s.cfg.BatchID, st, a.startID, seg.Key, store.SourceCached, hit.State, hit.Output)
		cp.CacheKey, cp.Metrics, cp.DurationMs, cp.WorkerID = key, hit.Metrics, hit.DurationMs, hit.WorkerID
		cp.Logs = hit.Logs // what the node wrote when it ran: show and the viewer show it for the reused run too
		ws := store.WriteSet{Checkpoints: []store.Checkpoint{cp}}
		// Its spans too, under the reused run: show draws them, and the
		// trajectory evaluators (here and in wtb rescore) score them.
		hitSpans, hasSpans := s.storedSpans(ctx, hit.BatchID, hit.ID)
		if hasSpans {
			row := hitSpans.row
			row.BatchID, row.RunID, row.ExecutionKey, row.CreatedAt = s.cfg.BatchID, cp.ID, seg.Key, time.Now()
			ws.Spans = []store.NodeSpans{row}
		}
		s.writer.send(ws)
		a.group.record(st, hit.State, hit.Output, hit.DurationMs, hit.Metrics, hit.WorkerID)
		if s.steps && hasSpans {
			a.group.infos[st].steps = trajectory.Steps(st.Node.Name, hitSpans.list)
		}
		s.tally.cachedRun()
		s.obs.NodeCached(st.Node.Name, st.Node.Variant, len(st.Executions))
		s.cfg.Bus.Publish(events.Event{Type: events.NodeFinished, BatchID: s.cfg.BatchID, ExecutionKey: seg.Key,
			Node: st.Node.Name, Message: "node " + st.Node.Name + " reused from the node cache", Data: map[string]any{"cached_from": hit.ID}})
		a.startState, a.startID = hit.State, st.ID
		a.startIdx++
	}
	return a.startIdx < len(seg.Steps)
}

// storedRunSpans is a stored node run's spans row and its spans decoded.
type storedRunSpans struct {
	row  store.NodeSpans
	list []sdk.Span
}

// storedSpans reads a stored node run's spans (false: none, or unreadable:
// a node run without spans is scored as one).
func (s *scheduler) storedSpans(ctx context.Context, batchID, runID string) (storedRunSpans, bool) {
	rows, err := s.cfg.Store.Spans().ListByRuns(ctx, batchID, []string{runID})
	if err != nil || len(rows) == 0 {
		if err != nil {
			s.log.Warn("reading a stored node run's spans", "run", runID, "error", err)
		}
		return storedRunSpans{}, false
	}
	var list []sdk.Span
	if err := json.Unmarshal(rows[0].Spans, &list); err != nil {
		s.log.Warn("reading a stored node run's spans", "run", runID, "error", err)
		return storedRunSpans{}, false
	}
	return storedRunSpans{rows[0], list}, true
}

// stateOf returns a finished step's state, from the group or the store.
func (s *scheduler) stateOf(ctx context.Context, g *groupRun, st *plan.Step) json.RawMessage {
	if info, ok := g.infos[st]; ok && info.state != nil {
		return info.state
	}
	cp, err := s.cfg.Store.Checkpoints().Get(ctx, st.ID)
	if err != nil {
		return nil
	}
	return cp.State
}
