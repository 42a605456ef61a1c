package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/wtbench/wtb/host/internal/spec"
)

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
