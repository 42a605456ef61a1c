// Package eval scores executions with the built-in evaluators and aggregates
// scores per combination.
package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/theory/jsonpath"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/trajectory"
	"github.com/wtbench/wtb/sdk"
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

// judgeCall is what scoring one llm_judge evaluator called and whether it
// could score.
type judgeCall struct {
	run *JudgeRun
	err error
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

// Judger asks a model to grade what an llm_judge evaluator selected.
type Judger interface {
	Judge(ctx context.Context, req JudgeRequest) (JudgeResult, error)
}

// JudgeRequest is one grading: the evaluator, what its path selected, the
// case (its input and expectation go into the prompt) and the execution.
type JudgeRequest struct {
	Evaluator    spec.Evaluator
	Subject      any
	Case         spec.Case
	ExecutionKey string
}

// JudgeResult is a judge's grade, normalised to 0..1, and why; Run holds its
// calls whether it graded or not.
type JudgeResult struct {
	Score     float64
	Reasoning string
	Run       JudgeRun
}

// JudgeRun is one llm_judge evaluator's calls for one execution: the run of
// "judge:NAME" whose identity (RunKey) replay looks them up by.
type JudgeRun struct {
	Evaluator string
	Node      string
	RunKey    string
	Calls     []sdk.Interaction
	// Failed is set when the judge gave no grade: its calls are kept, never
	// replayed.
	Failed bool
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

// SetJudge gives the llm_judge evaluators their way to the model. Without
// one an llm_judge cannot score (an evaluator error, never a 0).
func (e *Evaluator) SetJudge(j Judger) { e.judge = j }

// Judges says whether any evaluator is an llm_judge.
func (e *Evaluator) Judges() bool {
	for _, ev := range e.evs {
		if ev.Type == "llm_judge" {
			return true
		}
	}
	return false
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

// Describe says in words what an evaluator checks.
func Describe(ev spec.Evaluator) string {
	subject := ev.Path
	if subject == "" {
		subject = "$"
	}
	if ev.Node != "" {
		subject = "node " + ev.Node + "'s " + subject
	}
	want := string(ev.Expect)
	var lit any
	if json.Unmarshal(ev.Expect, &lit) == nil {
		if s, ok := lit.(string); ok && strings.HasPrefix(s, "$") {
			want = s // a path into the case
		}
	}
	switch ev.Type {
	case "equals", "json_path_equals":
		return subject + " equals " + want
	case "contains":
		cs := ""
		if ev.CaseSensitive {
			cs = " (case-sensitive)"
		}
		return subject + " contains " + want + cs
	case "regex":
		return subject + " matches /" + ev.Pattern + "/"
	case "numeric":
		return fmt.Sprintf("%s is within %g of %s", subject, ev.Tolerance, want)
	case "latency":
		if ev.Node != "" {
			return fmt.Sprintf("node %s takes at most %g ms", ev.Node, ev.MaxMs)
		}
		return fmt.Sprintf("the execution takes at most %g ms", ev.MaxMs)
	case "command":
		if len(ev.Command) > 0 {
			return "scored by " + strings.Join(ev.Command, " ")
		}
	case "trajectory":
		scope := "the execution's"
		if ev.Node != "" {
			scope = "node " + ev.Node + "'s"
		}
		args := ""
		if ev.Arguments {
			args = ", arguments compared"
		}
		return fmt.Sprintf("%s tool calls match %s (%s%s)", scope, want, ev.Match, args)
	case "tool_used":
		if ev.Node != "" {
			return fmt.Sprintf("node %s calls tool %s", ev.Node, ev.Tool)
		}
		return "the execution calls tool " + ev.Tool
	case "step_count":
		if ev.Node != "" {
			return fmt.Sprintf("node %s takes at most %d model turns", ev.Node, derefInt(ev.MaxSteps))
		}
		return fmt.Sprintf("the execution takes at most %d model turns", derefInt(ev.MaxSteps))
	case "llm_judge":
		if j := ev.Judge; j != nil {
			grade := fmt.Sprintf("on a scale of %g to %g", firstOf(j.Scale, 0), lastOf(j.Scale, 1))
			if len(j.Choices) > 0 {
				grade = "by choices " + strings.Join(spec.SortedKeys(j.Choices), ", ")
			}
			return fmt.Sprintf("%s graded by %s at %s %s: %s", subject, j.Model, j.Upstream, grade, preview(j.Rubric))
		}
	}
	return ev.Type
}

func firstOf(fs []float64, def float64) float64 {
	if len(fs) == 0 {
		return def
	}
	return fs[0]
}

func lastOf(fs []float64, def float64) float64 {
	if len(fs) == 0 {
		return def
	}
	return fs[len(fs)-1]
}

// Explain says why each evaluator gave an execution the score it has, passes
// included: what a reader of a stored execution is shown. The built-in
// evaluators score the stored state again and say what they found; a command
// scorer is never run (reading results runs no programs): its stored note
// stands. Where scoring again disagrees with the stored score (an evaluator
// whose meaning changed since), the stored note stands and the difference is
// said.
func (e *Evaluator) Explain(ctx context.Context, in Input, scores map[string]float64, notes map[string]string) map[string]string {
	out := make(map[string]string, len(e.evs))
	var state any
	if in.Success && json.Unmarshal(in.State, &state) != nil {
		in.Success = false
	}
	var doc map[string]any
	for _, ev := range e.evs {
		stored, scored := scores[ev.Name]
		note := notes[ev.Name]
		switch {
		case !in.Success:
			if note == "" {
				note = "execution failed"
			}
		case ev.Type == "command":
			if note == "" && len(ev.Command) > 0 {
				note = fmt.Sprintf("scored by %s, which gave no note", ev.Command[0])
			}
		case ev.Type == "llm_judge":
			// Reading results calls no model: the judge's stored reasoning
			// stands.
			if note == "" {
				note = "graded by the judge, which gave no reasoning"
			}
		case spec.TrajectoryTypes[ev.Type]:
			// Reading results reads no spans: the note stored when it was
			// scored stands.
			if note == "" {
				note = "scored from the spans, with no note stored"
			}
		default:
			if doc == nil {
				doc = ExpectationDoc(in.Case)
			}
			var again float64
			var why string
			if ev.Node == "" {
				again, why, _ = e.score(ctx, ev, state, doc, in)
			} else {
				again, why, _ = e.scoreNode(ctx, ev, doc, in)
			}
			again = clamp(again)
			switch {
			case !scored || math.Abs(again-stored) < 1e-9:
				if why != "" {
					note = why
				}
			case note == "":
				note = fmt.Sprintf("stored score %.3f; scoring the stored state again gives %.3f: %s", stored, again, why)
			}
		}
		out[ev.Name] = note
	}
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

func clamp(f float64) float64 {
	if math.IsNaN(f) || f < 0 {
		return 0
	}
	return math.Min(f, 1)
}

func first(p *jsonpath.Path, v any) (any, bool) {
	nodes := p.Select(v)
	if len(nodes) == 0 {
		return nil, false
	}
	return nodes[0], true
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

func jsonEqual(a, b any) bool {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return x == y
		}
	}
	return reflect.DeepEqual(a, b)
}

func contains(actual, want any, caseSensitive bool) bool {
	switch a := actual.(type) {
	case string:
		w, ok := want.(string)
		if !ok {
			w = compact(want)
		}
		if !caseSensitive {
			return strings.Contains(strings.ToLower(a), strings.ToLower(w))
		}
		return strings.Contains(a, w)
	case []any:
		for _, el := range a {
			if jsonEqual(el, want) {
				return true
			}
		}
	case map[string]any:
		if k, ok := want.(string); ok {
			_, has := a[k]
			return has
		}
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		// A number written as a string is short; parsing a long text would
		// only copy it into the error.
		if len(n) > 64 {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return 0, false
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// previewLen bounds how much of a value a note quotes.
const previewLen = 80

// preview is the start of v's JSON for a note. It writes only about
// previewLen bytes, whatever the size of v (a node's output may be megabytes).
func preview(v any) string {
	var b strings.Builder
	writePreview(&b, v)
	if b.Len() > previewLen-3 {
		out := []rune(b.String())
		return string(out[:min(len(out), previewLen-3)]) + "..."
	}
	return b.String()
}

func writePreview(b *strings.Builder, v any) {
	if b.Len() > previewLen {
		return
	}
	switch x := v.(type) {
	case string:
		if len(x) > previewLen {
			x = x[:previewLen]
		}
		enc, _ := json.Marshal(x)
		b.Write(enc)
	case []any:
		b.WriteByte('[')
		for i, el := range x {
			if b.Len() > previewLen {
				return
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writePreview(b, el)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if b.Len() > previewLen {
				return
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writePreview(b, k)
			b.WriteByte(':')
			writePreview(b, x[k])
		}
		b.WriteByte('}')
	default:
		enc, _ := json.Marshal(x)
		b.Write(enc)
	}
}

// runCommand runs an external scorer: it gets {state, case, duration_ms,
// metrics} on stdin and prints a number in [0,1] or {"score": x, "note": "..."}.
func (e *Evaluator) runCommand(ctx context.Context, ev compiled, in Input) (float64, string) {
	timeout := ev.Timeout.D()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	payload, _ := json.Marshal(map[string]any{"state": in.State, "case": in.Case, "duration_ms": in.DurationMs, "metrics": in.Metrics})
	cmd := exec.CommandContext(ctx, ev.Command[0], ev.Command[1:]...)
	cmd.Dir = e.dir
	cmd.Env = os.Environ()
	cmd.Stdin = bytes.NewReader(payload)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return 0, fmt.Sprintf("scorer %s failed: %v %s", ev.Command[0], err, preview(strings.TrimSpace(stderr.String())))
	}
	out := bytes.TrimSpace(stdout.Bytes())
	if f, err := strconv.ParseFloat(string(out), 64); err == nil {
		return f, ""
	}
	var obj struct {
		Score *float64 `json:"score"`
		Note  string   `json:"note"`
	}
	if err := json.Unmarshal(out, &obj); err != nil || obj.Score == nil {
		return 0, fmt.Sprintf("scorer printed %q; want a number in [0,1] or {\"score\": x}", preview(string(out)))
	}
	return *obj.Score, obj.Note
}

// runJudge asks the judge to grade what the evaluator's path selected. A
// judge that could not grade (no judge, a failed call, an answer it could not
// read) is an evaluator error: Evaluate reports it, never as a score.
func (e *Evaluator) runJudge(ctx context.Context, ev compiled, subject any, in Input) (float64, string) {
	if in.judged == nil {
		// Explain: reading results calls no model.
		return 0, ""
	}
	if e.judge == nil {
		in.judged.err = fmt.Errorf("evaluator %q (llm_judge): no model-call gateway to call the judge through", ev.Name)
		return 0, ""
	}
	res, err := e.judge.Judge(ctx, JudgeRequest{Evaluator: ev.Evaluator, Subject: subject, Case: in.Case, ExecutionKey: in.Key})
	if res.Run.RunKey != "" {
		run := res.Run
		in.judged.run = &run
	}
	if err != nil {
		in.judged.err = fmt.Errorf("evaluator %q (llm_judge): %w", ev.Name, err)
		return 0, ""
	}
	return res.Score, res.Reasoning
}
