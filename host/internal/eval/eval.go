// Package eval scores executions with the built-in evaluators and aggregates
// scores per combination.
package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/wtbench/wtb/host/internal/numfmt"

	"github.com/theory/jsonpath"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/trajectory"
)

// Input is what evaluators see of one execution.
type Input struct {
	Success    bool
	State      json.RawMessage
	Case       spec.Case
	DurationMs float64
	Metrics    map[string]float64
	// Nodes are the outputs of the nodes evaluators score by name (see
	// NodesScored); a node that did not finish is absent.
	Nodes map[string]NodeRun
	// Key is the execution's key: an llm_judge's calls are kept under it.
	Key string
	// Steps are the model turns and tool calls of the execution's node runs
	// (from their spans), node run by node run in workflow order; only
	// filled when a trajectory evaluator needs them (see Trajectories).
	Steps []trajectory.Step

	// judged receives what an llm_judge evaluator's call gave.
	judged *judgeCall
}

// NodeRun is one node's part of an execution, for evaluators with a node.
type NodeRun struct {
	Output     json.RawMessage
	DurationMs float64
}

// NodesScored lists the nodes whose outputs some evaluator scores: only
// those need keeping until an execution is scored.
func (e *Evaluator) NodesScored() map[string]bool {
	out := map[string]bool{}
	for _, ev := range e.evs {
		if ev.Node != "" && !spec.TrajectoryTypes[ev.Type] {
			out[ev.Node] = true
		}
	}
	return out
}

// Trajectories says whether an evaluator scores the steps the spans show
// (Input.Steps must then be filled).
func (e *Evaluator) Trajectories() bool {
	for _, ev := range e.evs {
		if spec.TrajectoryTypes[ev.Type] {
			return true
		}
	}
	return false
}

// Outcome is the scoring of one execution.
type Outcome struct {
	Scores  map[string]float64
	Overall float64
	Passed  bool
	// Notes explain scores below 1 (why an evaluator failed), and what a
	// command scorer said of any score.
	Notes map[string]string
	// Missing names the evaluators that found nothing to compare, with the
	// attribute whose path selected nothing: "path" (in the final state or
	// the node's output) or "expect" (in the case).
	Missing map[string]string
	// Judged are the model calls of the execution's llm_judge evaluators,
	// one entry per evaluator that called (or replayed) its judge.
	Judged []JudgeRun
	// Errors are the evaluators that could not score at all (a judge whose
	// answer could not be read, or whose call failed past the gateway's
	// retries), with why. Their score is no score: the caller reports the
	// execution as an infrastructure failure, never as a 0.
	Errors map[string]string
}

// Evaluator is a compiled set of evaluators of one batch. It also counts
// what it scores (see Gaps), so it is compiled for one run of a batch.
type Evaluator struct {
	evs       []compiled
	passScore float64
	dir       string
	coverage  coverage
	judge     Judger
}

type compiled struct {
	spec.Evaluator
	path    *jsonpath.Path
	expect  any            // literal expectation
	expPath *jsonpath.Path // or a path into {expected, input, case}
	expStr  string         // as written
	re      *regexp.Regexp
}

// Compile prepares a batch's evaluators.
func Compile(b *spec.Batch) (*Evaluator, error) {
	e := &Evaluator{passScore: b.PassScore, dir: b.Dir}
	for _, ev := range b.Evaluators {
		c := compiled{Evaluator: ev}
		p := ev.Path
		if p == "" {
			p = "$"
		}
		var err error
		if c.path, err = jsonpath.Parse(p); err != nil {
			return nil, fmt.Errorf("evaluator %q: path %q: %w", ev.Name, p, err)
		}
		if len(ev.Expect) > 0 {
			var lit any
			if err := json.Unmarshal(ev.Expect, &lit); err != nil {
				return nil, fmt.Errorf("evaluator %q: expect: %w", ev.Name, err)
			}
			if s, ok := lit.(string); ok && strings.HasPrefix(s, "$") {
				c.expStr = s
				if c.expPath, err = jsonpath.Parse(s); err != nil {
					return nil, fmt.Errorf("evaluator %q: expect path %q: %w", ev.Name, s, err)
				}
			} else {
				c.expect = lit
			}
		}
		if ev.Type == "regex" {
			pat := ev.Pattern
			if !ev.CaseSensitive {
				pat = "(?i)" + pat
			}
			if c.re, err = regexp.Compile(pat); err != nil {
				return nil, fmt.Errorf("evaluator %q: pattern: %w", ev.Name, err)
			}
		}
		e.evs = append(e.evs, c)
	}
	return e, nil
}

