package application

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
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
		var refused string
		if s.Rejected > 0 || s.RejectedMessage != "" {
			// The collector took the requests but refused part of them
			// (OTLP partial success): its own verdict, said as it gave it.
			refused = fmt.Sprintf(", of which the collector refused %d (%q)", s.Rejected, s.RejectedMessage)
		}
		if s.Dropped() == 0 && (s.BatchSpan || s.BatchSpanHeld) {
			held := ""
			if s.BatchSpanHeld {
				held = fmt.Sprintf("; the batch's span waits for its end (`wtb resume %s` sends it)", rec.ID)
			}
			a.notice("trace export (%s): %d spans of %d executions%s sent%s; trace id %s%s", s.Target, s.Spans, s.Executions, also, refused, s.TraceID, held)
			continue
		}
		why := fmt.Sprintf("%d past the buffer, %d the collector did not take, %d undelivered at the end", s.PastBuffer, s.Failed, s.Undelivered)
		if !s.BatchSpan && !s.BatchSpanHeld {
			why += ", the batch's span not sent"
		}
		why += refused
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
