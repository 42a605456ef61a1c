package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/theory/jsonpath"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/zclconf/go-cty/cty"
)

var batchAttrs = []string{"workflow", "runner", "environment", "cases", "repeat", "timeout", "max_retries",
	"retry_backoff", "max_pending", "fail_fast", "share_prefixes", "cache", "pass_score", "max_log_bytes"}

// DefaultMaxLogBytes is how much of each node run's stderr and runner log
// lines a batch keeps by default (the last lines).
const DefaultMaxLogBytes = 64 << 10

var batchSchema = &hcl.BodySchema{
	Attributes: attrSchema(batchAttrs...),
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "case", LabelNames: []string{"id"}},
		{Type: "include"}, {Type: "exclude"}, {Type: "combination"},
		{Type: "evaluator", LabelNames: []string{"name"}},
		{Type: "threshold"},
		{Type: "repeat"}, {Type: "racing"}, {Type: "budget"},
	},
}

var caseSchema = &hcl.BodySchema{Attributes: attrSchema("input", "expected")}

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

var thresholdSchema = &hcl.BodySchema{Attributes: attrSchema("overall_score", "pass_rate", "evaluators", "applies_to")}

func (c *Config) decodeBatch(b *hcl.Block) (*BatchDecl, hcl.Diagnostics) {
	content, diags := content(b.Body, batchSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	s := &spec.Batch{Name: b.Labels[0], File: c.Path, Dir: c.Dir, Gateway: c.Gateway, Bridges: c.Bridges}
	bd := &BatchDecl{Spec: s, DefRange: b.DefRange}

	if !a.has("workflow") && !a.misspelled("workflow") {
		a.diags = append(a.diags, missing("workflow", "batch_test", b.DefRange, "workflow = workflow.NAME"))
	}
	if !a.has("runner") && !a.misspelled("runner") {
		a.diags = append(a.diags, missing("runner", "batch_test", b.DefRange, "runner = runner.NAME"))
	}
	var wf *spec.Workflow
	if name, ok := c.reference(a, "workflow", "workflow", spec.SortedKeys(c.Workflows)); ok {
		wf = c.Workflows[name]
		s.Workflow = *wf
	}
	if name, ok := c.reference(a, "runner", "runner", spec.SortedKeys(c.Runners)); ok {
		bd.Runner = c.Runners[name]
	}
	if a.has("environment") {
		if name, ok := c.reference(a, "environment", "environment", spec.SortedKeys(c.Environments)); ok {
			bd.Environment = c.Environments[name]
		}
	}
	s.Repeat = a.integer("repeat", 1, 1, 100000)
	s.Timeout = spec.Duration(a.duration("timeout", 0))
	s.MaxRetries = a.integer("max_retries", 2, 0, 100)
	s.RetryDelay = spec.Duration(a.duration("retry_backoff", 0))
	if s.RetryDelay == 0 {
		s.RetryDelay = spec.Duration(200e6)
	}
	s.MaxPending = a.integer("max_pending", 64, 1, 1000000)
	s.FailFast = a.boolean("fail_fast", false)
	s.SharePrefixes = a.boolean("share_prefixes", true)
	s.Cache = a.boolean("cache", false)
	s.MaxLogBytes = a.integer("max_log_bytes", DefaultMaxLogBytes, 0, 64<<20)
	s.Sensitive = c.Sensitive
	s.PassScore = a.number("pass_score", 0.5)
	if s.PassScore < 0 || s.PassScore > 1 {
		a.errorf("pass_score", "Value out of range", "pass_score must be between 0 and 1.")
	}

	// Cases: inline blocks and/or a JSONL file.
	errorsBefore := errorCount(a.diags)
	ids := map[string]string{}
	addCase := func(cs spec.Case, where string, rng *hcl.Range) {
		if prev, dup := ids[cs.ID]; dup {
			a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate case id",
				Detail: fmt.Sprintf("Case %q is defined twice (%s and %s).", cs.ID, prev, where), Subject: rng})
			return
		}
		ids[cs.ID] = where
		s.Cases = append(s.Cases, cs)
	}
	for _, cb := range content.Blocks {
		if cb.Type != "case" {
			continue
		}
		cs, d := c.decodeCase(cb)
		a.diags = append(a.diags, d...)
		addCase(cs, cb.DefRange.String(), cb.DefRange.Ptr())
	}
	if a.has("cases") {
		if path := a.str("cases", ""); path != "" {
			cases, d := c.loadCasesFile(path, *a.rng("cases"))
			a.diags = append(a.diags, d...)
			for _, lc := range cases {
				addCase(lc.Case, lc.where, lc.rng.Ptr())
			}
		}
	}
	// Expect paths are checked against the cases only when all of them were
	// read: against some, "no case has it" may not be true.
	casesRead := errorCount(a.diags) == errorsBefore
	if len(s.Cases) == 0 && !a.diags.HasErrors() {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No test cases",
			Detail:  fmt.Sprintf("Batch test %q has no cases: add case \"ID\" { input = {...} } blocks or cases = \"cases.jsonl\".", s.Name),
			Subject: b.DefRange.Ptr()})
	}

	if wf != nil {
		s.Combinations = c.combinations(wf, content.Blocks, a)
	}
	evRanges := map[string]hcl.Range{}
	for _, eb := range content.Blocks {
		if eb.Type == "evaluator" {
			ev, d := c.decodeEvaluator(eb)
			a.diags = append(a.diags, d...)
			if ev.Node != "" && wf != nil {
				if n, _ := wf.NodeByName(ev.Node); n == nil {
					subject := eb.DefRange
					if body, ok := eb.Body.(*hclsyntax.Body); ok && body.Attributes["node"] != nil {
						subject = body.Attributes["node"].Expr.Range()
					}
					a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown node",
						Detail: fmt.Sprintf("Evaluator %q scores node %q, which workflow %q does not have.%s", ev.Name, ev.Node, wf.Name,
							suggest.DidYouMean(ev.Node, nodeNames(wf))), Subject: subject.Ptr()})
				}
			}
			if prev, dup := evRanges[ev.Name]; dup {
				a.diags = append(a.diags, dupBlock("evaluator", ev.Name, eb.DefRange, prev))
				continue
			}
			if at := attrOf(eb.Body, "expect"); at != nil && !d.HasErrors() {
				a.diags = append(a.diags, checkExpect(ev, at.Expr.Range(), s.Cases, casesRead)...)
			}
			if at := attrOf(eb.Body, "path"); at != nil && !d.HasErrors() {
				a.diags = append(a.diags, checkPath(ev, at.Expr.Range())...)
			}
			evRanges[ev.Name] = eb.DefRange
			s.Evaluators = append(s.Evaluators, ev)
		}
	}
	if total, n := totalWeight(s.Evaluators); n > 0 && total == 0 && !a.diags.HasErrors() {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Every evaluator has weight 0",
			Detail:  fmt.Sprintf("overall_score is the weighted mean of the evaluators' scores; with every weight 0 it is 0 for every execution, so none passes pass_score = %g. Give one evaluator a weight above 0.", s.PassScore),
			Subject: b.DefRange.Ptr()})
	}
	s.Thresholds.AppliesTo = "all"
	seen := map[string]hcl.Range{}
	for _, tb := range content.Blocks {
		if tb.Type != "threshold" && tb.Type != "repeat" && tb.Type != "racing" && tb.Type != "budget" {
			continue
		}
		if prev, dup := seen[tb.Type]; dup {
			a.diags = append(a.diags, dupBlock(tb.Type, "", tb.DefRange, prev))
			continue
		}
		seen[tb.Type] = tb.DefRange
		switch tb.Type {
		case "threshold":
			a.diags = append(a.diags, c.decodeThreshold(tb, s)...)
		case "repeat":
			if at, both := content.Attributes["repeat"]; both {
				a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Repeat given twice",
					Detail:  "Use either repeat = N (a fixed number) or a repeat { min, max, until } block (adaptive repeats), not both.",
					Subject: at.NameRange.Ptr()})
				continue
			}
			a.diags = append(a.diags, c.decodeRepeatBlock(tb, s)...)
		case "racing":
			a.diags = append(a.diags, c.decodeRacing(tb, s)...)
		case "budget":
			a.diags = append(a.diags, c.decodeBudget(tb, s)...)
		}
	}
	a.diags = append(a.diags, checkStopping(s, b.DefRange)...)
	return bd, a.diags
}

