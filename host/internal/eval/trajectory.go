package eval

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/trajectory"
)

// The trajectory evaluators score what the agent did inside its node runs,
// read from their spans (Input.Steps): the tool calls it made (trajectory,
// tool_used) and its model turns (step_count). With a node they look at that
// node's run in the execution, else at every node run of the execution in
// workflow order.
//
// trajectory compares the tool calls with expect, a list of tool names (or
// { name, arguments } objects), by match:
//
//	strict     the same calls in the same order (score 1 or 0)
//	unordered  the same calls in any order, each as many times (1 or 0)
//	subset     every call made is an expected one (each expected entry
//	           answers for one call): no tool outside the list
//	superset   every expected call was made, others may be too
//
// Calls and expected entries are paired one to one (a call pairs with an
// expected entry of its name, and with arguments = true only when each
// argument the entry gives is the call's). subset and superset score 1 when
// they hold and otherwise the F1 of the pairing, 2·paired / (calls +
// expected): partial credit, always below 1 when the match fails.

// expectedCall is one entry of a trajectory evaluator's expect.
type expectedCall struct {
	name string
	args map[string]any // nil: any arguments
}

func (e *Evaluator) scoreTrajectory(ev compiled, doc map[string]any, in Input) (float64, string, string) {
	where := "the execution"
	var steps []trajectory.Step
	for _, s := range in.Steps {
		if ev.Node == "" || s.Node == ev.Node {
			steps = append(steps, s)
		}
	}
	if ev.Node != "" {
		where = "node " + ev.Node
	}
	switch ev.Type {
	case "step_count":
		turns := 0
		for _, s := range steps {
			if s.Kind == "model" {
				turns++
			}
		}
		if ev.MaxSteps != nil && turns <= *ev.MaxSteps {
			return 1, fmt.Sprintf("%s in %s, at most max = %d", plural(turns, "model turn"), where, *ev.MaxSteps), ""
		}
		return 0, fmt.Sprintf("%s in %s, more than max = %d", plural(turns, "model turn"), where, derefInt(ev.MaxSteps)), ""
	case "tool_used":
		calls := trajectory.Tools(steps)
		n := 0
		for _, c := range calls {
			if c.Name == ev.Tool {
				n++
			}
		}
		if n > 0 {
			return 1, fmt.Sprintf("%s called %s in %s", ev.Tool, times(n), where), ""
		}
		return 0, fmt.Sprintf("%s never called in %s; %s", ev.Tool, where, madeCalls(calls)), ""
	}
	want, ok := e.expected(ev, doc)
	if !ok {
		return 0, fmt.Sprintf("expectation %s not found in the case", string(ev.Expect)), "expect"
	}
	expected, err := expectedCalls(want)
	if err != nil {
		return 0, err.Error(), ""
	}
	calls := trajectory.Tools(steps)
	return matchTrajectory(ev.Match, ev.Arguments, calls, expected, where)
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func expectedCalls(v any) ([]expectedCall, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("expect gives %s; want a list of tool names", preview(v))
	}
	out := make([]expectedCall, 0, len(list))
	for _, it := range list {
		switch x := it.(type) {
		case string:
			out = append(out, expectedCall{name: x})
		case map[string]any:
			name, _ := x["name"].(string)
			if name == "" {
				return nil, fmt.Errorf("expect's entry %s has no name", preview(x))
			}
			args, _ := x["arguments"].(map[string]any)
			out = append(out, expectedCall{name: name, args: args})
		default:
			return nil, fmt.Errorf("expect's entry %s is not a tool name", preview(x))
		}
	}
	return out, nil
}

// pairs says whether a call answers for an expected entry.
func pairs(c trajectory.Step, want expectedCall, withArgs bool) bool {
	if c.Name != want.name {
		return false
	}
	if !withArgs || want.args == nil {
		return true
	}
	var got map[string]any
	if json.Unmarshal(c.Arguments, &got) != nil {
		return false
	}
	for k, v := range want.args {
		if g, ok := got[k]; !ok || !jsonEqual(g, v) {
			return false
		}
	}
	return true
}

