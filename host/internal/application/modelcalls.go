package application

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wtbench/wtb/host/internal/config"
	"github.com/wtbench/wtb/host/internal/eval"
	"github.com/wtbench/wtb/host/internal/judge"
	"github.com/wtbench/wtb/host/internal/modelcalls"
	"github.com/wtbench/wtb/host/internal/plan"
	"github.com/wtbench/wtb/host/internal/sched"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// gatewayFor is the gateway a batch runs with: its gateway block, the mode
// overridden by --model-calls. nil when the batch has no gateway.
func gatewayFor(b *spec.Batch, mode string) (*sdk.ModelCalls, error) {
	g := b.Gateway
	if g == nil {
		if mode != "" {
			return nil, configErr("--model-calls %s: the bench file has no gateway block, so no model call goes through WTB (add one: gateway { upstream \"openai\" {} })", mode)
		}
		return nil, nil
	}
	if mode == "" {
		mode = g.Mode
	}
	if !slices.Contains(config.GatewayModes, mode) {
		return nil, configErr("--model-calls %q: choose one of %s", mode, strings.Join(config.GatewayModes, ", "))
	}
	m := &sdk.ModelCalls{Mode: mode, Proxy: g.Proxy, OtherHosts: g.OtherHosts, IgnoreJSONPaths: g.IgnoreJSONPaths,
		MatchHeaders: g.MatchHeaders, RedactHeaders: g.RedactHeaders, MaskEnv: g.MaskEnv, Pace: g.Pace,
		MaxRecordingBytes: g.MaxRecordingBytes}
	for _, u := range g.Upstreams {
		m.Upstreams = append(m.Upstreams, sdk.Upstream{Name: u.Name, URL: u.URL, BaseURLEnv: u.BaseURLEnv, APIKeyEnv: u.APIKeyEnv,
			CAPEM: []byte(u.CAPEM), Timeout: u.Timeout.D(), Limits: sdk.Limits{MaxConcurrency: u.MaxConcurrency,
				RequestsPerMinute: u.RequestsPerMinute, TokensPerMinute: u.TokensPerMinute, Retries: u.Retries,
				MaxRetryWait: u.MaxRetryWait.D()}})
	}
	return m, nil
}

// recordings is where a batch replays from: its cassette directory, or the
// database.
type recordings struct {
	st  store.Store
	dir *modelcalls.Dir
}

// recordingSource opens what a batch replays from, when it replays.
func recordingSource(st store.Store, b *spec.Batch, m *sdk.ModelCalls) (*recordings, error) {
	if !m.Replaying() {
		return nil, nil
	}
	r := &recordings{st: st}
	if b.Gateway.Cassettes != "" {
		if _, err := os.Stat(b.Gateway.Cassettes); err != nil {
			if m.Mode == sdk.ModeAuto && errors.Is(err, os.ErrNotExist) {
				return r, nil // nothing recorded yet: auto records it all
			}
			return nil, configErr("replaying from cassettes %s: %v (export a recorded batch with `wtb cassettes export BATCH %s`)",
				b.Gateway.Cassettes, err, b.Gateway.Cassettes)
		}
		dir, err := modelcalls.OpenDir(b.Gateway.Cassettes)
		if err != nil {
			return nil, configErr("%v", err)
		}
		r.dir = dir
	}
	return r, nil
}

var _ sched.RecordingSource = (*recordings)(nil)

// For finds the recordings of the nodes' runs.
func (r *recordings) For(ctx context.Context, nodes []sdk.Node) ([]sdk.Recordings, error) {
	var out []sdk.Recordings
	if r.dir != nil {
		for _, n := range nodes {
			c, path, err := r.dir.Get(n.RunKey)
			switch {
			case err == nil:
				out = append(out, sdk.Recordings{RunKey: n.RunKey, Interactions: c.Interactions(), Origin: "cassette " + path})
			case errors.Is(err, modelcalls.ErrNoCassette):
				rec := sdk.Recordings{RunKey: n.RunKey, Origin: "cassettes " + r.dir.Root}
				if near, path, ok := r.dir.Nearest(n.Name); ok {
					rec.Nearest, rec.Origin = near.Interactions(), "cassette "+path
				}
				out = append(out, rec)
			default:
				return nil, err
			}
		}
		return out, nil
	}
	keys := make([]string, len(nodes))
	for i, n := range nodes {
		keys[i] = n.RunKey
	}
	found, err := r.st.ModelCalls().ForRuns(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if calls := found[n.RunKey]; len(calls) > 0 {
			out = append(out, sdk.Recordings{RunKey: n.RunKey, Interactions: modelcalls.FromStoreAll(calls), Origin: "batch " + calls[0].BatchID})
			continue
		}
		rec := sdk.Recordings{RunKey: n.RunKey, Origin: r.st.Describe()}
		if near, err := r.st.ModelCalls().Nearest(ctx, n.Name); err == nil && len(near) > 0 {
			rec.Nearest = modelcalls.FromStoreAll(near)
			rec.Origin = "batch " + near[0].BatchID
		}
		out = append(out, rec)
	}
	return out, nil
}

// unusedCassettes are the cassettes of the directory no node run asked for.
func (r *recordings) unusedCassettes() []string {
	if r == nil || r.dir == nil {
		return nil
	}
	return r.dir.Unused()
}

// ExportResult says what an export wrote.
type ExportResult struct {
	Dir     string
	Written []string // paths, relative to Dir
	Calls   int
	// Unchanged counts files that were already there with the same bytes.
	Unchanged int
}

