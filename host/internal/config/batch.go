package config

import (
	"errors"
	"fmt"
	"os/exec"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
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