func missing(attr, block string, rng hcl.Range, example string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
		Detail: fmt.Sprintf("The argument %q is required in a %s block, e.g. %s.", attr, block, example), Subject: rng.Ptr()}
}

func (c *Config) decodeCase(b *hcl.Block) (spec.Case, hcl.Diagnostics) {
	content, diags := content(b.Body, caseSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	cs := spec.Case{ID: b.Labels[0], Input: json.RawMessage("{}")}
	if a.has("input") {
		if in, ok := a.object("input"); ok {
			cs.Input = in
		}
	}
	if a.has("expected") {
		cs.Expected, _ = a.anyJSON("expected")
	}
	return cs, a.diags
}

// caseFields are the fields of a line of a cases file.
var caseFields = []string{"id", "input", "expected"}

var unknownFieldRE = regexp.MustCompile(`unknown field "([^"]*)"`)

// maxCaseErrors is how many invalid lines of a cases file are reported before
// reading stops.
const maxCaseErrors = 10

type lineCase struct {
	spec.Case
	where string
	rng   hcl.Range
}

// loadCasesFile reads a JSONL file of {"id", "input", "expected"} objects. Errors
// point at the line in that file.
func (c *Config) loadCasesFile(path string, attrRange hcl.Range) ([]lineCase, hcl.Diagnostics) {
	full := resolvePath(c.Dir, path)
	data, err := os.ReadFile(full)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read cases file", Detail: err.Error() + "." + suggest.File(c.Dir, path), Subject: attrRange.Ptr()}}
	}
	text, d := textOf(data, full, path, "cases file (JSON Lines)")
	if d != nil {
		if d.Subject.Start.Line > 1 || d.Subject.Start.Column > 1 {
			c.parser.Files()[full] = &hcl.File{Bytes: text} // quote the line it is on
		}
		return nil, hcl.Diagnostics{d}
	}
	data = text
	// Register the file so diagnostics can quote its lines.
	c.parser.Files()[full] = &hcl.File{Bytes: data}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
		// One mistake, not one per line: the file is JSON, not JSON Lines.
		pos := posAt(data, bytes.IndexByte(data, '['))
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cases file is a JSON array",
			Detail: fmt.Sprintf("%s holds a JSON array; a cases file has one case object per line (JSON Lines). Convert it: jq -c '.[]' %s > converted.jsonl && mv converted.jsonl %s",
				path, shellArg(path), shellArg(path)),
			Subject: &hcl.Range{Filename: full, Start: pos, End: hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: pos.Byte + 1}}}}
	}
	var out []lineCase
	lines := &caseErrors{path: path}
	for line, start := 1, 0; start < len(data); line++ {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data) - start
		}
		raw := bytes.TrimSuffix(data[start:start+end], []byte("\r"))
		rest := data[start:]
		start += end + 1
		if lines.distinct == maxCaseErrors {
			// A file that is wrong throughout says so once, not per line.
			lines.diags = append(lines.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Too many invalid cases",
				Detail:  fmt.Sprintf("%s has more than %d kinds of invalid lines; stopped reading it at line %d. Is it a JSON Lines file of {\"id\", \"input\", \"expected\"} objects?", path, maxCaseErrors, line),
				Subject: attrRange.Ptr()})
			return out, lines.done()
		}
		text := bytes.TrimSpace(raw)
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		rng := hcl.Range{Filename: full, Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: utf8.RuneCount(raw) + 1}}
		var cs struct {
			ID       *string         `json:"id"`
			Input    json.RawMessage `json:"input"`
			Expected json.RawMessage `json:"expected"`
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cs); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && spansLines(rest) {
				// {"id": … continued on the next lines: pretty-printed JSON.
				lines.diags = append(lines.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Case spans several lines",
					Detail: fmt.Sprintf("The case that starts on line %d of %s does not end on it; a cases file has one whole case object per line (JSON Lines). "+
						"Put each case on one line: jq -c . %s > converted.jsonl && mv converted.jsonl %s", line, path, shellArg(path), shellArg(path)),
					Subject: rng.Ptr()})
				return out, lines.done()
			}
			hint := ""
			if m := unknownFieldRE.FindStringSubmatch(err.Error()); m != nil {
				hint = suggest.DidYouMean(m[1], caseFields)
			}
			lines.add(line, rng, "Invalid case", caseError(err)+"."+hint,
				fmt.Sprintf("Line %d of %s is not a case object {\"id\", \"input\", \"expected\"}: %s.%s", line, path, caseError(err), hint))
			continue
		}
		if cs.ID == nil || *cs.ID == "" {
			lines.add(line, rng, "Case without id", "", fmt.Sprintf("Line %d of %s has no \"id\".", line, path))
			continue
		}
		if len(cs.Input) == 0 || bytes.Equal(cs.Input, []byte("null")) {
			cs.Input = json.RawMessage("{}")
		} else if trimmed := bytes.TrimSpace(cs.Input); len(trimmed) == 0 || trimmed[0] != '{' {
			lines.add(line, rng, "Invalid case input", "", fmt.Sprintf("Line %d of %s: \"input\" must be a JSON object.", line, path))
			continue
		}
		out = append(out, lineCase{Case: spec.Case{ID: *cs.ID, Input: cs.Input, Expected: cs.Expected},
			where: fmt.Sprintf("%s:%d", path, line), rng: rng})
	}
	return out, lines.done()
}

