package config

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/theory/jsonpath"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
)

// Evaluator types and the attributes each one takes besides type and weight.
var evaluatorTypes = map[string][]string{
	"equals":           {"path", "expect"},
	"json_path_equals": {"path", "expect"},
	"contains":         {"path", "expect", "case_sensitive"},
	"regex":            {"path", "pattern", "case_sensitive"},
	"numeric":          {"path", "expect", "tolerance"},
	"latency":          {"max_ms"},
	"command":          {"command", "timeout"},
	"llm_judge":        {"path", "upstream", "model", "rubric", "scale", "choices", "temperature", "format"},
	"trajectory":       {"expect", "match", "arguments"},
	"tool_used":        {"tool"},
	"step_count":       {"max"},
}

var evaluatorSchema = &hcl.BodySchema{Attributes: attrSchema("type", "path", "expect", "pattern", "weight",
	"tolerance", "max_ms", "case_sensitive", "command", "timeout", "node",
	"upstream", "model", "rubric", "scale", "choices", "temperature", "format", "match", "arguments", "tool", "max")}

func (c *Config) decodeEvaluator(b *hcl.Block) (spec.Evaluator, hcl.Diagnostics) {
	content, diags := content(b.Body, evaluatorSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	ev := spec.Evaluator{Name: b.Labels[0], Weight: 1}
	if !a.has("type") {
		if !a.misspelled("type") {
			a.diags = append(a.diags, missing("type", "evaluator", b.DefRange, `type = "equals"`))
		}
		return ev, a.diags
	}
	ev.Type = a.str("type", "")
	allowed, ok := evaluatorTypes[ev.Type]
	if a.failed("type") {
		return ev, a.diags
	}
	if !ok {
		a.errorf("type", "Unknown evaluator type", "Evaluator types are: %s.%s", strings.Join(spec.SortedKeys(evaluatorTypes), ", "),
			suggest.DidYouMean(ev.Type, spec.SortedKeys(evaluatorTypes)))
		return ev, a.diags
	}
	for name, at := range content.Attributes {
		if name == "type" || name == "weight" || name == "node" {
			continue
		}
		found := false
		for _, al := range allowed {
			found = found || al == name
		}
		if !found {
			takes := append(append([]string{}, allowed...), "weight", "node")
			d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument",
				Detail: fmt.Sprintf("%s %s evaluator does not take %q; it takes: %s.%s", article(ev.Type), ev.Type, name, strings.Join(takes, ", "),
					suggest.DidYouMean(name, takes)), Subject: at.NameRange.Ptr()}
			if best := suggest.Closest(name, takes); best != "" {
				d.Extra = misspelling(best)
			}
			a.diags = append(a.diags, d)
		}
	}
	ev.Node = a.str("node", "")
	ev.Weight = a.number("weight", 1)
	if ev.Weight < 0 || !finite(ev.Weight) {
		a.errorf("weight", "Invalid weight", "weight must be a number ≥ 0.")
	}
	ev.Path = a.str("path", "$")
	if a.has("expect") {
		ev.Expect, _ = a.anyJSON("expect")
	}
	ev.Pattern = a.str("pattern", "")
	ev.Tolerance = a.number("tolerance", 0)
	if ev.Tolerance < 0 || !finite(ev.Tolerance) {
		// |got − want| ≤ a negative tolerance never holds: every score 0.
		a.errorf("tolerance", "Invalid tolerance", "tolerance must be a number ≥ 0 (how far the value may be from the expected one); got %g.", ev.Tolerance)
	}
	ev.MaxMs = a.number("max_ms", 0)
	ev.CaseSensitive = a.boolean("case_sensitive", false)
	if a.has("command") {
		ev.Command, _ = a.strings("command")
		a.diags = append(a.diags, c.missingScripts(ev.Command, a.rng("command"), fmt.Sprintf("Evaluator %q", ev.Name))...)
		ev.Command, _ = c.resolveCommand(ev.Command)
	}
	ev.Timeout = spec.Duration(a.duration("timeout", 0))
	// A required argument that was given, but wrong, or misspelled, has its
	// diagnostic already.
	needs := func(name string) bool { return !a.failed(name) && !a.misspelled(name) }
	switch ev.Type {
	case "equals", "json_path_equals", "contains", "numeric":
		if !a.has("expect") && needs("expect") {
			a.diags = append(a.diags, missing("expect", ev.Type+" evaluator", b.DefRange, `expect = "$.expected.answer"`))
		}
	case "regex":
		if ev.Pattern == "" && needs("pattern") {
			a.diags = append(a.diags, missing("pattern", "regex evaluator", b.DefRange, `pattern = "^[A-Z]"`))
		} else if _, err := regexp.Compile(ev.Pattern); err != nil {
			a.errorf("pattern", "Invalid regular expression", "%s.", err)
		}
	case "latency":
		if ev.MaxMs <= 0 && needs("max_ms") {
			if a.has("max_ms") {
				a.errorf("max_ms", "Invalid value", "max_ms must be a number of milliseconds above 0, e.g. max_ms = 500; got %g.", ev.MaxMs)
			} else {
				a.diags = append(a.diags, missing("max_ms", "latency evaluator", b.DefRange, "max_ms = 500"))
			}
		}
	case "command":
		switch _, err := exec.LookPath(firstOr(ev.Command, "")); {
		case len(ev.Command) == 0:
			if needs("command") {
				a.diags = append(a.diags, missing("command", "command evaluator", b.DefRange, `command = ["python3", "score.py"]`))
			}
		case err != nil:
			// Evaluators run in the host: a missing program would score every
			// execution 0 without failing anything.
			a.errorf("command", "Evaluator program not found", "%q cannot be run here: %v.", ev.Command[0], unwrapPathError(err))
		}
	case "llm_judge":
		ev.Judge = c.decodeJudge(a, b)
	case "trajectory":
		ev.Match = a.str("match", "strict")
		if !a.failed("match") && !slices.Contains(spec.TrajectoryMatches, ev.Match) {
			a.errorf("match", "Invalid value", "match must be one of %s; got %q.%s", strings.Join(spec.TrajectoryMatches, ", "), ev.Match,
				suggest.DidYouMean(ev.Match, spec.TrajectoryMatches))
		}
		ev.Arguments = a.boolean("arguments", false)
		switch {
		case !a.has("expect"):
			if needs("expect") {
				a.diags = append(a.diags, missing("expect", "trajectory evaluator", b.DefRange, `expect = ["search", "lookup"]`))
			}
		case !a.failed("expect"):
			if msg := trajectoryExpect(ev.Expect); msg != "" {
				a.errorf("expect", "Invalid value", "%s", msg)
			}
		}
	case "tool_used":
		ev.Tool = a.str("tool", "")
		if ev.Tool == "" && needs("tool") {
			if a.has("tool") {
				a.errorf("tool", "Invalid value", "tool must name a tool, e.g. tool = \"search\".")
			} else {
				a.diags = append(a.diags, missing("tool", "tool_used evaluator", b.DefRange, `tool = "search"`))
			}
		}
	case "step_count":
		if !a.has("max") {
			if needs("max") {
				a.diags = append(a.diags, missing("max", "step_count evaluator", b.DefRange, "max = 5"))
			}
		} else {
			n := a.integer("max", 0, 0, 1<<30)
			ev.MaxSteps = &n
		}
	}
	if spec.TrajectoryTypes[ev.Type] {
		// Their path is not asked for: nothing to check below.
		return ev, a.diags
	}
	if ev.Path != "" && ev.Path[0] != '$' {
		a.errorf("path", "Invalid JSON path", "path must be a JSONPath starting with \"$\", e.g. \"$.answer\"; got %q.", ev.Path)
	} else if _, err := jsonpath.Parse(ev.Path); err != nil && a.has("path") {
		a.errorf("path", "Invalid JSON path", "%q is not a valid JSONPath (RFC 9535): %s.", ev.Path, err)
	}
	// An expect string starting with "$" is a path into {expected, input, case}.
	var lit any
	if len(ev.Expect) > 0 && json.Unmarshal(ev.Expect, &lit) == nil {
		if p, ok := lit.(string); ok && strings.HasPrefix(p, "$") {
			if _, err := jsonpath.Parse(p); err != nil {
				a.errorf("expect", "Invalid JSON path", "expect %q starts with \"$\", so it is a JSONPath into {expected, input, case}, but it is not a valid one: %s.", p, err)
			}
		}
	}
	return ev, a.diags
}

