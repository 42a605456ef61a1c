package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/traceout"
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
	return out, nil
}

// startTraceExports starts the run's trace exports (none: nil).
func (a *App) startTraceExports(st store.Store, rec *store.Batch, b *spec.Batch, opts RunOptions) ([]*traceout.Exporter, error) {
	targets, err := a.traceTargets(b, opts)
	if err != nil {
		return nil, err
	}
	var out []*traceout.Exporter
	for _, t := range targets {
		x, err := traceout.Start(t, rec.ID, a.Version, traceLoader(st, rec, b), a.Log)
		if err != nil {
			for _, o := range out {
				o.Close(traceout.BatchOf(rec))
			}
			return nil, configErr("%v", err)
		}
		out = append(out, x)
	}
	return out, nil
}

// closeTraceExports sends what waits and the batch's span, prints what was
// sent and tells the audit trail (through the bus) about what was not.
func (a *App) closeTraceExports(bus *events.Bus, rec *store.Batch, xs []*traceout.Exporter) {
	for _, x := range xs {
		s := x.Close(traceout.BatchOf(rec))
		if s.Dropped() == 0 && s.BatchSpan {
			a.notice("trace export (%s): %d spans of %d executions sent; trace id %s", s.Target, s.Spans, s.Executions, TraceID(rec.ID))
			continue
		}
		why := fmt.Sprintf("%d past the buffer, %d the collector did not take, %d undelivered at the end", s.PastBuffer, s.Failed, s.Undelivered)
		if !s.BatchSpan {
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

// traceLoader reads a stored execution's checkpoints and span rows for its
// trace. It is used by one goroutine at a time (the exporter's sender, or
// ExportTrace): the planner and the cache are its own.
func traceLoader(st store.Store, rec *store.Batch, b *spec.Batch) traceout.Loader {
	p := plan.NewPlanner(b, plan.Options{BatchID: rec.ID, FileHasher: plan.StoredHashes(b.FileHashes)})
	cases := map[string]int{}
	for i := range b.Cases {
		cases[b.Cases[i].ID] = i
	}
	// Checkpoints (their metadata) by id: executions share their roots and
	// prefixes. Bounded; emptied when full.
	const maxCached = 4096
	cache := map[string]*store.Checkpoint{}
	lastGroup, group := -1, (*plan.Group)(nil)
	return func(ctx context.Context, res *store.Result) (traceout.Execution, error) {
		ex := traceout.Execution{Result: res}
		for id := res.FinalCheckpointID; id != "" && len(ex.Chain) < 10000; {
			cp := cache[id]
			if cp == nil {
				got, err := st.Checkpoints().Get(ctx, id)
				if err != nil {
					return ex, err
				}
				c := *got
				c.State, c.Output, c.Logs = nil, nil, nil
				if len(cache) >= maxCached {
					clear(cache)
				}
				cache[id] = &c
				cp = &c
			}
			ex.Chain = append(ex.Chain, cp)
			id = cp.ParentID
		}
		for i, j := 0, len(ex.Chain)-1; i < j; i, j = i+1, j-1 {
			ex.Chain[i], ex.Chain[j] = ex.Chain[j], ex.Chain[i]
		}
		ci, ok := cases[res.CaseID]
		if !ok {
			return ex, nil
		}
		if gi := res.Repeat*len(b.Cases) + ci; gi != lastGroup {
			group, lastGroup = p.Group(gi), gi
		}
		var ids []string
		ex.Owner = map[string]string{}
		for _, e := range group.Executions {
			if e.Key != res.ExecutionKey {
				continue
			}
			for _, s := range e.Steps {
				if len(s.Executions) > 0 {
					ex.Owner[s.ID] = s.Executions[0].Key
				}
				ids = append(ids, s.ID)
				for n := 1; n <= b.MaxRetries+1; n++ {
					ids = append(ids, fmt.Sprintf("%s#a%d", s.ID, n))
				}
			}
		}
		if len(ids) == 0 {
			return ex, nil
		}
		rows, err := st.Spans().ListByRuns(ctx, rec.ID, ids)
		if err != nil {
			return ex, err
		}
		ex.Spans = rows
		return ex, nil
	}
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
	t := traceout.Target{URL: x.URL, Headers: x.Headers, From: "--otlp-endpoint"}
	if x.URL == "" {
		env, ok := otelEnvTarget()
		if !ok {
			return nil, configErr("wtb trace export needs --otlp-endpoint URL (or OTEL_EXPORTER_OTLP_ENDPOINT): the collector's OTLP/HTTP endpoint, such as http://127.0.0.1:4318")
		}
		t.From = env.From
	} else if _, err := traceout.TracesURL(x.URL); err != nil {
		return nil, configErr("--otlp-endpoint: %v", err)
	}
	load := traceLoader(st, rec, b)
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
	out := &TraceExportResult{Batch: rec, TraceID: TraceID(rec.ID), Stats: stats}
	if err != nil {
		return out, runtimeErr("trace export of %s: %v (%d executions sent before)", rec.ID, err, stats.Executions)
	}
	return out, nil
}
