package sdk

import (
	"encoding/json"
	"time"
)

// ExecuteRequest asks a runner to execute one segment of a workflow: run Nodes in
// order, starting from StartState.
type ExecuteRequest struct {
	// ExecutionID is unique per attempt.
	ExecutionID string
	// ExecutionKey is stable across attempts and resumes: "combination/case/repeat".
	// Use it as an idempotency key when talking to external systems.
	ExecutionKey string
	Attempt      int
	BatchID      string
	// Combination is the combination's name, e.g. "answer=t0,retrieve=bm25".
	Combination string
	// Variants maps node name to the variant chosen for it.
	Variants    map[string]string
	Case        Case
	RepeatIndex int
	// Nodes to run, in execution order.
	Nodes []Node
	// StartState is a JSON object: the case input for a fresh execution or a stored
	// checkpoint's state when the host resumes, forks or shares a prefix.
	StartState json.RawMessage
	// StartCheckpointID names the checkpoint StartState came from, if any.
	StartCheckpointID string
	Env               RuntimeEnv
	// Deadline is when the host cancels the execution; zero means none.
	Deadline time.Time
	Labels   map[string]string
	// ModelCalls, when set, puts the model-call gateway beside the nodes.
	ModelCalls *ModelCalls
	// Recordings are what the gateway may replay, per node run (RunKey).
	Recordings []Recordings
}

// RecordingsFor returns the recordings of the node run with runKey.
func (r *ExecuteRequest) RecordingsFor(runKey string) *Recordings {
	for i := range r.Recordings {
		if r.Recordings[i].RunKey == runKey {
			return &r.Recordings[i]
		}
	}
	return nil
}

// Node is one workflow node to run.
type Node struct {
	Name string
	// Kind is "command" (also when empty), "merge", or a kind the runner registers.
	Kind    string
	Command []string
	// Params is the node's parameter object after its variant's overrides.
	Params    json.RawMessage
	Env       map[string]string
	Timeout   time.Duration
	Variant   string
	DependsOn []string
	// MaxOutputBytes bounds the node's stdout; zero means the executor's default.
	MaxOutputBytes int64
	// ConfigHash is the host's hash of the node's effective configuration.
	ConfigHash string
	// Worker, when set, runs a command node's program as a persistent worker
	// (see WorkerSpec) instead of once per run.
	Worker *WorkerSpec
	// RunKey is the node run's identity, the same in every batch: the case,
	// the repeat, and the configuration and files of this node and those
	// before it. Model-call recordings are kept under it.
	RunKey string
}

// WorkerSpec bounds a command node's persistent workers: long-lived processes
// that read one request per line on stdin (the document a one-shot node reads
// whole) and answer one JSON object per line on stdout. A worker is started
// with WTB_WORKER=1 in its environment. An answer {"$error": "message"} fails
// the request ("$retryable": true lets the host retry it).
type WorkerSpec struct {
	// Max is the most processes for one node configuration; zero: the
	// runner's concurrency.
	Max int
	// MaxRequests replaces a process after that many requests; zero: never.
	MaxRequests int
	// IdleTimeout stops a process idle that long; zero: DefaultWorkerIdle.
	IdleTimeout time.Duration
}

// DefaultWorkerIdle is how long an idle worker process lives by default.
const DefaultWorkerIdle = 5 * time.Minute

// Case is one test case.
type Case struct {
	ID       string
	Input    json.RawMessage
	Expected json.RawMessage
}

// RuntimeEnv says where and how the nodes of a variant run.
type RuntimeEnv struct {
	ID         string
	Env        map[string]string
	WorkingDir string
	Labels     map[string]string
}

// Status is the outcome of one execution attempt.
type Status int

// Execution outcomes.
const (
	StatusUnspecified Status = iota
	StatusSucceeded
	StatusFailed
	StatusCancelled
)

func (s Status) String() string {
	switch s {
	case StatusSucceeded:
		return "succeeded"
	case StatusFailed:
		return "failed"
	case StatusCancelled:
		return "cancelled"
	}
	return "unspecified"
}

// FailureKind classifies why a node or an execution failed.
type FailureKind int

// Failure kinds; they mirror wtb.runner.v1.FailureKind.
const (
	FailureUnspecified FailureKind = iota
	FailureExit
	FailureInvalidOutput
	FailureOutputTooLarge
	FailureTimeout
	FailureCancelled
	FailureStart
	FailureInfrastructure
	// FailureReplayMiss: replaying, the node made a model call that no
	// recording matches.
	FailureReplayMiss
	// FailureBudget: the execution's model calls cost more than its budget.
	FailureBudget
)

func (k FailureKind) String() string {
	switch k {
	case FailureExit:
		return "exit"
	case FailureInvalidOutput:
		return "invalid_output"
	case FailureOutputTooLarge:
		return "output_too_large"
	case FailureTimeout:
		return "timeout"
	case FailureCancelled:
		return "cancelled"
	case FailureStart:
		return "start"
	case FailureInfrastructure:
		return "infrastructure"
	case FailureReplayMiss:
		return "replay_miss"
	case FailureBudget:
		return "budget"
	}
	return "unspecified"
}

// ParseFailureKind is the inverse of FailureKind.String: the kind a name
// spells (as stored in results and sent by wtb.remote.v1 services), or
// FailureUnspecified for a name it does not know.
func ParseFailureKind(name string) FailureKind {
	for k := FailureExit; k <= FailureBudget; k++ {
		if k.String() == name {
			return k
		}
	}
	return FailureUnspecified
}

// Outcome is what a runner returns when an execution attempt ends.
type Outcome struct {
	Status     Status
	FinalState json.RawMessage
	Error      string
	// Retryable says running the execution again may succeed (a lost worker, an
	// unreachable service, a node that exited with status 75).
	Retryable   bool
	Duration    time.Duration
	WorkerID    string
	FailedNode  string
	FailureKind FailureKind
}

// NodeResult is a finished node: its checkpoint.
type NodeResult struct {
	Node string
	// State is the full state after the node (a JSON object).
	State json.RawMessage
	// Output is what the node returned (the patch merged into the state).
	Output   json.RawMessage
	Duration time.Duration
	Metrics  map[string]float64
	WorkerID string
	// Interactions are the node's model calls, as the gateway saw them.
	Interactions []Interaction
	// Spans are the node's spans (the OTLP receiver's and the gateway's),
	// bounded per node run.
	Spans Spans
}

// NodeFailure is a failed node.
type NodeFailure struct {
	Node      string
	Error     string
	Kind      FailureKind
	Retryable bool
	Duration  time.Duration
	ExitCode  int
	// Interactions are the node's model calls up to its failure.
	Interactions []Interaction
	// Spans are the node's spans up to its failure.
	Spans Spans
}

// LogStream says where a log line came from.
type LogStream int

// Log streams.
const (
	LogStderr LogStream = iota + 1
	LogRunner
)

// Events receives what happens during an execution. Implementations are safe for
// concurrent use; the SDK numbers events in the order it receives them.
type Events interface {
	NodeStarted(node, workerID string)
	NodeFinished(NodeResult)
	NodeFailed(NodeFailure)
	Log(node string, stream LogStream, line string)
}
