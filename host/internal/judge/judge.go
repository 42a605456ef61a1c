// Package judge is the llm_judge evaluator's way to its model: it asks the
// model to grade an execution's output by a rubric, through a model-call
// gateway of the host's own (sdk/gateway, as the nodes' calls go), so judge
// calls are recorded, replayed and rate-limited like the nodes' — in a
// limiter pool of their own, since the host's gateway is not the runners'.
//
// A judge's calls are one run of the node "judge:NAME" (node names cannot
// hold a colon, so it is no workflow node's), kept under a run key of its
// own: the judge's configuration, the execution and what is judged. An
// unchanged judge of an unchanged output replays; any change is a new call.
package judge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/gateway"
)

// NodePrefix starts the node name a judge's calls are kept under:
// "judge:NAME" for the evaluator NAME.
const NodePrefix = "judge:"

// Node is the node name of an evaluator's judge calls.
func Node(evaluator string) string { return NodePrefix + evaluator }

// IsNode says whether a stored node name is a judge's.
func IsNode(node string) bool { return strings.HasPrefix(node, NodePrefix) }

// RunID is the run id of an evaluator's judge calls for one execution: unique
// in its batch, as wtb_model_calls needs.
func RunID(evaluator, executionKey string) string { return Node(evaluator) + "@" + executionKey }

// Recordings finds what a run may replay (bench's recording source: the
// database or a cassette directory).
type Recordings interface {
	For(ctx context.Context, nodes []sdk.Node) ([]sdk.Recordings, error)
}

// Judge calls the judges of one batch run (or rescore). Its gateway starts
// on the first call; Close stops it.
type Judge struct {
	cfg    *sdk.ModelCalls
	rec    Recordings
	lookup func(string) (string, bool)

	mu  sync.Mutex
	gw  *gateway.Gateway
	err error
}

// New makes the judges' caller for a batch's gateway configuration (the
// mode as the run has it); rec is where replays come from (nil: nowhere).
func New(cfg *sdk.ModelCalls, rec Recordings) *Judge {
	c := *cfg
	// The host reaches the gateway by its base URL, whatever the nodes do.
	c.Proxy, c.OtherHosts = false, ""
	return &Judge{cfg: &c, rec: rec, lookup: os.LookupEnv}
}

// Close stops the judges' gateway.
func (j *Judge) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.gw != nil {
		return j.gw.Close()
	}
	return nil
}

func (j *Judge) gateway() (*gateway.Gateway, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.gw == nil && j.err == nil {
		j.gw, j.err = gateway.New()
	}
	return j.gw, j.err
}

func (j *Judge) upstream(name string) *sdk.Upstream {
	for i := range j.cfg.Upstreams {
		if j.cfg.Upstreams[i].Name == name {
			return &j.cfg.Upstreams[i]
		}
	}
	return nil
}

var _ eval.Judger = (*Judge)(nil)

// Judge grades one execution's output. The calls it made (or replayed) come
// back in the result whether it graded or not; an error says why it could
// not: the call failed past the gateway's retries, the recording missed,
// the model's answer could not be read.
func (j *Judge) Judge(ctx context.Context, req eval.JudgeRequest) (eval.JudgeResult, error) {
	ev := req.Evaluator
	jc := ev.Judge
	if jc == nil {
		return eval.JudgeResult{}, errors.New("not an llm_judge evaluator")
	}
	up := j.upstream(jc.Upstream)
	if up == nil {
		return eval.JudgeResult{}, fmt.Errorf("the gateway has no upstream %q", jc.Upstream)
	}
	p := buildPrompt(ev, req.Subject, req.Case)
	key := RunKey(ev, req.ExecutionKey, p)
	node := Node(ev.Name)
	out := eval.JudgeResult{Run: eval.JudgeRun{Evaluator: ev.Name, Node: node, RunKey: key}}

	var rec *sdk.Recordings
	if j.cfg.Replaying() && j.rec != nil {
		rs, err := j.rec.For(ctx, []sdk.Node{{Name: node, RunKey: key}})
		if err != nil {
			out.Run.Failed = true
			return out, fmt.Errorf("reading the judge's recordings: %w", err)
		}
		if len(rs) > 0 {
			rec = &rs[0]
		}
	}
	gw, err := j.gateway()
	if err != nil {
		out.Run.Failed = true
		return out, err
	}
	run := gateway.NewRun(j.cfg, node, rec, gateway.Secrets(j.cfg, nil, j.lookup))
	ch, err := gw.NewChannel(j.cfg)
	if err != nil {
		out.Run.Failed = true
		return out, err
	}
	ch.Bind(run)
	text, callErr := j.call(ctx, ch.BaseURL(up.Name), up, jc, p)
	ch.Close()
	calls, problem := run.Finish()
	out.Run.Calls = calls
	switch {
	case problem != nil:
		callErr = errors.New(problem.Message)
	case callErr == nil:
		out.Score, out.Reasoning, callErr = parseAnswer(text, jc)
	}
	if callErr != nil {
		out.Run.Failed = true
		return out, callErr
	}
	return out, nil
}

// defaultTimeout bounds a judge call whose upstream sets no timeout.
const defaultTimeout = 5 * time.Minute

// call sends the prompt and returns the model's text.
func (j *Judge) call(ctx context.Context, base string, up *sdk.Upstream, jc *spec.Judge, p prompt) (string, error) {
	path, body, header := request(jc, p)
	timeout := up.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	// The gateway's waits for a turn and its retries come on top of the
	// upstream's own timeout per attempt.
	ctx, cancel := context.WithTimeout(ctx, timeout+up.Limits.MaxRetryWait*time.Duration(up.Limits.Retries+1)+time.Minute)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	hr.Header = header
	if key, ok := j.lookup(up.APIKeyEnv); ok && up.APIKeyEnv != "" && key != "" {
		if jc.Format == "anthropic" {
			hr.Header.Set("x-api-key", key)
		} else {
			hr.Header.Set("Authorization", "Bearer "+key)
		}
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return "", fmt.Errorf("calling %s: %w", up.Name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("reading %s's answer: %w", up.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %d: %s", up.Name, resp.StatusCode, preview(string(data), 300))
	}
	text, err := responseText(jc.Format, data)
	if err != nil {
		return "", fmt.Errorf("%s's answer: %w", up.Name, err)
	}
	return text, nil
}

// promptVersion changes when the prompt's wording does: recordings of the
// old wording are then not replayed for the new one.
const promptVersion = 1

// RunKey is a judge run's identity: the judge's configuration (not the
// evaluator's name or weight, which change no call), the execution, and the
// prompt — which holds the rubric, the scale's bounds or the choices' labels,
// the case and what is judged. What a choice is worth is not in it: changing
// it rescores from the recorded answers.
func RunKey(ev spec.Evaluator, executionKey string, p prompt) string {
	jc := ev.Judge
	doc, _ := json.Marshal(struct {
		V           int     `json:"v"`
		Upstream    string  `json:"upstream"`
		Model       string  `json:"model"`
		Format      string  `json:"format"`
		Temperature float64 `json:"temperature"`
		Node        string  `json:"node,omitempty"`
		Path        string  `json:"path"`
		Execution   string  `json:"execution"`
		System      string  `json:"system"`
		User        string  `json:"user"`
	}{promptVersion, jc.Upstream, jc.Model, jc.Format, jc.Temperature, ev.Node, ev.Path, executionKey, p.system, p.user})
	sum := sha256.Sum256(doc)
	return "judge-" + hex.EncodeToString(sum[:16])
}

func preview(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
