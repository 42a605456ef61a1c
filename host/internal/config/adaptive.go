package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/zclconf/go-cty/cty"
)

var (
	repeatSchema = &hcl.BodySchema{Attributes: attrSchema("min", "max", "until")}
	racingSchema = &hcl.BodySchema{Attributes: attrSchema("confidence", "min_cases")}
)

// maxRepeat bounds repeat and repeat { max }.
const maxRepeat = 100000

// decodeRepeatBlock reads repeat { min, max, until = { ci_half_width } }.
func (c *Config) decodeRepeatBlock(b *hcl.Block, s *spec.Batch) hcl.Diagnostics {
	content, diags := content(b.Body, repeatSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	// One diagnostic for the block, however many are missing.
	var absent []string
	for _, name := range []string{"min", "max", "until"} {
		if !a.has(name) && !a.misspelled(name) {
			absent = append(absent, name)
		}
	}
	switch len(absent) {
	case 0:
	case 1:
		a.diags = append(a.diags, missing(absent[0], "repeat", b.DefRange, map[string]string{"min": "min = 3", "max": "max = 30",
			"until": "until = { ci_half_width = 0.05 }"}[absent[0]]))
	default:
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required arguments",
			Detail:  fmt.Sprintf("A repeat block needs %s, e.g. repeat { min = 3, max = 30, until = { ci_half_width = 0.05 } }.", strings.Join(absent, ", ")),
			Subject: b.DefRange.Ptr()})
	}
	if a.diags.HasErrors() {
		return a.diags
	}
	lo := a.integer("min", 1, 1, maxRepeat)
	hi := a.integer("max", 1, 1, maxRepeat)
	if hi < lo && !a.failed("min") && !a.failed("max") {
		a.errorf("max", "Invalid repeat bounds", "max (%d) must be at least min (%d).", hi, lo)
	}
	width := 0.0
	if v, ok := a.value("until"); ok {
		t := v.Type()
		rule := "until must be { ci_half_width = 0.05 }: repeats stop once the 95% CI of the combination's mean score is at most that wide on either side."
		switch {
		case v.IsNull() || !(t.IsObjectType() || t.IsMapType()):
			a.errorf("until", "Invalid stopping rule", "%s", rule)
		default:
			for k, e := range v.AsValueMap() {
				if k != "ci_half_width" {
					a.errorf("until", "Unsupported stopping rule", "until takes ci_half_width only; got %q.%s", k, suggest.DidYouMean(k, []string{"ci_half_width"}))
					continue
				}
				if e.IsNull() || e.Type() != cty.Number {
					a.errorf("until", "Invalid ci_half_width", "ci_half_width must be a number between 0 and 1.")
					continue
				}
				width, _ = e.AsBigFloat().Float64()
			}
			if !a.diags.HasErrors() && (width <= 0 || width >= 1) {
				a.errorf("until", "Invalid ci_half_width", "ci_half_width must be between 0 and 1 (exclusive); got %g.", width)
			}
		}
	}
	s.Repeat = hi
	s.Adaptive = &spec.Adaptive{Min: lo, CIHalfWidth: width}
	return a.diags
}

// decodeRacing reads racing { confidence, min_cases }.
func (c *Config) decodeRacing(b *hcl.Block, s *spec.Batch) hcl.Diagnostics {
	content, diags := content(b.Body, racingSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	r := &spec.Racing{Confidence: a.number("confidence", 0.95), MinCases: a.integer("min_cases", 10, 2, 1000000)}
	if r.Confidence <= 0.5 || r.Confidence >= 1 {
		a.errorf("confidence", "Invalid confidence", "confidence must be above 0.5 and below 1, e.g. 0.95; got %g.", r.Confidence)
	}
	s.Racing = r
	return a.diags
}

// checkStopping relates the stopping rules to the rest of the batch: racing
// compares combinations on shared cases, so it needs several of both.
func checkStopping(s *spec.Batch, rng hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if r := s.Racing; r != nil {
		if len(s.Combinations) < 2 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Racing needs rivals",
				Detail: "racing compares combinations; this batch has one, so racing never stops anything.", Subject: rng.Ptr()})
		}
		if r.MinCases > len(s.Cases) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Racing never starts",
				Detail: fmt.Sprintf("racing waits for min_cases = %d scored cases, but the batch has %d.", r.MinCases, len(s.Cases)), Subject: rng.Ptr()})
		}
	}
	return diags
}