// spansLines says whether a JSON value starts at the beginning of data and
// ends on a later line: a case pretty-printed over several lines.
func spansLines(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v map[string]any
	if dec.Decode(&v) != nil {
		return false
	}
	return bytes.IndexByte(data[:dec.InputOffset()], '\n') >= 0
}

// caseErrors collects the invalid lines of a cases file, one diagnostic per
// kind of mistake: the same mistake on every line (an id written as a
// number) is one diagnostic at its first line that lists the others.
type caseErrors struct {
	path     string
	diags    hcl.Diagnostics
	distinct int
	first    map[string]*hcl.Diagnostic
	more     map[string][]int
}

func (e *caseErrors) add(line int, rng hcl.Range, summary, kind, detail string) {
	key := summary + "\x00" + kind
	if d, seen := e.first[key]; seen && d != nil {
		e.more[key] = append(e.more[key], line)
		return
	}
	if e.first == nil {
		e.first, e.more = map[string]*hcl.Diagnostic{}, map[string][]int{}
	}
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
	e.first[key] = d
	e.diags = append(e.diags, d)
	e.distinct++
}

// done appends to each diagnostic the other lines with the same mistake.
func (e *caseErrors) done() hcl.Diagnostics {
	for key, lines := range e.more {
		d := e.first[key]
		shown := lines
		if len(shown) > 10 {
			shown = shown[:10]
		}
		list := make([]string, len(shown))
		for i, l := range shown {
			list[i] = fmt.Sprint(l)
		}
		d.Detail += fmt.Sprintf(" The same on %s %s", map[bool]string{true: "line", false: "lines"}[len(lines) == 1], strings.Join(list, ", "))
		if len(lines) > len(shown) {
			d.Detail += fmt.Sprintf(" and %d more", len(lines)-len(shown))
		}
		d.Detail += "."
	}
	return e.diags
}