// ExportCassettes writes every finished node run of a batch that made model
// calls to dir as a cassette file, one per node run, at a path named for the
// run (case, repeat, node, variants). Writing the same batch twice gives the
// same bytes.
func ExportCassettes(ctx context.Context, st store.Store, batchID, dir string) (*ExportResult, error) {
	rec, b, err := Batch(ctx, st, batchID)
	if err != nil {
		return nil, err
	}
	p := plan.Build(b, plan.Options{BatchID: rec.ID, FileHasher: plan.StoredHashes(b.FileHashes)})
	steps := map[string]*plan.Step{}
	for _, st := range p.Steps {
		steps[st.ID] = st
	}
	executions := map[string]*plan.Execution{}
	for _, ex := range p.Executions {
		executions[ex.Key] = ex
	}
	byRun := map[string][]store.ModelCall{}
	var runs []string
	err = st.ModelCalls().Each(ctx, rec.ID, func(c *store.ModelCall) error {
		if c.Outcome != store.OutcomeRan {
			return nil
		}
		if _, seen := byRun[c.RunID]; !seen {
			runs = append(runs, c.RunID)
		}
		byRun[c.RunID] = append(byRun[c.RunID], *c)
		return nil
	})
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	if len(runs) == 0 {
		return nil, configErr("batch %s stored no model calls to export (was it run with a gateway in record, replay or auto mode?)", rec.ID)
	}
	out := &ExportResult{Dir: dir}
	written := map[string]string{}
	for _, run := range runs {
		calls := byRun[run]
		var matched []string
		if b.Gateway != nil {
			matched = b.Gateway.MatchHeaders
		}
		c := modelcalls.CassetteOf(calls, matched)
		ex := executions[calls[0].ExecutionKey]
		switch step := steps[run]; {
		case judge.IsNode(calls[0].Node) && ex != nil:
			// A judge's calls for one execution: filed under it, at
			// CASE/rREPEAT/judge:NAME/VARIANTS@COMBINATION.json.
			c.Case, c.Repeat, c.Execution = ex.Case.ID, ex.Repeat, ex.Combination.Name
			c.Variants = map[string]string{}
			for n, v := range ex.Combination.Variants {
				if v != "" {
					c.Variants[n] = v
				}
			}
		case step != nil:
			ex := step.Executions[0]
			c.Case, c.Repeat = ex.Case.ID, ex.Repeat
			c.Variants = map[string]string{}
			for s := step; s != nil; s = s.Parent {
				if s.Node.Variant != "" {
					c.Variants[s.Node.Name] = s.Node.Variant
				}
			}
			if !b.SharePrefixes && len(step.Executions) == 1 {
				c.Execution = ex.Combination.Name
			}
		default:
			c.Case = "unplanned-" + run[:min(12, len(run))]
		}
		rel := c.Path()
		if prev, dup := written[rel]; dup {
			return nil, runtimeErr("node runs %s and %s of batch %s would both be written to %s", prev, run, rec.ID, rel)
		}
		written[rel] = run
		data, err := c.Encode()
		if err != nil {
			return nil, runtimeErr("encoding the cassette of %s: %w", rel, err)
		}
		path := filepath.Join(dir, rel)
		if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
			out.Unchanged++
		} else {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, runtimeErr("%w", err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return nil, runtimeErr("%w", err)
			}
		}
		out.Written = append(out.Written, rel)
		out.Calls += len(calls)
	}
	slices.Sort(out.Written)
	return out, nil
}

// ModelCallsOf lists the model calls of an execution's node runs (finished
// and failed attempts), for `wtb show` and the viewer.
func ModelCallsOf(ctx context.Context, st store.Store, batchID string, runIDs []string) ([]store.ModelCall, error) {
	calls, err := st.ModelCalls().ListByRuns(ctx, batchID, runIDs)
	if err != nil {
		return nil, runtimeErr("%w", err)
	}
	return calls, nil
}

// judgeFor gives a batch's llm_judge evaluators their way to the model: a
// gateway of the host's own, in the batch's mode with its upstreams (and so
// a limiter pool of its own: the judges never queue behind the nodes' calls,
// nor the nodes behind theirs), replaying from where the nodes replay. nil
// when no evaluator is a judge; the caller closes it.
func judgeFor(ev *eval.Evaluator, m *sdk.ModelCalls, recs *recordings) *judge.Judge {
	if ev == nil || !ev.Judges() || m == nil {
		return nil
	}
	var src judge.Recordings
	if recs != nil {
		src = recs
	}
	j := judge.New(m, src)
	ev.SetJudge(j)
	return j
}

// recordingsOrNil keeps a nil *recordings a nil interface.
func recordingsOrNil(r *recordings) sched.RecordingSource {
	if r == nil {
		return nil
	}
	return r
}

// describeGateway is the line a run prints about its gateway.
func describeGateway(g *spec.Gateway, m *sdk.ModelCalls, r *recordings) string {
	var names []string
	for _, u := range g.Upstreams {
		names = append(names, u.Name)
	}
	how := "base URLs"
	if m.Proxy {
		how = "proxy"
	}
	from := ""
	switch {
	case r != nil && r.dir != nil:
		from = fmt.Sprintf(", replaying from %d cassettes in %s", r.dir.Len(), g.Cassettes)
	case m.Replaying():
		from = ", replaying from the database"
	}
	return fmt.Sprintf("%s (%s) through the gateway (%s)%s", m.Mode, strings.Join(names, ", "), how, from)
}

func firstN(ss []string, n int) []string {
	if len(ss) > n {
		return append(ss[:n:n], fmt.Sprintf("… %d more", len(ss)-n))
	}
	return ss
}
