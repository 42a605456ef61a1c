package sched

import (
	"encoding/json"
	"time"

	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/trajectory"
)

// feeder opens groups (case × repeat) as the loop needs work, so only the
// groups in flight are held in memory.
type feeder struct {
	s         *scheduler
	next      int    // the next group to plan
	rooted    []bool // cases whose root checkpoint is written
	openCount int
}

func newFeeder(s *scheduler) *feeder { return &feeder{s: s, rooted: make([]bool, len(s.b.Cases))} }

// census counts the executions still to run per combination and the
// environments they use, without planning them.
func (f *feeder) census() census {
	b := f.s.b
	c := census{perCombo: map[string]int{}, envKeys: map[string]bool{}}
	for _, combo := range b.Combinations {
		for _, cs := range b.Cases {
			for r := 0; r < b.Repeat; r++ {
				if f.s.cfg.Done != nil && f.s.cfg.Done(spec.ExecutionKey(combo.Name, cs.ID, r)) {
					continue
				}
				c.perCombo[combo.Name]++
				c.planned++
				c.envKeys[f.s.planner.EnvKey(combo.Name)] = true
			}
		}
	}
	return c
}

// census is what a batch has left to run.
type census struct {
	planned  int
	perCombo map[string]int
	envKeys  map[string]bool
}

// fill opens groups until the ready queue can keep the runner busy.
func (f *feeder) fill() {
	s := f.s
	for !s.stopping && len(s.ready) < s.limit && f.next < s.planner.Groups() {
		g := s.planner.Group(f.next)
		f.next++
		if s.adapt != nil {
			combos := make([]string, len(g.Executions))
			for i, ex := range g.Executions {
				combos[i] = ex.Combination.Name
			}
			s.adapt.Planned(g.Case.ID, g.Repeat, combos, f.next%len(s.b.Cases) == 0)
		}
		if len(g.Executions) == 0 {
			continue
		}
		f.writeRoot(g)
		gr := &groupRun{g: g, left: len(g.Executions), infos: map[*plan.Step]*stepInfo{}, scored: s.scored}
		f.openCount++
		for _, seg := range g.Roots {
			s.ready = append(s.ready, &attempt{seg: seg, group: gr, number: 1})
		}
	}
}

// writeRoot stores a case's root checkpoint (its input) once per case.
func (f *feeder) writeRoot(g *plan.Group) {
	idx := (f.next - 1) % len(f.s.b.Cases)
	if f.rooted[idx] {
		return
	}
	f.rooted[idx] = true
	if f.s.cfg.Stored != nil && f.s.cfg.Stored(g.RootID) {
		return
	}
	f.s.writer.send(store.WriteSet{Checkpoints: []store.Checkpoint{{ID: g.RootID, BatchID: f.s.cfg.BatchID,
		Source: store.SourceRoot, State: g.Case.Input, SegmentKey: g.Case.ID, CreatedAt: time.Now()}}})
}

// groupRun is an open group: what its finished node runs left for the
// executions still to finish.
type groupRun struct {
	g     *plan.Group
	left  int
	infos map[*plan.Step]*stepInfo
	// scored are the nodes whose outputs evaluators score.
	scored map[string]bool
}

// stepInfo is a finished node run as its executions need it.
type stepInfo struct {
	durationMs float64
	metrics    map[string]float64
	worker     string
	state      json.RawMessage // kept while children or ending executions need it
	output     json.RawMessage // kept when an evaluator scores this node
	llm        llmTotals       // the model calls the run made
	// steps are the run's model turns and tool calls, when a trajectory
	// evaluator scores them.
	steps []trajectory.Step
}

func (g *groupRun) info(st *plan.Step) *stepInfo {
	if i, ok := g.infos[st]; ok {
		return i
	}
	return &stepInfo{}
}

// record keeps a finished node run of the group.
func (g *groupRun) record(st *plan.Step, state, output json.RawMessage, durMs float64, metrics map[string]float64, worker string) {
	info := &stepInfo{durationMs: durMs, metrics: metrics, worker: worker}
	if len(st.Children) > 0 || len(st.Ending) > 0 {
		info.state = state
	}
	if g.scored[st.Node.Name] {
		info.output = output
	}
	g.infos[st] = info
}

// executionFinished counts an execution of the group as done and forgets the
// group once all are.
func (f *feeder) executionFinished(g *groupRun) {
	g.left--
	if g.left == 0 {
		g.infos = nil
		f.openCount--
	}
}
