package sched

import (
	"context"
	"encoding/json"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/store"
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
		s.writer.send(store.WriteSet{Checkpoints: []store.Checkpoint{cp}})
		a.group.record(st, hit.State, hit.Output, hit.DurationMs, hit.Metrics, hit.WorkerID)
		s.tally.cachedRun()
		s.obs.NodeCached(st.Node.Name, st.Node.Variant, len(st.Executions))
		s.cfg.Bus.Publish(events.Event{Type: events.NodeFinished, BatchID: s.cfg.BatchID, ExecutionKey: seg.Key,
			Node: st.Node.Name, Message: "node " + st.Node.Name + " reused from the node cache", Data: map[string]any{"cached_from": hit.ID}})
		a.startState, a.startID = hit.State, st.ID
		a.startIdx++
	}
	return a.startIdx < len(seg.Steps)
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
