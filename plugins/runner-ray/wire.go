package main

import (
	"encoding/json"

	"github.com/wtbench/wtb/sdk"
)

// What travels between this plugin and the node server inside each Ray actor
// (the same binary, so the same version on both ends): one JSON line per
// call, one per reply. The Python driver and actors carry the lines as
// opaque strings, so node semantics never pass through Python.

// call is one line to a node server: a segment to run, or a cancellation.
type call struct {
	ID      string              `json:"id"`
	Request *sdk.ExecuteRequest `json:"request,omitempty"`
	Cancel  bool                `json:"cancel,omitempty"`
}

// reply is a node server's answer to a segment: the node events in order and
// the outcome.
type reply struct {
	ID      string      `json:"id"`
	Events  []event     `json:"events"`
	Outcome sdk.Outcome `json:"outcome"`
}

// event is one sdk.Events call.
type event struct {
	Kind     string           `json:"k"` // started, finished, failed, log
	Node     string           `json:"node,omitempty"`
	WorkerID string           `json:"worker,omitempty"`
	Result   *sdk.NodeResult  `json:"result,omitempty"`
	Failure  *sdk.NodeFailure `json:"failure,omitempty"`
	Stream   sdk.LogStream    `json:"stream,omitempty"`
	Line     string           `json:"line,omitempty"`
}

// recorder collects a segment's events for its reply.
type recorder struct{ events []event }

func (r *recorder) NodeStarted(node, workerID string) {
	r.events = append(r.events, event{Kind: "started", Node: node, WorkerID: workerID})
}
func (r *recorder) NodeFinished(n sdk.NodeResult) {
	r.events = append(r.events, event{Kind: "finished", Result: &n})
}
func (r *recorder) NodeFailed(f sdk.NodeFailure) {
	r.events = append(r.events, event{Kind: "failed", Failure: &f})
}
func (r *recorder) Log(node string, stream sdk.LogStream, line string) {
	r.events = append(r.events, event{Kind: "log", Node: node, Stream: stream, Line: line})
}

// replay hands a reply's events to the host, in order.
func (rp *reply) replay(ev sdk.Events) {
	for _, e := range rp.Events {
		switch e.Kind {
		case "started":
			ev.NodeStarted(e.Node, e.WorkerID)
		case "finished":
			if e.Result != nil {
				ev.NodeFinished(*e.Result)
			}
		case "failed":
			if e.Failure != nil {
				ev.NodeFailed(*e.Failure)
			}
		case "log":
			ev.Log(e.Node, e.Stream, e.Line)
		}
	}
}

// driverMsg is a line between this plugin and the Python driver.
type driverMsg struct {
	Op string `json:"op"`
	ID uint64 `json:"id,omitempty"`
	// run: the node server call and, in the result, its reply: JSON lines
	// sent raw after the message's own line, so states are not escaped
	// into JSON strings and back on every hop. The runtime_env of the
	// environment goes with the first run of each env_key only.
	Payload    []byte          `json:"-"`
	CallID     string          `json:"call_id,omitempty"`
	EnvKey     string          `json:"env_key,omitempty"`
	RuntimeEnv json.RawMessage `json:"runtime_env,omitempty"`
	// result / lost / fatal / log / ready
	Message   string          `json:"message,omitempty"`
	Retryable bool            `json:"retryable,omitempty"`
	Actor     string          `json:"actor,omitempty"`
	Level     string          `json:"level,omitempty"`
	Info      json.RawMessage `json:"info,omitempty"`
	// configure: the driver's settings.
	Config *driverConfig `json:"config,omitempty"`
}

// driverConfig is what the driver needs to know, sent as its first line.
type driverConfig struct {
	Address        string          `json:"address"`
	Namespace      string          `json:"namespace"`
	NumCPUs        float64         `json:"num_cpus"`
	MemoryBytes    int64           `json:"memory_bytes"`
	MaxPending     int             `json:"max_pending"`
	MaxRestarts    int             `json:"max_restarts"`
	Actors         int             `json:"actors"`
	RuntimeEnv     json.RawMessage `json:"runtime_env,omitempty"`
	BaseEnvKey     string          `json:"base_env_key"`
	Executor       string          `json:"executor"`
	Ship           bool            `json:"ship"`
	ConnectTimeout float64         `json:"connect_timeout_s"`
}
