package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
}}

// decodeVariables gives each declared variable its value, converted to its
// type (see variableValue for where a value comes from), and refuses a --var
// that names no declared variable.
func (c *Config) decodeVariables(blocks []*hcl.Block, opts Options) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vals := map[string]cty.Value{}
	declared := map[string]hcl.Range{}
	env := map[string]string{}
	for _, kv := range opts.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "WTB_VAR_") {
			env[strings.TrimPrefix(k, "WTB_VAR_")] = v
		}
	}
	for _, b := range blocks {
		name := b.Labels[0]
		if prev, ok := declared[name]; ok {
			diags = append(diags, dupBlock("variable", name, b.DefRange, prev))
			continue
		}
		declared[name] = b.DefRange
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable name",
				Detail: "A variable name must start with a letter and contain only letters, digits, underscores and dashes.", Subject: b.LabelRanges[0].Ptr()})
			continue
		}
		content, d := content(b.Body, variableSchema)
		diags = append(diags, d...) // and kept in a, below, for a.misspelled
		typ := cty.DynamicPseudoType
		if at, ok := content.Attributes["type"]; ok {
			t, d := typeexpr.TypeConstraint(at.Expr)
			if kw := hcl.ExprAsKeyword(at.Expr); d.HasErrors() && kw != "" {
				d[0].Detail += suggest.DidYouMean(kw, []string{"string", "number", "bool", "any", "list", "map", "set", "object", "tuple"})
			}
			diags = append(diags, d...)
			if !d.HasErrors() {
				typ = t
			}
		}
		a := &attrs{m: content.Attributes, ctx: nil, diags: d}
		val, sensitive := c.variableValue(name, b, a, typ, opts.Vars, env)
		diags = append(diags, a.diags[len(d):]...)
		if val == cty.NilVal {
			// Reported once above; an unknown value keeps every use of var.NAME
			// from adding an error of its own.
			vals[name] = cty.UnknownVal(typ)
			continue
		}
		if sensitive && val.Type() == cty.String && val.AsString() != "" {
			c.Sensitive = append(c.Sensitive, val.AsString())
		}
		vals[name] = val
	}
	for name := range opts.Vars {
		if _, ok := declared[name]; !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
				Detail: fmt.Sprintf("--var %s was given, but %s declares no variable %q.%s", name, c.Path, name, suggest.DidYouMean(name, spec.SortedKeys(declared)))})
		}
	}
	return vals, diags
}

// variableValue picks a variable's value: --var, then WTB_VAR_name, then the
// default. It returns cty.NilVal when there is none (a diagnostic says why).
func (c *Config) variableValue(name string, b *hcl.Block, a *attrs, typ cty.Type, cli, env map[string]string) (cty.Value, bool) {
	sensitive := a.boolean("sensitive", false)
	var src, raw string
	var have bool
	if raw, have = cli[name]; have {
		src = "--var " + name
	} else if raw, have = env[name]; have {
		src = "WTB_VAR_" + name
	}
	switch {
	case have:
		v, err := parseVarValue(raw, typ)
		if err != nil {
			a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
				Detail: fmt.Sprintf("The value from %s is not valid for variable %q: %s.", src, name, err), Subject: b.DefRange.Ptr()})
			return cty.NilVal, sensitive
		}
		return v, sensitive
	case a.has("default"):
		v, ok := a.value("default")
		if !ok {
			return cty.NilVal, sensitive
		}
		cv, err := convert.Convert(v, typ)
		if err != nil {
			a.errorf("default", "Invalid default value for variable", "The default of variable %q does not match its type: %s.", name, err)
			return cty.NilVal, sensitive
		}
		return cv, sensitive
	}
	if a.misspelled("default") {
		return cty.NilVal, sensitive // "defualt = …" says so already
	}
	a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
		Detail:  fmt.Sprintf("Variable %q has no default; set it with --var %s=VALUE or the environment variable WTB_VAR_%s.", name, name, name),
		Subject: b.DefRange.Ptr()})
	return cty.NilVal, sensitive
}

// parseVarValue reads a variable value given on the command line: verbatim for
// strings, as an HCL expression (e.g. 3, true, ["a","b"]) for other types.
func parseVarValue(raw string, typ cty.Type) (cty.Value, error) {
	if typ == cty.String || typ == cty.DynamicPseudoType {
		return cty.StringVal(raw), nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), "<value>", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("cannot parse %q: %s", raw, diags[0].Summary)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("cannot evaluate %q: %s", raw, diags[0].Detail)
	}
	return convert.Convert(v, typ)
}

// decodeLocals evaluates locals in dependency order, reporting cycles.
func (c *Config) decodeLocals(blocks []*hcl.Block) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	pending := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		as, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for name, at := range as {
			if prev, ok := pending[name]; ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate local value",
					Detail: fmt.Sprintf("local.%s was already defined at %s.", name, prev.NameRange), Subject: at.NameRange.Ptr()})
				continue
			}
			pending[name] = at
		}
	}
	done := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for _, name := range spec.SortedKeys(pending) {
			at := pending[name]
			ready := true
			for _, tr := range at.Expr.Variables() {
				if tr.RootName() != "local" || len(tr) < 2 {
					continue
				}
				if ref, ok := tr[1].(hcl.TraverseAttr); ok {
					if _, isDone := done[ref.Name]; !isDone {
						if _, isPending := pending[ref.Name]; isPending {
							ready = false
						}
					}
				}
			}
			if !ready {
				continue
			}
			c.ctx.Variables["local"] = cty.ObjectVal(done)
			v, d := at.Expr.Value(c.ctx)
			diags = append(diags, d...)
			if d.HasErrors() {
				v = cty.DynamicVal
			}
			done[name] = v
			delete(pending, name)
			progress = true
		}
		if !progress {
			// One cycle is one mistake: said once, at its first local.
			names := spec.SortedKeys(pending)
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in local values",
				Detail:  fmt.Sprintf("local.%s depends on itself: the locals %s refer to each other in a circle.", names[0], strings.Join(names, ", ")),
				Subject: pending[names[0]].Expr.Range().Ptr()})
			break
		}
	}
	return done, diags
}
