package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/zclconf/go-cty/cty"
)

var thresholdSchema = &hcl.BodySchema{Attributes: attrSchema("overall_score", "pass_rate", "evaluators", "applies_to")}

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
