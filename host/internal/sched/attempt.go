package sched

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// nodeDone is a node run an attempt finished.
type nodeDone struct {
	step     *plan.Step
	state    json.RawMessage
	output   json.RawMessage
	duration time.Duration
	metrics  map[string]float64
	worker   string
	logs     []store.LogLine
	calls    []sdk.Interaction
	spans    sdk.Spans
}

// attemptEvents receives an attempt's events from the runner: it keeps the
// finished node runs (for the checkpoints) and tells the bus. The runner calls
// it from its own goroutine.
type attemptEvents struct {
	s      *scheduler
	a      *attempt
	byName map[string]*plan.Step
	mu     sync.Mutex
	done   []nodeDone
	logs   map[string]*runLog // by node; "" for lines about the execution
	// failed are the model calls of the node that failed, if it made any.
	failedNode  string
	failedCalls []sdk.Interaction
	failedSpans sdk.Spans
}

var _ sdk.Events = (*attemptEvents)(nil)

func newAttemptEvents(s *scheduler, a *attempt) *attemptEvents {
	e := &attemptEvents{s: s, a: a, byName: make(map[string]*plan.Step, len(a.seg.Steps)-a.startIdx)}
	for _, st := range a.seg.Steps[a.startIdx:] {
		e.byName[st.Node.Name] = st
	}
	return e
}

func (e *attemptEvents) publish(ev events.Event) {
	ev.BatchID, ev.ExecutionKey, ev.Attempt = e.s.cfg.BatchID, e.a.seg.Key, e.a.number
	e.s.cfg.Bus.Publish(ev)
}

func (e *attemptEvents) NodeStarted(node, _ string) {
	e.publish(events.Event{Type: events.NodeStarted, Node: node})
}

func (e *attemptEvents) NodeFinished(r sdk.NodeResult) {
	// A node the request did not ask for (a joined workflow that began further
	// back) is not this attempt's to store.
	if st := e.byName[r.Node]; st != nil {
		e.mu.Lock()
		e.done = append(e.done, nodeDone{step: st, state: r.State, output: r.Output, duration: r.Duration,
			metrics: r.Metrics, worker: r.WorkerID, logs: e.logs[r.Node].entries(), calls: r.Interactions, spans: r.Spans})
		delete(e.logs, r.Node)
		e.mu.Unlock()
	}
	e.publish(events.Event{Type: events.NodeFinished, Node: r.Node, Data: map[string]any{"duration_ms": ms(r.Duration)}})
}

func (e *attemptEvents) NodeFailed(f sdk.NodeFailure) {
	if (len(f.Interactions) > 0 || len(f.Spans.Spans) > 0 || f.Spans.Dropped > 0) && e.byName[f.Node] != nil {
		e.mu.Lock()
		e.failedNode, e.failedCalls, e.failedSpans = f.Node, f.Interactions, f.Spans
		e.mu.Unlock()
	}
	e.publish(events.Event{Type: events.NodeFailed, Node: f.Node, Error: e.s.redact.String(f.Error)})
}

func (e *attemptEvents) Log(node string, stream sdk.LogStream, line string) {
	line = e.s.redact.String(line)
	e.s.log.Debug("node log", "execution", e.a.seg.Key, "node", node, "line", line)
	if _, asked := e.byName[node]; !asked && node != "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.logs[node]
	if l == nil {
		if e.logs == nil {
			e.logs = map[string]*runLog{}
		}
		l = &runLog{max: e.s.b.MaxLogBytes}
		e.logs[node] = l
	}
	l.add(stream, line, time.Now())
}

// failureLogs are the lines of a node that did not finish, after the
// runner's lines about the execution.
func (e *attemptEvents) failureLogs(node string) []store.LogLine {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.logs[""].entries()
	if node != "" {
		out = append(out, e.logs[node].entries()...)
	}
	return out
}

// finished returns the node runs the attempt finished, in order.
func (e *attemptEvents) finished() []nodeDone {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done
}

// finishedOrNil is finished for an attempt that may never have been sent.
func (e *attemptEvents) finishedOrNil() []nodeDone {
	if e == nil {
		return nil
	}
	return e.finished()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