// trajectoryExpect says what is wrong with a trajectory evaluator's expect
// ("" when nothing): a list of tool names or of { name, arguments } objects,
// or a "$" path into the case that gives one.
func trajectoryExpect(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "expect must be a list of tool names."
	}
	if s, ok := v.(string); ok && strings.HasPrefix(s, "$") {
		if _, err := jsonpath.Parse(s); err != nil {
			return fmt.Sprintf("expect %q starts with \"$\", so it is a JSONPath into {expected, input, case}, but it is not a valid one: %s.", s, err)
		}
		return ""
	}
	list, ok := v.([]any)
	if !ok {
		return fmt.Sprintf("expect must be a list of tool names, e.g. [\"search\", \"lookup\"] (or a \"$\" path into the case that gives one); got %s.", raw)
	}
	for i, it := range list {
		switch x := it.(type) {
		case string:
			if x == "" {
				return fmt.Sprintf("expect's entry %d is an empty tool name.", i+1)
			}
			continue
		case map[string]any:
			name, _ := x["name"].(string)
			extra := false
			for k := range x {
				extra = extra || (k != "name" && k != "arguments")
			}
			if name != "" && !extra {
				continue
			}
		}
		return fmt.Sprintf("expect's entry %d must be a tool name or { name = \"search\", arguments = {...} }; got %s.", i+1, compactJSON(it))
	}
	return ""
}

func compactJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func totalWeight(evs []spec.Evaluator) (float64, int) {
	total := 0.0
	for _, ev := range evs {
		total += ev.Weight
	}
	return total, len(evs)
}