// pairUp pairs calls with expected entries one to one, entries that give
// more arguments first (so a looser entry does not take the call a stricter
// one needs); it returns which calls and which entries were paired.
func pairUp(calls []trajectory.Step, expected []expectedCall, withArgs bool) (callUsed, expUsed []bool, n int) {
	callUsed, expUsed = make([]bool, len(calls)), make([]bool, len(expected))
	order := make([]int, len(expected))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(expected[order[a]].args) > len(expected[order[b]].args) })
	for _, j := range order {
		for i, c := range calls {
			if !callUsed[i] && pairs(c, expected[j], withArgs) {
				callUsed[i], expUsed[j] = true, true
				n++
				break
			}
		}
	}
	return callUsed, expUsed, n
}

func matchTrajectory(match string, withArgs bool, calls []trajectory.Step, expected []expectedCall, where string) (float64, string, string) {
	got := callNames(calls, withArgs)
	want := make([]string, len(expected))
	for i, x := range expected {
		want[i] = x.name
		if withArgs && x.args != nil {
			want[i] += compact(x.args)
		}
	}
	said := fmt.Sprintf("called [%s] in %s; expected [%s]", strings.Join(got, ", "), where, strings.Join(want, ", "))
	if match == "strict" {
		for i := 0; i < len(calls) && i < len(expected); i++ {
			if !pairs(calls[i], expected[i], withArgs) {
				return 0, fmt.Sprintf("%s in that order: call %d is %s, expected %s", said, i+1, got[i], want[i]), ""
			}
		}
		switch {
		case len(calls) > len(expected):
			return 0, fmt.Sprintf("%s in that order: %d calls more than expected", said, len(calls)-len(expected)), ""
		case len(calls) < len(expected):
			return 0, fmt.Sprintf("%s in that order: %s missing", said, strings.Join(want[len(calls):], ", ")), ""
		}
		return 1, said + ": the same calls in the same order", ""
	}
	callUsed, expUsed, n := pairUp(calls, expected, withArgs)
	var extra, missingCalls []string
	for i, u := range callUsed {
		if !u {
			extra = append(extra, got[i])
		}
	}
	for j, u := range expUsed {
		if !u {
			missingCalls = append(missingCalls, want[j])
		}
	}
	var why []string
	if len(missingCalls) > 0 {
		why = append(why, "not called: "+strings.Join(missingCalls, ", "))
	}
	if len(extra) > 0 {
		why = append(why, "not expected: "+strings.Join(extra, ", "))
	}
	f1 := 1.0
	if len(calls)+len(expected) > 0 {
		f1 = 2 * float64(n) / float64(len(calls)+len(expected))
	}
	var holds bool
	switch match {
	case "unordered":
		if len(extra) == 0 && len(missingCalls) == 0 {
			return 1, said + ": the same calls", ""
		}
		return 0, said + " in any order: " + strings.Join(why, "; "), ""
	case "subset":
		holds = len(extra) == 0
	case "superset":
		holds = len(missingCalls) == 0
	}
	if holds {
		return 1, fmt.Sprintf("%s: a %s of them", said, match), ""
	}
	return f1, fmt.Sprintf("%s: not a %s of them, %s; F1 %.2f", said, match, strings.Join(why, "; "), f1), ""
}

func callNames(calls []trajectory.Step, withArgs bool) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Name
		if withArgs && len(c.Arguments) > 0 && string(c.Arguments) != "null" {
			var v any
			if json.Unmarshal(c.Arguments, &v) == nil {
				out[i] += preview(v)
			}
		}
	}
	return out
}

func madeCalls(calls []trajectory.Step) string {
	if len(calls) == 0 {
		return "no tool calls seen"
	}
	return "called " + strings.Join(callNames(calls, false), ", ")
}
