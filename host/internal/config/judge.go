package config

import (
	"fmt"
	"math"
	"net/url"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
)

// JudgeFormats are the APIs an llm_judge evaluator can speak.
var JudgeFormats = []string{"openai", "anthropic"}

// defaultJudgeScale is the scale of a judge that names neither a scale nor
// choices: the common 1-to-5 grade.
var defaultJudgeScale = []float64{1, 5}

// decodeJudge reads an llm_judge evaluator's attributes. The judge calls
// through the gateway, so its upstream must be one the gateway block
// declares; every problem is located at its attribute.
func (c *Config) decodeJudge(a *attrs, b *hcl.Block) *spec.Judge {
	j := &spec.Judge{Upstream: a.str("upstream", ""), Model: a.str("model", ""), Rubric: a.str("rubric", ""),
		Temperature: a.number("temperature", 0), Format: a.str("format", "")}
	needs := func(name string) bool { return !a.failed(name) && !a.misspelled(name) }
	var names []string
	if c.Gateway != nil {
		for _, u := range c.Gateway.Upstreams {
			names = append(names, u.Name)
		}
	}
	switch {
	case c.Gateway == nil:
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "An llm_judge needs a gateway",
			Detail: "An llm_judge evaluator calls its model through the model-call gateway (recorded, replayed, rate-limited like the nodes' calls); " +
				"declare one: gateway { upstream \"openai\" {} }.", Subject: b.DefRange.Ptr()})
	case j.Upstream == "" && !a.has("upstream") && len(names) == 1:
		j.Upstream = names[0] // the only upstream there is
	case j.Upstream == "" && needs("upstream"):
		if a.has("upstream") {
			a.errorf("upstream", "Invalid value", "upstream must name an upstream of the gateway block: %s.", quoteAll(names))
		} else {
			a.diags = append(a.diags, missing("upstream", "llm_judge evaluator", b.DefRange, fmt.Sprintf("upstream = %q", firstOr(names, "openai"))))
		}
	case j.Upstream != "" && c.upstream(j.Upstream) == nil:
		a.errorf("upstream", "Unknown upstream", "The gateway block declares no upstream %q; it declares %s.%s", j.Upstream, quoteAll(names),
			suggest.DidYouMean(j.Upstream, names))
	}
	if j.Model == "" && needs("model") {
		if a.has("model") {
			a.errorf("model", "Invalid value", "model must name the judge's model, e.g. \"gpt-4o-mini\".")
		} else {
			a.diags = append(a.diags, missing("model", "llm_judge evaluator", b.DefRange, `model = "gpt-4o-mini"`))
		}
	}
	if strings.TrimSpace(j.Rubric) == "" && needs("rubric") {
		if a.has("rubric") {
			a.errorf("rubric", "Invalid value", "rubric must say what the judge grades, e.g. \"Does the answer name the right capital?\".")
		} else {
			a.diags = append(a.diags, missing("rubric", "llm_judge evaluator", b.DefRange, `rubric = "Is the answer correct and complete?"`))
		}
	}
	if a.has("temperature") && !a.failed("temperature") && (j.Temperature < 0 || j.Temperature > 2 || !finite(j.Temperature)) {
		a.errorf("temperature", "Invalid temperature", "temperature must be between 0 and 2 (0 is the most repeatable judge); got %g.", j.Temperature)
	}
	switch {
	case a.has("scale") && a.has("choices"):
		a.errorf("choices", "Both scale and choices", "An llm_judge grades either on a scale (scale = [1, 5]) or by choices (choices = { A = 1, B = 0.5, C = 0 }), not both; remove one.")
	case a.has("scale"):
		if v, ok := a.convert("scale", cty.List(cty.Number), "a list of two numbers, e.g. [1, 5]"); ok {
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if e.IsNull() {
					a.errorf("scale", "Invalid scale", "scale must not contain null.")
					return j
				}
				f, _ := e.AsBigFloat().Float64()
				j.Scale = append(j.Scale, f)
			}
			if len(j.Scale) != 2 || !finite(j.Scale[0]) || !finite(j.Scale[1]) || j.Scale[0] >= j.Scale[1] {
				a.errorf("scale", "Invalid scale", "scale is the lowest and highest grade, lowest first, e.g. [1, 5]; got %v.", j.Scale)
				j.Scale = nil
			}
		}
	case a.has("choices"):
		if v, ok := a.convert("choices", cty.Map(cty.Number), "a map of choice to score, e.g. { A = 1, B = 0.5, C = 0 }"); ok {
			j.Choices = map[string]float64{}
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				if e.IsNull() {
					a.errorf("choices", "Invalid choices", "choice %q has no score.", k.AsString())
					continue
				}
				f, _ := e.AsBigFloat().Float64()
				if f < 0 || f > 1 || math.IsNaN(f) {
					a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid choices",
						Detail:  fmt.Sprintf("Choice %q is worth %g; a choice's score is between 0 and 1 (what the evaluator scores when the judge picks it).", k.AsString(), f),
						Subject: mapKeyRange(a.m["choices"], k.AsString())})
					a.markBad("choices")
				}
				j.Choices[k.AsString()] = f
			}
			if len(j.Choices) < 2 && !a.failed("choices") {
				a.errorf("choices", "Invalid choices", "choices needs at least two labels to pick from, e.g. { A = 1, B = 0.5, C = 0 }.")
			}
		}
	default:
		j.Scale = append([]float64(nil), defaultJudgeScale...)
	}
	if a.has("format") && !a.failed("format") {
		ok := false
		for _, f := range JudgeFormats {
			ok = ok || f == j.Format
		}
		if !ok {
			a.errorf("format", "Invalid value", "format must be one of %s (the API the upstream speaks); got %q.%s", quoteAll(JudgeFormats), j.Format,
				suggest.DidYouMean(j.Format, JudgeFormats))
		}
	}
	if j.Format == "" {
		j.Format = "openai"
		if u := c.upstream(j.Upstream); u != nil && looksAnthropic(u) {
			j.Format = "anthropic"
		}
	}
	return j
}

// looksAnthropic says whether an upstream is Anthropic's API by its name or
// host: its judge speaks the messages API unless format says otherwise.
func looksAnthropic(u *spec.Upstream) bool {
	if strings.Contains(strings.ToLower(u.Name), "anthropic") || strings.Contains(strings.ToLower(u.Name), "claude") {
		return true
	}
	p, err := url.Parse(u.URL)
	return err == nil && strings.Contains(strings.ToLower(p.Hostname()), "anthropic")
}

// upstream is the gateway's upstream of that name, nil if none.
func (c *Config) upstream(name string) *spec.Upstream {
	if c.Gateway == nil {
		return nil
	}
	for i := range c.Gateway.Upstreams {
		if c.Gateway.Upstreams[i].Name == name {
			return &c.Gateway.Upstreams[i]
		}
	}
	return nil
}
