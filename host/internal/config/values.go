package config

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// attrs evaluates expressions of one block with shared context and collects
// diagnostics, so a block with five problems reports all five.
type attrs struct {
	m     hcl.Attributes
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
	// bad holds the attributes whose own value was reported wrong: checks
	// that would run on their (default) value instead are skipped, so one
	// mistake gets one diagnostic ("command = 5" is a type error, not also
	// an empty command).
	bad map[string]bool
}

// failed says whether name's value was reported wrong.
func (a *attrs) failed(name string) bool { return a.bad[name] }

func (a *attrs) markBad(name string) {
	if a.bad == nil {
		a.bad = map[string]bool{}
	}
	a.bad[name] = true
}

// misspelled says whether an argument of the block was reported as a
// misspelling of name ("runer" for "runner"): then name is not also missing.
func (a *attrs) misspelled(name string) bool { return misspeltIn(a.diags, name) }

// misspelling marks an "Unsupported argument" diagnostic with the argument it
// suggests instead.
type misspelling string

func (a *attrs) has(name string) bool { _, ok := a.m[name]; return ok }

func (a *attrs) rng(name string) *hcl.Range {
	if at, ok := a.m[name]; ok {
		r := at.Expr.Range()
		return &r
	}
	return nil
}

func (a *attrs) value(name string) (cty.Value, bool) {
	at, ok := a.m[name]
	if !ok {
		return cty.NilVal, false
	}
	v, diags := at.Expr.Value(a.ctx)
	explainAttributes(diags, a.ctx)
	a.diags = append(a.diags, diags...)
	if diags.HasErrors() {
		a.markBad(name)
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		// Bench files have no values known only later: an unknown value stands
		// for one whose own error (a bad variable default, a broken local) was
		// reported where it is.
		a.markBad(name)
		return cty.NilVal, false
	}
	return v, true
}

func (a *attrs) errorf(name, summary, format string, args ...any) {
	a.markBad(name)
	a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
		Detail: fmt.Sprintf(format, args...), Subject: a.rng(name)})
}

func (a *attrs) convert(name string, want cty.Type, what string) (cty.Value, bool) {
	v, ok := a.value(name)
	if !ok {
		return cty.NilVal, false
	}
	if v.IsNull() {
		a.errorf(name, "Missing value", "%q must be %s, not null.", name, what)
		return cty.NilVal, false
	}
	out, err := convert.Convert(v, want)
	if err != nil {
		a.errorf(name, "Incorrect attribute value type", "%q must be %s: %s.", name, what, err)
		return cty.NilVal, false
	}
	return out, true
}

func (a *attrs) str(name, def string) string {
	v, ok := a.convert(name, cty.String, "a string")
	if !ok {
		return def
	}
	return v.AsString()
}

func (a *attrs) boolean(name string, def bool) bool {
	v, ok := a.convert(name, cty.Bool, "a boolean")
	if !ok {
		return def
	}
	return v.True()
}

func (a *attrs) number(name string, def float64) float64 {
	v, ok := a.convert(name, cty.Number, "a number")
	if !ok {
		return def
	}
	f, _ := v.AsBigFloat().Float64()
	return f
}

