package sched

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// modelNodes: a → b, one case; b's retries start after a.
const modelNodes = `
workflow "w" {
  node "a" { kind = "go" }
  node "b" {
    kind       = "go"
    depends_on = ["a"]
  }
}
batch_test "t" {
  workflow      = workflow.w
  runner        = runner.test
  max_retries   = 1
  retry_backoff = "1ms"
  case "c1" { input = { q = 1 } }
}
`

func call(ordinal int, source, path string) sdk.Interaction {
	return sdk.Interaction{Ordinal: ordinal, Upstream: "openai", Method: "POST", Path: path, Status: 200, Source: source,
		RequestBody: []byte(`{"model":"m"}`), ResponseBody: []byte(`{"ok":true}`), Model: "m",
		Started: time.Unix(1700000000, 0).UTC(), Duration: 20 * time.Millisecond}
}

// scriptedModelRunner reports node runs by hand, with the model calls each
// made: a makes two, b fails its first attempt after one call, then makes
// one.
func scriptedModelRunner(h *harness) {
	var mu sync.Mutex
	attempts := 0
	h.runner.execute = func(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
		state := req.StartState
		for _, n := range req.Nodes {
			ev.NodeStarted(n.Name, "w1")
			switch n.Name {
			case "a":
				state = json.RawMessage(`{"q":1,"a":"ran"}`)
				ev.NodeFinished(sdk.NodeResult{Node: "a", State: state, Output: []byte(`{"a":"ran"}`), WorkerID: "w1",
					Interactions: []sdk.Interaction{call(0, sdk.SourceRecorded, "/v1/chat"), call(1, sdk.SourceRecorded, "/v1/embed")}})
			case "b":
				mu.Lock()
				attempts++
				first := attempts == 1
				mu.Unlock()
				if first {
					failed := call(0, sdk.SourceRecorded, "/v1/chat")
					failed.Status = 500
					ev.NodeFailed(sdk.NodeFailure{Node: "b", Error: "upstream said 500", Kind: sdk.FailureExit, Retryable: true,
						Interactions: []sdk.Interaction{failed}})
					return sdk.Outcome{Status: sdk.StatusFailed, Error: "upstream said 500", Retryable: true, FailedNode: "b", FailureKind: sdk.FailureExit}
				}
				state = json.RawMessage(`{"q":1,"a":"ran","b":"ran"}`)
				ev.NodeFinished(sdk.NodeResult{Node: "b", State: state, Output: []byte(`{"b":"ran"}`), WorkerID: "w1",
					Interactions: []sdk.Interaction{call(0, sdk.SourceRecorded, "/v1/chat")}})
			}
		}
		return sdk.Outcome{Status: sdk.StatusSucceeded, FinalState: state, WorkerID: "w1"}
	}
}

// The gateway's configuration goes to the runner with every node's run key;
// the calls node runs made are stored under their run, those of a failed
// node run under its attempt, and counted by source.
func TestModelCallsAreForwardedAndStored(t *testing.T) {
	h := newHarness(t, modelNodes)
	scriptedModelRunner(h)
	mc := &sdk.ModelCalls{Mode: sdk.ModeRecord, Upstreams: []sdk.Upstream{{Name: "openai", URL: "https://api.openai.com/v1", BaseURLEnv: "OPENAI_BASE_URL"}}}
	rep := h.run("b1", func(c *Config) { c.ModelCalls = mc })
	if rep.Succeeded != 1 || rep.ModelCalls[sdk.SourceRecorded] != 4 || rep.ReplayMisses != 0 {
		t.Fatalf("report %+v", rep)
	}
	reqs := h.runner.reqs()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	runKeys := map[string]string{}
	for _, req := range reqs {
		if req.ModelCalls != mc {
			t.Errorf("attempt %d: model calls %+v", req.Attempt, req.ModelCalls)
		}
		for _, n := range req.Nodes {
			if n.RunKey == "" {
				t.Errorf("attempt %d: node %s has no run key", req.Attempt, n.Name)
			}
			runKeys[n.Name] = n.RunKey
		}
	}
	ids := map[string]string{}
	for _, cp := range h.checkpoints("b1") {
		ids[cp.Node] = cp.ID
	}
	var rows []store.ModelCall
	if err := h.st.ModelCalls().Each(context.Background(), "b1", func(c *store.ModelCall) error {
		rows = append(rows, *c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].RunID != rows[j].RunID {
			return rows[i].RunID < rows[j].RunID
		}
		return rows[i].Ordinal < rows[j].Ordinal
	})
	want := []struct{ runID, node, outcome, path string }{
		{ids["a"], "a", store.OutcomeRan, "/v1/chat"},
		{ids["a"], "a", store.OutcomeRan, "/v1/embed"},
		{ids["b"], "b", store.OutcomeRan, "/v1/chat"},
		{ids["b"] + "#a1", "b", store.OutcomeFailed, "/v1/chat"},
	}
	sort.Slice(want, func(i, j int) bool { return want[i].runID < want[j].runID })
	if len(rows) != len(want) {
		t.Fatalf("%d model-call rows: %+v", len(rows), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.RunID != w.runID || r.Node != w.node || r.Outcome != w.outcome || r.Path != w.path || r.RunKey != runKeys[w.node] ||
			r.ExecutionKey != "default/c1/0" || r.Source != sdk.SourceRecorded || r.Model != "m" || r.DurationMs != 20 {
			t.Errorf("row %d: %+v; want %+v", i, r, w)
		}
	}
}

// recordings is a RecordingSource that answers every node run with one
// recording, or fails.
type recordings struct {
	mu    sync.Mutex
	asked [][]sdk.Node
	err   error
}

func (r *recordings) For(_ context.Context, nodes []sdk.Node) ([]sdk.Recordings, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, nodes)
	if r.err != nil {
		return nil, r.err
	}
	var out []sdk.Recordings
	for _, n := range nodes {
		out = append(out, sdk.Recordings{RunKey: n.RunKey, Origin: "batch b0", Interactions: []sdk.Interaction{call(0, sdk.SourceRecorded, "/v1/chat")}})
	}
	return out, nil
}