// Evaluate scores one execution. A failed execution scores 0 everywhere.
func (e *Evaluator) Evaluate(ctx context.Context, in Input) Outcome {
	out := Outcome{Scores: make(map[string]float64, len(e.evs))}
	var state any
	if in.Success {
		if err := json.Unmarshal(in.State, &state); err != nil {
			in.Success = false
		}
	}
	var doc map[string]any // what expect paths refer to
	var totalW, sum float64
	for _, ev := range e.evs {
		score := 0.0
		note := "execution failed"
		missing := ""
		if in.Success {
			if doc == nil {
				doc = ExpectationDoc(in.Case)
			}
			var judged *judgeCall
			if ev.Type == "llm_judge" {
				judged = &judgeCall{}
			}
			in.judged = judged
			if spec.TrajectoryTypes[ev.Type] {
				score, note, missing = e.scoreTrajectory(ev, doc, in)
			} else if ev.Node == "" {
				score, note, missing = e.score(ctx, ev, state, doc, in)
			} else {
				score, note, missing = e.scoreNode(ctx, ev, doc, in)
			}
			score = clamp(score)
			if judged != nil {
				if judged.run != nil {
					out.Judged = append(out.Judged, *judged.run)
				}
				if judged.err != nil {
					if out.Errors == nil {
						out.Errors = map[string]string{}
					}
					out.Errors[ev.Name] = judged.err.Error()
					score, note = 0, judged.err.Error()
				}
			}
		}
		if missing != "" {
			if out.Missing == nil {
				out.Missing = map[string]string{}
			}
			out.Missing[ev.Name] = missing
		}
		out.Scores[ev.Name] = score
		// Built-in evaluators' reasons for a full score are said again on
		// reading (Explain); a command scorer's note and a judge's reasoning
		// are their own, kept always, and so are a trajectory evaluator's
		// (reading results reads no spans).
		if note != "" && (score < 1 || ev.Type == "command" || ev.Type == "llm_judge" || spec.TrajectoryTypes[ev.Type]) {
			if out.Notes == nil {
				out.Notes = map[string]string{}
			}
			out.Notes[ev.Name] = note
		}
		totalW += ev.Weight
		sum += ev.Weight * score
	}
	switch {
	case !in.Success:
		out.Overall = 0
	case totalW > 0:
		out.Overall = sum / totalW
	case len(e.evs) == 0:
		out.Overall = 1 // no evaluators: success is all there is to score
	}
	out.Passed = in.Success && out.Overall >= e.passScore && len(out.Errors) == 0
	e.coverage.add(in.Success, out.Missing)
	return out
}

// scoreNode scores one node's output: path-based evaluators look into it, a
// latency evaluator at the node's duration, a command evaluator gets it as
// its state.
func (e *Evaluator) scoreNode(ctx context.Context, ev compiled, doc map[string]any, in Input) (float64, string, string) {
	nr, ok := in.Nodes[ev.Node]
	if !ok {
		return 0, fmt.Sprintf("node %s did not finish", ev.Node), ""
	}
	var out any
	if err := json.Unmarshal(nr.Output, &out); err != nil {
		return 0, fmt.Sprintf("node %s's output is not JSON", ev.Node), ""
	}
	sub := in
	sub.State, sub.DurationMs = nr.Output, nr.DurationMs
	score, note, missing := e.score(ctx, ev, out, doc, sub)
	return score, strings.Replace(note, "in the final state", "in node "+ev.Node+"'s output", 1), missing
}

