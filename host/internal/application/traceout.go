package application

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/traceout"
	"github.com/wtbench/wtb/sdk"
)

// TraceExport is where --otlp-endpoint sends the batch's trace.
type TraceExport struct {
	// URL is the collector's OTLP/HTTP endpoint ("" with Env: the
	// OTEL_EXPORTER_OTLP_* variables name it).
	URL string
	// Headers come from --otlp-header; never stored.
	Headers map[string]string
}

// otelEnvTarget is the export the OTEL_EXPORTER_OTLP_* variables ask for:
// as with any OpenTelemetry SDK, an endpoint in OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT turns it on, OTEL_TRACES_EXPORTER=none
// or OTEL_SDK_DISABLED=true off.
func otelEnvTarget() (traceout.Target, bool) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return traceout.Target{}, false
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if os.Getenv(name) != "" {
			return traceout.Target{From: name}, true
		}
	}
	return traceout.Target{}, false
}

// traceTargets are the run's trace exports: --otlp-endpoint, the bench
// file's bridge "otlp" (when its stored form kept what it needs), or else
// the OTEL_EXPORTER_OTLP_* variables.
func (a *App) traceTargets(b *spec.Batch, opts RunOptions) ([]traceout.Target, error) {
	var out []traceout.Target
	if x := opts.TraceExport; x != nil {
		if x.URL != "" {
			if _, err := traceout.TracesURL(x.URL); err != nil {
				return nil, configErr("--otlp-endpoint: %v", err)
			}
		}
		t := traceout.Target{URL: x.URL, Headers: x.Headers, From: "--otlp-endpoint"}
		if x.URL == "" {
			env, ok := otelEnvTarget()
			if !ok {
				return nil, configErr("--otlp-header needs --otlp-endpoint URL (or OTEL_EXPORTER_OTLP_ENDPOINT): the collector to send the headers to")
			}
			t.From = env.From
		}
		out = append(out, t)
	}
	for _, br := range b.Bridges {
		if br.Kind != spec.BridgeOTLP {
			continue
		}
		if lost := br.LostSecrets(); lost != "" {
			a.notice("bridge otlp (%s) is off for this run: the batch does not store %s (they may be secrets); run the bench file again, or pass --otlp-endpoint and --otlp-header",
				br.URL, lost)
			continue
		}
		out = append(out, traceout.Target{URL: br.Endpoint(), Headers: br.Headers, Buffer: br.Buffer,
			FlushTimeout: time.Duration(br.FlushTimeout), From: `bridge "otlp"`})
	}
	if len(out) == 0 {
		if t, ok := otelEnvTarget(); ok {
			out = append(out, t)
		}
	}
	if len(out) > 0 {
		parent := a.traceParent()
		for i := range out {
			out[i].Parent = parent
		}
	}
	return out, nil
}

// traceParent is the span TRACEPARENT names, which the batch's trace joins
// as OpenTelemetry tools join their caller's trace: a wtb started by a node
// of another batch exports its batch as part of that node run's trace (nil:
// none, or one that is no traceparent, which is said and ignored).
func (a *App) traceParent() *traceout.Parent {
	v := os.Getenv("TRACEPARENT")
	if v == "" {
		return nil
	}
	p, err := traceout.ParseTraceparent(v)
	if err != nil {
		a.notice("trace export: %v; the batch is a trace of its own", err)
		return nil
	}
	return p
}

// traceExports are a run's trace exports, each with its source.
type traceExports struct {
	xs   []*traceout.Exporter
	srcs []*traceSource
	// final is set when the run ended the batch (every execution it will
	// have is stored): only then is the batch's span sent.
	final bool
}

// stored hears a committed store transaction (sched.Config.OnStored).
func (t *traceExports) stored(ws store.WriteSet) {
	for i, x := range t.xs {
		t.srcs[i].observe(ws)
		x.Add(ws.Results)
	}
}

// startTraceExports starts the run's trace exports (none: nil). A resumed
// batch's export also sends what was stored before the run (done: those
// executions; before: the checkpoints stored then, whose span rows and
// model calls the run's transactions will not show): the run that stored
// them may have died before sending them, and a collector keeps one of
// spans sent twice, which are the same.
func (a *App) startTraceExports(st store.Store, rec *store.Batch, b *spec.Batch, opts RunOptions, done *keySet, before func(string) bool) (*traceExports, error) {
	targets, err := a.traceTargets(b, opts)
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	out := &traceExports{}
	for _, t := range targets {
		src := newTraceSource(st, rec, b, true)
		src.before = before
		x, err := traceout.Start(t, rec.ID, a.Version, src.load, a.Log)
		if err != nil {
			for _, o := range out.xs {
				o.Close(traceout.BatchOf(rec), false)
			}
			return nil, configErr("%v", err)
		}
		out.xs, out.srcs = append(out.xs, x), append(out.srcs, src)
	}
	if n := done.len(); n > 0 {
		for _, x := range out.xs {
			x.Resend(n, storedBefore(st, rec.ID, done))
		}
	}
	return out, nil
}

