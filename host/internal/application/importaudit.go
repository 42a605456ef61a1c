package application

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/wtbench/wtb/host/internal/bridge"
	"github.com/wtbench/wtb/host/internal/store"
)

// ImportOptions are how `wtb audit import` reads its source.
type ImportOptions struct {
	// For is how long a NATS subject is listened to.
	For time.Duration
	// Listening hears that the subscription is in place (NATS only).
	Listening func(server, subject string)
}

// ImportReport is what an import did.
type ImportReport struct {
	Batch *store.Batch
	// Read events; New were stored now, Known were in the trail already
	// (same source and id); Attributed name an execution of the batch;
	// UnknownKeys carry a wtbexecutionkey the batch has not stored; Bad
	// messages (NATS) were not CloudEvents.
	Read, New, Known, Attributed, UnknownKeys, Bad int
	// FirstBad is why the first bad message was refused.
	FirstBad string
}

// ImportAudit stores another system's CloudEvents in a batch's audit trail:
// from a file of JSON lines, or from a NATS subject (nats://host:port/subject)
// listened to for opts.For. Entries are keyed by the events' source and id,
// so importing twice adds nothing.
func ImportAudit(ctx context.Context, st store.Store, id, source string, opts ImportOptions) (*ImportReport, error) {
	rec, _, err := Batch(ctx, st, id)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	if err := st.Results().EachKey(ctx, rec.ID, func(k string) { keys[k] = true }); err != nil {
		return nil, runtimeErr("reading the executions of %s: %w", rec.ID, err)
	}
	known := map[string]bool{}
	existing, err := st.Audit().List(ctx, rec.ID, store.AuditFilter{})
	if err != nil {
		return nil, runtimeErr("reading the audit trail of %s: %w", rec.ID, err)
	}
	for _, e := range existing {
		known[e.ID] = true
	}
	rep := &ImportReport{Batch: rec}
	now := time.Now()
	var pending []store.AuditEntry
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := st.Audit().Append(ctx, pending); err != nil {
			return runtimeErr("storing imported events: %w", err)
		}
		pending = pending[:0]
		return nil
	}
	add := func(e bridge.Event) error {
		rep.Read++
		entry := bridge.Entry(rec.ID, e, func(k string) bool { return keys[k] }, now)
		if known[entry.ID] {
			rep.Known++
			return nil
		}
		known[entry.ID] = true
		rep.New++
		if entry.ExecutionKey != "" {
			if keys[entry.ExecutionKey] {
				rep.Attributed++
			} else {
				rep.UnknownKeys++
			}
		}
		pending = append(pending, entry)
		if len(pending) >= 1000 {
			return flush()
		}
		return nil
	}
	if server, subject, ok := bridge.NATSSource(source); ok {
		if subject == "" {
			return nil, configErr("%s names no subject: nats://host:port/SUBJECT (wildcards * and > allowed)", source)
		}
		var addErr error
		err := bridge.Listen(ctx, server, subject, opts.For, func() {
			if opts.Listening != nil {
				opts.Listening(server, subject)
			}
		}, func(e bridge.Event) {
			if addErr == nil {
				addErr = add(e)
			}
		}, func(err error) {
			rep.Bad++
			if rep.FirstBad == "" {
				rep.FirstBad = err.Error()
			}
		})
		if err != nil {
			return rep, runtimeErr("%v", err)
		}
		if addErr != nil {
			return rep, addErr
		}
		return rep, flush()
	}
	if strings.Contains(source, "://") {
		return nil, configErr("%s: a source is a file of CloudEvents (JSON, one a line) or nats://host:port/subject", source)
	}
	f, err := os.Open(source)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, configErr("no file %s (a source is a file of CloudEvents, JSON one a line, or nats://host:port/subject)", source)
	}
	if err != nil {
		return nil, runtimeErr("%v", err)
	}
	defer f.Close()
	evs, err := bridge.ReadLines(f, source)
	if err != nil {
		return nil, configErr("%v", err)
	}
	for _, e := range evs {
		if err := add(e); err != nil {
			return rep, err
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	return rep, nil
}

// Summary is the report's one line.
func (r *ImportReport) Summary(source string) string {
	s := fmt.Sprintf("imported %d of %d events from %s into the audit trail of batch %s (%d there already); %d attributed to executions",
		r.New, r.Read, source, r.Batch.ID, r.Known, r.Attributed)
	if r.UnknownKeys > 0 {
		s += fmt.Sprintf("; %d name an execution key the batch has not stored", r.UnknownKeys)
	}
	if r.Bad > 0 {
		s += fmt.Sprintf("; %d messages were not CloudEvents (first: %s)", r.Bad, r.FirstBad)
	}
	return s
}