// caseError words a JSON decoding error of a case line for a person: which
// field has the wrong type, not Go's struct vocabulary.
func caseError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := "a string"
		if te.Field != "id" {
			want = "a JSON value"
		}
		return fmt.Sprintf("%q is a %s; it must be %s", te.Field, te.Value, want)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the line ends before the case object does"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

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

func (c *Config) decodeThreshold(b *hcl.Block, s *spec.Batch) hcl.Diagnostics {
	content, diags := content(b.Body, thresholdSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	unit := func(name string) *float64 {
		if !a.has(name) {
			return nil
		}
		v := a.number(name, 0)
		if v < 0 || v > 1 {
			a.errorf(name, "Value out of range", "%s must be between 0 and 1, got %g.", name, v)
		}
		return &v
	}
	s.Thresholds.OverallScore = unit("overall_score")
	s.Thresholds.PassRate = unit("pass_rate")
	if a.has("evaluators") {
		if v, ok := a.convert("evaluators", cty.Map(cty.Number), "a map of evaluator name to score"); ok {
			s.Thresholds.Evaluators = map[string]float64{}
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				f, _ := e.AsBigFloat().Float64()
				var names []string
				for _, ev := range s.Evaluators {
					names = append(names, ev.Name)
				}
				if !slices.Contains(names, k.AsString()) {
					detail := fmt.Sprintf("No evaluator %q is declared in this batch_test.", k.AsString())
					if len(names) > 0 {
						detail += fmt.Sprintf(" Declared: %s.", strings.Join(names, ", "))
					}
					a.markBad("evaluators")
					a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared evaluator",
						Detail: detail + suggest.DidYouMean(k.AsString(), names), Subject: mapKeyRange(a.m["evaluators"], k.AsString())})
				}
				if (f < 0 || f > 1) && !a.failed("evaluators") {
					// Scores are in [0, 1]: above 1 can never be met, below 0 always is.
					a.markBad("evaluators")
					a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Value out of range",
						Detail:  fmt.Sprintf("The threshold of evaluator %q must be between 0 and 1 (its scores are), got %g.", k.AsString(), f),
						Subject: mapKeyRange(a.m["evaluators"], k.AsString())})
				}
				s.Thresholds.Evaluators[k.AsString()] = f
			}
		}
	}
	if a.has("applies_to") {
		s.Thresholds.AppliesTo = a.str("applies_to", "all")
		if s.Thresholds.AppliesTo != "all" && s.Thresholds.AppliesTo != "best" {
			a.errorf("applies_to", "Invalid value", "applies_to must be \"all\" (every combination must meet the thresholds) or \"best\" (the best combination must).%s",
				suggest.DidYouMean(s.Thresholds.AppliesTo, []string{"all", "best"}))
		}
	}
	return a.diags
}

func totalWeight(evs []spec.Evaluator) (float64, int) {
	total := 0.0
	for _, ev := range evs {
		total += ev.Weight
	}
	return total, len(evs)
}

func errorCount(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// mapKeyRange is where an object attribute's key is written ({ name = 1 }),
// or the whole value when the key cannot be found.
func mapKeyRange(at *hcl.Attribute, key string) *hcl.Range {
	if obj, ok := at.Expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, item := range obj.Items {
			if k, d := item.KeyExpr.Value(nil); !d.HasErrors() && k.Type() == cty.String && k.AsString() == key {
				return item.KeyExpr.Range().Ptr()
			}
			if hcl.ExprAsKeyword(item.KeyExpr) == key {
				return item.KeyExpr.Range().Ptr()
			}
		}
	}
	return at.Expr.Range().Ptr()
}

func firstOr(list []string, def string) string {
	if len(list) == 0 {
		return def
	}
	return list[0]
}

func unwrapPathError(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