// storedBefore yields the stored results among done, in pages (the loader
// reads the same database for each). Results stored meanwhile only push
// rows to later pages, so none is missed; one seen twice is skipped.
func storedBefore(st store.Store, batchID string, done *keySet) func(ctx context.Context, fn func(*store.Result) error) error {
	return func(ctx context.Context, fn func(*store.Result) error) error {
		const page = 500
		var seen keySet
		for off := 0; ; off += page {
			rows, _, err := st.Results().Query(ctx, batchID, store.ResultQuery{Offset: off, Limit: page, NoTotal: true})
			if err != nil {
				return err
			}
			seen.seal()
			var now keySet
			for i := range rows {
				k := rows[i].ExecutionKey
				if !done.contains(k) || seen.contains(k) {
					continue
				}
				now.add(k)
				if err := fn(&rows[i]); err != nil {
					return err
				}
			}
			seen.hashes = append(seen.hashes, now.hashes...)
			if len(rows) < page {
				return nil
			}
		}
	}
}

// closeTraceExports sends what waits and the batch's span, prints what was
// sent and tells the audit trail (through the bus) about what was not.
func (a *App) closeTraceExports(bus *events.Bus, rec *store.Batch, t *traceExports) {
	if t == nil {
		return
	}
	for _, x := range t.xs {
		s := x.Close(traceout.BatchOf(rec), t.final)
		var also string
		if s.Resent > 0 {
			also = fmt.Sprintf(" (%d of them stored before this run)", s.Resent)
		}
		if s.Dropped() == 0 && (s.BatchSpan || s.BatchSpanHeld) {
			held := ""
			if s.BatchSpanHeld {
				held = fmt.Sprintf("; the batch's span waits for its end (`wtb resume %s` sends it)", rec.ID)
			}
			a.notice("trace export (%s): %d spans of %d executions%s sent; trace id %s%s", s.Target, s.Spans, s.Executions, also, s.TraceID, held)
			continue
		}
		why := fmt.Sprintf("%d past the buffer, %d the collector did not take, %d undelivered at the end", s.PastBuffer, s.Failed, s.Undelivered)
		if !s.BatchSpan && !s.BatchSpanHeld {
			why += ", the batch's span not sent"
		}
		if s.Err != "" {
			why += "; last error: " + s.Err
		}
		a.notice("trace export (%s): %d executions sent, %d dropped (%s); see wtb audit; `wtb trace export %s` sends the stored batch again",
			s.Target, s.Executions, s.Dropped(), why, rec.ID)
		bus.Publish(events.Event{Type: events.BridgeDropped, BatchID: rec.ID,
			Message: fmt.Sprintf("trace export to %s dropped %d executions (%s)", s.Target, s.Dropped(), why),
			Data: map[string]any{"bridge": spec.BridgeOTLP, "url": s.Target, "sent": s.Executions, "spans": s.Spans, "dropped": s.Dropped(),
				"past_buffer": s.PastBuffer, "failed": s.Failed, "undelivered": s.Undelivered, "batch_span": s.BatchSpan, "error": s.Err}})
	}
}

// TraceID is the trace id (hex) a batch is exported under.
func TraceID(batchID string) string { return fmt.Sprintf("%x", traceout.TraceID(batchID)) }

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
		cps:     map[string]*store.Checkpoint{}, live: live, spanRuns: map[uint64]struct{}{}, calls: map[uint64][]string{}}
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
		s.oldCps, s.cps = s.cps, make(map[string]*store.Checkpoint, traceCachedCheckpoints)
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

// TraceExportResult is what ExportTrace sent.
type TraceExportResult struct {
	Batch   *store.Batch
	TraceID string
	Stats   traceout.Stats
}

// ExportTrace sends a stored batch's trace to a collector, through the
// conversion and the loader a live export uses.
func (a *App) ExportTrace(ctx context.Context, st store.Store, id string, x TraceExport) (*TraceExportResult, error) {
	rec, b, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	t := traceout.Target{URL: x.URL, Headers: x.Headers, From: "--otlp-endpoint", Parent: a.traceParent()}
	if x.URL == "" {
		env, ok := otelEnvTarget()
		if !ok {
			return nil, configErr("wtb trace export needs --otlp-endpoint URL (or OTEL_EXPORTER_OTLP_ENDPOINT): the collector's OTLP/HTTP endpoint, such as http://127.0.0.1:4318")
		}
		t.From = env.From
	} else if _, err := traceout.TracesURL(x.URL); err != nil {
		return nil, configErr("--otlp-endpoint: %v", err)
	}
	load := newTraceSource(st, rec, b, false).load
	each := func(fn func(*store.Result) error) error {
		// Pages rather than one open cursor: the loader reads the same
		// database for each result.
		const page = 500
		for off := 0; ; off += page {
			rows, _, err := st.Results().Query(ctx, rec.ID, store.ResultQuery{Offset: off, Limit: page, NoTotal: true})
			if err != nil {
				return err
			}
			for i := range rows {
				if err := fn(&rows[i]); err != nil {
					return err
				}
			}
			if len(rows) < page {
				return nil
			}
		}
	}
	stats, err := traceout.SendStored(ctx, t, traceout.BatchOf(rec), a.Version, each, load)
	out := &TraceExportResult{Batch: rec, TraceID: stats.TraceID, Stats: stats}
	if err != nil {
		return out, runtimeErr("trace export of %s: %v (%d executions sent before)", rec.ID, err, stats.Executions)
	}
	return out, nil
}