func (a *attrs) integer(name string, def, lo, hi int) int {
	if !a.has(name) {
		return def
	}
	v, ok := a.convert(name, cty.Number, "a whole number")
	if !ok {
		return def
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		a.errorf(name, "Invalid value", "%q must be a whole number, got %s.", name, bf.Text('g', 10))
		return def
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i < int64(lo) || i > int64(hi) {
		a.errorf(name, "Value out of range", "%q must be between %d and %d, got %s.", name, lo, hi, bf.Text('g', 10))
		return def
	}
	return int(i)
}

func (a *attrs) strings(name string) ([]string, bool) {
	v, ok := a.convert(name, cty.List(cty.String), "a list of strings")
	if !ok {
		return nil, false
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			a.errorf(name, "Invalid value", "%q must not contain null.", name)
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

func (a *attrs) stringMap(name string) (map[string]string, bool) {
	v, ok := a.convert(name, cty.Map(cty.String), "a map of strings")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			a.errorf(name, "Invalid value", "%q: key %q is null.", name, k.AsString())
			return nil, false
		}
		out[k.AsString()] = e.AsString()
	}
	return out, true
}

func (a *attrs) duration(name string, def time.Duration) time.Duration {
	if !a.has(name) {
		return def
	}
	s := a.str(name, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		hint := ""
		if _, isNumber := new(big.Float).SetString(strings.TrimSpace(s)); isNumber && !strings.HasPrefix(s, "-") {
			hint = fmt.Sprintf(" A duration has a unit: did you mean \"%ss\"?", strings.TrimSpace(s))
		}
		a.errorf(name, "Invalid duration", "%q must be a duration such as \"30s\", \"1m30s\" or \"500ms\"; got %q.%s", name, s, hint)
		return def
	}
	return d
}

// object evaluates an attribute that must be an object (or map) and returns JSON.
func (a *attrs) object(name string) (json.RawMessage, bool) {
	v, ok := a.value(name)
	if !ok {
		return nil, false
	}
	t := v.Type()
	if v.IsNull() || !(t.IsObjectType() || t.IsMapType()) {
		a.errorf(name, "Incorrect attribute value type", "%q must be an object, such as { key = \"value\" }; got %s.", name, friendlyType(v))
		return nil, false
	}
	return a.encode(name, v)
}

// anyJSON evaluates an attribute of any type to JSON.
func (a *attrs) anyJSON(name string) (json.RawMessage, bool) {
	v, ok := a.value(name)
	if !ok {
		return nil, false
	}
	return a.encode(name, v)
}

// encode turns an attribute's value into JSON.
func (a *attrs) encode(name string, v cty.Value) (json.RawMessage, bool) {
	out, err := toJSON(v)
	if err != nil {
		a.errorf(name, "Invalid value", "%q cannot be encoded as JSON: %s.", name, err)
		return nil, false
	}
	return out, true
}

func toJSON(v cty.Value) (json.RawMessage, error) {
	if v.IsNull() {
		return json.RawMessage("null"), nil
	}
	return ctyjson.SimpleJSONValue{Value: v}.MarshalJSON()
}

func friendlyType(v cty.Value) string {
	if v.IsNull() {
		return "null"
	}
	return v.Type().FriendlyName()
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

var unsupportedAttrRE = regexp.MustCompile(`^This object does not have an attribute named "([^"]+)"\.$`)

// explainAttributes adds "Did you mean …?" to HCL's "Unsupported attribute"
// on a variable (var.modle for var.model, local.x, path.rot), which HCL
// words without one.
func explainAttributes(diags hcl.Diagnostics, ctx *hcl.EvalContext) {
	if ctx == nil {
		return
	}
	for _, d := range diags {
		m := unsupportedAttrRE.FindStringSubmatch(d.Detail)
		if m == nil || d.Expression == nil {
			continue
		}
		for _, tr := range d.Expression.Variables() {
			v, ok := ctx.Variables[tr.RootName()]
			if !ok || !v.Type().IsObjectType() {
				continue
			}
			var names []string
			for name := range v.Type().AttributeTypes() {
				names = append(names, name)
			}
			if hint := suggest.DidYouMean(m[1], names); hint != "" {
				d.Detail += hint
				break
			}
		}
	}
}

var unsupportedArgRE = regexp.MustCompile(`An argument named "([^"]+)" is not expected here\.`)

// content is body.Content with a "Did you mean ...?" for misspelled arguments.
func content(body hcl.Body, schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, diags := body.Content(schema)
	var names, types []string
	for _, a := range schema.Attributes {
		names = append(names, a.Name)
	}
	for _, b := range schema.Blocks {
		types = append(types, b.Type)
	}
	for _, d := range diags {
		if m := unsupportedArgRE.FindStringSubmatch(d.Detail); m != nil {
			if best := suggest.Closest(m[1], names); best != "" {
				if !strings.Contains(d.Detail, "Did you mean") {
					d.Detail += suggest.DidYouMean(m[1], names)
				}
				d.Extra = misspelling(best)
			}
		}
		if m := unsupportedBlockRE.FindStringSubmatch(d.Detail); m != nil {
			if best := suggest.Closest(m[1], types); best != "" {
				if !strings.Contains(d.Detail, "Did you mean") {
					d.Detail += suggest.DidYouMean(m[1], types)
				}
				d.Extra = misspelling(best)
			}
		}
	}
	return c, diags
}

var unsupportedBlockRE = regexp.MustCompile(`^Blocks of type "([^"]+)" are not expected here\.`)

// misspeltIn says whether diags report a block type or argument misspelt
// for name ("nod" for node): then a check that name is there is skipped.
func misspeltIn(diags hcl.Diagnostics, name string) bool {
	for _, d := range diags {
		if m, ok := d.Extra.(misspelling); ok && string(m) == name {
			return true
		}
	}
	return false
}