// ExpectRoots are the names an expect path can start with: it is a JSONPath
// into {"expected": …, "input": …, "case": {"id": …}} (see ExpectationDoc).
var ExpectRoots = []string{"expected", "input", "case"}

// ExpectationDoc is the document an expect path of a case is looked up in.
func ExpectationDoc(c spec.Case) map[string]any {
	doc := map[string]any{"case": map[string]any{"id": c.ID}}
	var exp, inp any
	if len(c.Expected) > 0 {
		_ = json.Unmarshal(c.Expected, &exp)
	}
	_ = json.Unmarshal(c.Input, &inp)
	doc["expected"], doc["input"] = exp, inp
	return doc
}

func (e *Evaluator) expected(ev compiled, doc map[string]any) (any, bool) {
	if ev.expPath != nil {
		return first(ev.expPath, doc)
	}
	return ev.expect, ev.expect != nil || len(ev.Expect) > 0
}

// score scores one evaluator; missing is "path" or "expect" when that path
// selected nothing, so there was nothing to compare.
func (e *Evaluator) score(ctx context.Context, ev compiled, state any, doc map[string]any, in Input) (score float64, note, missing string) {
	switch ev.Type {
	case "latency":
		if in.DurationMs <= ev.MaxMs {
			return 1, fmt.Sprintf("took %.0f ms ≤ %.0f ms", in.DurationMs, ev.MaxMs), ""
		}
		return 0, fmt.Sprintf("took %s, more than max_ms = %s", numfmt.Duration(in.DurationMs), numfmt.Setting(ev.MaxMs)), ""
	case "command":
		score, note := e.runCommand(ctx, ev, in)
		return score, note, ""
	}
	actual, ok := first(ev.path, state)
	if !ok {
		return 0, fmt.Sprintf("%s not found in the final state", ev.Path), "path"
	}
	switch ev.Type {
	case "llm_judge":
		score, note := e.runJudge(ctx, ev, actual, in)
		return score, note, ""
	case "regex":
		s, ok := actual.(string)
		if !ok {
			s = compact(actual)
		}
		if ev.re.MatchString(s) {
			return 1, fmt.Sprintf("%s matches /%s/", preview(s), ev.Pattern), ""
		}
		return 0, fmt.Sprintf("%s does not match /%s/", preview(s), ev.Pattern), ""
	}
	want, ok := e.expected(ev, doc)
	if !ok {
		return 0, fmt.Sprintf("expectation %s not found in the case", string(ev.Expect)), "expect"
	}
	switch ev.Type {
	case "equals", "json_path_equals":
		if jsonEqual(actual, want) {
			return 1, fmt.Sprintf("got %s, as expected", preview(actual)), ""
		}
		return 0, fmt.Sprintf("got %s, want %s", preview(actual), preview(want)), ""
	case "contains":
		if contains(actual, want, ev.CaseSensitive) {
			return 1, fmt.Sprintf("%s contains %s", preview(actual), preview(want)), ""
		}
		return 0, fmt.Sprintf("%s does not contain %s", preview(actual), preview(want)), ""
	case "numeric":
		a, okA := number(actual)
		w, okW := number(want)
		if !okA || !okW {
			return 0, fmt.Sprintf("cannot compare %s with %s as numbers", preview(actual), preview(want)), ""
		}
		if math.Abs(a-w) <= ev.Tolerance {
			return 1, fmt.Sprintf("%g is within %g of %g", a, ev.Tolerance, w), ""
		}
		return 0, fmt.Sprintf("%g is not within %g of %g", a, ev.Tolerance, w), ""
	}
	return 0, "unknown evaluator type " + ev.Type, ""
}