// Replaying, the scheduler asks the recording source for the nodes of each
// request and sends what it found with the request; a call nothing matched
// is counted as a replay miss.
func TestReplayAsksTheRecordingSource(t *testing.T) {
	h := newHarness(t, modelNodes)
	src := &recordings{}
	h.runner.execute = func(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
		state := req.StartState
		for _, n := range req.Nodes {
			miss := sdk.Interaction{Source: sdk.SourceReplayed, Error: "no recording matches", Path: "/v1/other"}
			hit := call(1, sdk.SourceReplayed, "/v1/chat")
			if rec := req.RecordingsFor(n.RunKey); rec == nil || rec.Origin != "batch b0" {
				t.Errorf("node %s: recordings %+v", n.Name, rec)
			}
			ev.NodeFinished(sdk.NodeResult{Node: n.Name, State: state, Output: []byte(`{}`), Interactions: []sdk.Interaction{hit, miss}})
		}
		return sdk.Outcome{Status: sdk.StatusSucceeded, FinalState: state}
	}
	rep := h.run("b1", func(c *Config) { c.ModelCalls, c.Recordings = &sdk.ModelCalls{Mode: sdk.ModeReplay}, src })
	if rep.Succeeded != 1 || rep.ModelCalls[sdk.SourceReplayed] != 4 || rep.ReplayMisses != 2 {
		t.Fatalf("report %+v", rep)
	}
	if len(src.asked) != 1 || len(src.asked[0]) != 2 || src.asked[0][0].RunKey == "" || src.asked[0][1].Name != "b" {
		t.Errorf("the source was asked %+v", src.asked)
	}
}

// A recording source that fails fails the attempt retryably (a database
// hiccup), without a request to the runner.
func TestRecordingSourceFailure(t *testing.T) {
	h := newHarness(t, modelNodes)
	src := &recordings{err: errors.New("database is locked")}
	rep := h.run("b1", func(c *Config) { c.ModelCalls, c.Recordings = &sdk.ModelCalls{Mode: sdk.ModeAuto}, src })
	if rep.Failed != 1 || rep.Retries != 1 || len(h.runner.reqs()) != 0 || len(src.asked) != 2 {
		t.Fatalf("report %+v, %d requests, source asked %d times", rep, len(h.runner.reqs()), len(src.asked))
	}
	r := h.results("b1")["default/c1/0"]
	if r.FailureKind != "infrastructure" || r.Error != "looking up model-call recordings: database is locked (after 2 attempts)" {
		t.Errorf("%+v", r)
	}
}

// Recording without replaying never asks for recordings.
func TestRecordingDoesNotAskForRecordings(t *testing.T) {
	h := newHarness(t, modelNodes)
	scriptedModelRunner(h)
	src := &recordings{}
	rep := h.run("b1", func(c *Config) { c.ModelCalls, c.Recordings = &sdk.ModelCalls{Mode: sdk.ModeRecord}, src })
	if rep.Succeeded != 1 || len(src.asked) != 0 {
		t.Errorf("report %+v; source asked %d times", rep, len(src.asked))
	}
}
