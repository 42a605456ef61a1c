package application

import (
	"context"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/traceout"
	"github.com/wtbench/wtb/sdk"
)

// traceSource reads what the trace of a stored execution is made of: its
// checkpoints (their metadata), the owners of its node runs (from the plan)
// and its span rows. During a run it also watches the store's transactions
// (observe): the checkpoints just written are cached, and the span rows
// written are noted, so an execution whose runs have none costs no query.
// load is called by one goroutine at a time (the exporter's sender, or
// ExportTrace); observe by the writer's.
type traceSource struct {
	st      store.Store
	rec     *store.Batch
	b       *spec.Batch
	planner *plan.Planner
	cases   map[string]int
	groups  map[int]*plan.Group

	mu          sync.Mutex
	cps, oldCps map[string]*store.Checkpoint
	// live: the span rows of this run are those in spanRuns (hashes of
	// their run ids) and its model calls those in calls; else the database
	// is asked for every execution.
	live     bool
	spanRuns map[uint64]struct{}
	// calls are the sources of the model calls each node run of this run
	// made, by ordinal (by the hash of the run id).
	calls map[uint64][]string
	// attempts says this run stored span rows or calls of a failed attempt
	// (run id STEP#aN): until it has, a live load looks for none.
	attempts bool
	// before says a checkpoint was stored before this run (a resumed
	// batch's, a fork's copies): its span rows and calls are read from the
	// database (nil: none was).
	before func(string) bool
}

// Bounds of the source's caches, emptied when full: executions share roots
// and prefixes, and a result comes right after its checkpoints.
const (
	traceCachedCheckpoints = 16384
	traceCachedGroups      = 256
)

func newTraceSource(st store.Store, rec *store.Batch, b *spec.Batch, live bool) *traceSource {
	s := &traceSource{st: st, rec: rec, b: b, cases: map[string]int{}, groups: map[int]*plan.Group{},
		planner: plan.NewPlanner(b, plan.Options{BatchID: rec.ID, FileHasher: plan.StoredHashes(b.FileHashes)}),
		// Sized for the batch up front (up to the bound): grown one
		// checkpoint at a time, it was rehashed on the writer's goroutine.
		cps: make(map[string]*store.Checkpoint, min(2*max(rec.Total, 32), traceCachedCheckpoints)), live: live, spanRuns: map[uint64]struct{}{}, calls: map[uint64][]string{}}
	for i := range b.Cases {
		s.cases[b.Cases[i].ID] = i
	}
	return s
}

func runHash(id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}

// observe notes a committed transaction's checkpoints and span rows.
func (s *traceSource) observe(ws store.WriteSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ws.Checkpoints {
		s.cache(&ws.Checkpoints[i])
	}
	for _, r := range ws.Spans {
		s.spanRuns[runHash(r.RunID)] = struct{}{}
		if _, ok := attemptOf(r.RunID); ok {
			s.attempts = true
		}
	}
	for i := range ws.ModelCalls {
		c := &ws.ModelCalls[i]
		if _, ok := attemptOf(c.RunID); ok {
			s.attempts = true
		}
		s.calls[runHash(c.RunID)] = setSource(s.calls[runHash(c.RunID)], c.Ordinal, c.Source)
	}
}

// setSource puts a call's source at its ordinal.
func setSource(list []string, ordinal int, source string) []string {
	if ordinal < 0 || ordinal > 100000 {
		return list
	}
	for len(list) <= ordinal {
		list = append(list, "")
	}
	// The constants, so a long batch holds no copies of the same words.
	switch source {
	case sdk.SourceLive, sdk.SourceRecorded, sdk.SourceReplayed:
	default:
		source = strings.Clone(source)
	}
	list[ordinal] = source
	return list
}

// cache keeps a checkpoint's metadata (under s.mu). Two generations: when
// the newer is full it becomes the older and the older is dropped, so the
// checkpoints written last are always kept — the sender reads them a
// buffer's length behind the writer, and a cache emptied at once made it
// read most of them back from the database.
func (s *traceSource) cache(cp *store.Checkpoint) *store.Checkpoint {
	c := *cp
	c.State, c.Output, c.Logs = nil, nil, nil
	if len(s.cps) >= traceCachedCheckpoints {
		// The older generation's map is emptied and becomes the newer
		// (its memory kept rather than a map that size made anew).
		older := s.oldCps
		clear(older)
		if older == nil {
			older = make(map[string]*store.Checkpoint, traceCachedCheckpoints)
		}
		s.oldCps, s.cps = s.cps, older
	}
	s.cps[c.ID] = &c
	return &c
}

func (s *traceSource) checkpoint(ctx context.Context, id string) (*store.Checkpoint, error) {
	s.mu.Lock()
	cp := s.cps[id]
	if cp == nil {
		cp = s.oldCps[id]
	}
	s.mu.Unlock()
	if cp != nil {
		return cp, nil
	}
	got, err := s.st.Checkpoints().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache(got), nil
}

func (s *traceSource) group(i int) *plan.Group {
	g := s.groups[i]
	if g == nil {
		if len(s.groups) >= traceCachedGroups {
			clear(s.groups)
		}
		g = s.planner.Group(i)
		s.groups[i] = g
	}
	return g
}

func (s *traceSource) load(ctx context.Context, res *store.Result) (traceout.Execution, error) {
	ex := traceout.Execution{Result: res}
	for id := res.FinalCheckpointID; id != "" && len(ex.Chain) < 10000; {
		cp, err := s.checkpoint(ctx, id)
		if err != nil {
			return ex, err
		}
		ex.Chain = append(ex.Chain, cp)
		id = cp.ParentID
	}
	slices.Reverse(ex.Chain)
	var ids []string
	runs := 0
	for _, cp := range ex.Chain {
		if cp.Source != store.SourceRoot {
			runs++
			ids = append(ids, cp.ID)
		}
	}
	// The plan says who owns a shared run and names the step that failed;
	// an execution of a run that succeeded with one node run of its own
	// (an execution's last run is never shared) needs neither, and a
	// group of the plan costs as much as the rest of its export.
	ci, ok := s.cases[res.CaseID]
	if !ok || (s.live && res.Success && (runs <= 1 || !s.b.SharePrefixes)) {
		if s.mayHaveAttempts() {
			for _, id := range ids {
				for n := 1; n <= s.b.MaxRetries+1; n++ {
					ids = append(ids, id+"#a"+strconv.Itoa(n))
				}
			}
		}
		return s.spans(ctx, ex, ids)
	}
	ids = ids[:0]
	ex.Owner = map[string]string{}
	for _, e := range s.group(res.Repeat*len(s.b.Cases) + ci).Executions {
		if e.Key != res.ExecutionKey {
			continue
		}
		for _, st := range e.Steps {
			if len(st.Executions) > 0 {
				ex.Owner[st.ID] = st.Executions[0].Key
			}
			ids = append(ids, st.ID)
			if s.mayHaveAttempts() {
				for n := 1; n <= s.b.MaxRetries+1; n++ {
					ids = append(ids, st.ID+"#a"+strconv.Itoa(n))
				}
			}
		}
	}
	return s.spans(ctx, ex, ids)
}

// mayHaveAttempts says failed attempts' rows may be stored: always when
// reading a stored batch or runs stored before this one, else once this
// run has stored one.
func (s *traceSource) mayHaveAttempts() bool {
	if !s.live || s.before != nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// spans reads the span rows and the model calls' sources of the node runs
// among ids: live, those of the runs this run stored from what it observed
// (a run without span rows costs no query) and those of runs stored before
// it from the database; else all from the database.
func (s *traceSource) spans(ctx context.Context, ex traceout.Execution, ids []string) (traceout.Execution, error) {
	query, calls := ids, ids
	if s.live {
		query, calls = nil, nil
		s.mu.Lock()
		for _, id := range ids {
			if step, _ := attemptOf(id); s.before != nil && s.before(step) {
				query, calls = append(query, id), append(calls, id)
				continue
			}
			h := runHash(id)
			if c := s.calls[h]; len(c) > 0 {
				if ex.Calls == nil {
					ex.Calls = map[string][]string{}
				}
				ex.Calls[id] = c
			}
			if _, ok := s.spanRuns[h]; ok {
				query = append(query, id)
			}
		}
		s.mu.Unlock()
	}
	// Only an execution whose runs made calls has call rows to read.
	if len(calls) > 0 && ex.Result.Metrics[modelcalls.MetricCalls] > 0 {
		rows, err := s.st.ModelCalls().ListByRuns(ctx, s.rec.ID, calls)
		if err != nil {
			return ex, err
		}
		for i := range rows {
			if ex.Calls == nil {
				ex.Calls = map[string][]string{}
			}
			ex.Calls[rows[i].RunID] = setSource(ex.Calls[rows[i].RunID], rows[i].Ordinal, rows[i].Source)
		}
	}
	if len(query) > 0 {
		rows, err := s.st.Spans().ListByRuns(ctx, s.rec.ID, query)
		if err != nil {
			return ex, err
		}
		ex.Spans = rows
	}
	return s.forkedSpans(ctx, ex)
}

// forkedSpans adds the spans of the node runs a fork took from its parent
// batch: the fork stores copies of their checkpoints (segment key
// "fork:PARENT_CHECKPOINT"), not their span rows, which stay the parent's.
// A run the parent had itself from its own parent brings none.
func (s *traceSource) forkedSpans(ctx context.Context, ex traceout.Execution) (traceout.Execution, error) {
	if s.rec.ParentID == "" || s.rec.Lineage != store.LineageFork {
		return ex, nil
	}
	var from map[string]string
	for _, cp := range ex.Chain {
		if id, ok := strings.CutPrefix(cp.SegmentKey, "fork:"); ok && cp.Source == store.SourceForked {
			if from == nil {
				from = map[string]string{}
			}
			from[id] = cp.ID
		}
	}
	if len(from) == 0 {
		return ex, nil
	}
	rows, err := s.st.Spans().ListByRuns(ctx, s.rec.ParentID, slices.Collect(maps.Keys(from)))
	if err != nil {
		return ex, err
	}
	for _, r := range rows {
		r.RunID = from[r.RunID]
		ex.Spans = append(ex.Spans, r)
	}
	return ex, nil
}

// attemptOf splits a failed attempt's run id STEP#aN into the step's id
// (the id itself for a run that is no failed attempt).
func attemptOf(runID string) (string, bool) {
	i := strings.LastIndex(runID, "#a")
	if i < 0 {
		return runID, false
	}
	return runID[:i], true
}
