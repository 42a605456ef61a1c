package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/wtbench/wtb/sdk"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// DecodeBody decodes the plugin's own attributes against the schema the plugin
// declared, applying defaults, and returns them as a JSON object. Unknown
// attributes, missing required ones and wrong types are diagnostics at their
// source range.
func (pb *PluginBlock) DecodeBody(schema sdk.Schema) (json.RawMessage, hcl.Diagnostics) {
	spec := hcldec.ObjectSpec{}
	var diags hcl.Diagnostics
	for _, at := range schema.Attributes {
		typ, err := parseType(at.Type)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plugin declares an invalid schema",
				Detail:  fmt.Sprintf("Plugin %q declares attribute %q with type %q: %v. This is a bug in the plugin.", pb.Plugin, at.Name, at.Type, err),
				Subject: pb.PluginRange.Ptr()})
			continue
		}
		var s hcldec.Spec = &hcldec.AttrSpec{Name: at.Name, Type: typ, Required: at.Required}
		if at.Default != nil && !at.Required {
			def, err := json.Marshal(at.Default)
			var dv cty.Value
			if err == nil {
				dv, err = ctyjson.Unmarshal(def, impliedIfDynamic(typ, def))
			}
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plugin declares an invalid default",
					Detail: fmt.Sprintf("Plugin %q: default of %q: %v.", pb.Plugin, at.Name, err), Subject: pb.PluginRange.Ptr()})
				continue
			}
			s = &hcldec.DefaultSpec{Primary: s, Default: &hcldec.LiteralSpec{Value: dv}}
		}
		spec[at.Name] = s
	}
	if diags.HasErrors() {
		return nil, diags
	}
	val, d := hcldec.Decode(pb.Body, spec, pb.ctx)
	misspelt := map[string]bool{}
	for _, diag := range d {
		if diag.Summary == "Unsupported argument" {
			if m := unsupportedArgRE.FindStringSubmatch(diag.Detail); m != nil {
				if best := suggest.Closest(m[1], attrNames(schema)); best != "" {
					if !strings.Contains(diag.Detail, "Did you mean") {
						diag.Detail += suggest.DidYouMean(m[1], attrNames(schema))
					}
					misspelt[best] = true
				}
			}
			diag.Detail = fmt.Sprintf("%s Plugin %q (%s block %q) accepts: plugin, plugin_sha256, start_timeout, %s.",
				diag.Detail, pb.Plugin, pb.Kind, pb.Label, strings.Join(attrNames(schema), ", "))
		}
	}
	for _, diag := range d {
		// "adress = …" is a misspelt address, not also a missing one.
		if m := missingArgRE.FindStringSubmatch(diag.Detail); diag.Summary == "Missing required argument" && m != nil && misspelt[m[1]] {
			continue
		}
		diags = append(diags, diag)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	out, err := toJSON(val)
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot encode plugin configuration",
			Detail: err.Error(), Subject: pb.DefRange.Ptr()})
	}
	return out, diags
}

var missingArgRE = regexp.MustCompile(`^The argument "([^"]+)" is required`)

func attrNames(schema sdk.Schema) []string {
	var out []string
	for _, at := range schema.Attributes {
		out = append(out, at.Name)
	}
	return out
}

func impliedIfDynamic(t cty.Type, js []byte) cty.Type {
	if t == cty.DynamicPseudoType {
		if it, err := ctyjson.ImpliedType(js); err == nil {
			return it
		}
	}
	return t
}

func parseType(s string) (cty.Type, error) {
	if s == "" || s == "any" {
		return cty.DynamicPseudoType, nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(s), "<type>", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilType, diags
	}
	t, diags := typeexpr.TypeConstraint(expr)
	if diags.HasErrors() {
		return cty.NilType, diags
	}
	return t, nil
}

// PluginDiagnostics turns a plugin's diagnostics into HCL diagnostics pointing
// at the attribute they name (or at the block).
func (pb *PluginBlock) PluginDiagnostics(ds sdk.Diagnostics) hcl.Diagnostics {
	attrsByName, _ := pb.Body.JustAttributes()
	var out hcl.Diagnostics
	for _, d := range ds {
		sev := hcl.DiagError
		if d.Severity == sdk.SeverityWarning {
			sev = hcl.DiagWarning
		}
		subject := pb.DefRange.Ptr()
		if len(d.Path) > 0 {
			if at, ok := attrsByName[d.Path[0]]; ok {
				subject = at.Expr.Range().Ptr()
			}
		}
		detail := d.Detail
		if detail == "" {
			detail = d.Summary + "."
		}
		out = append(out, &hcl.Diagnostic{Severity: sev, Summary: fmt.Sprintf("%s plugin %q: %s", pb.Kind, pb.Plugin, d.Summary),
			Detail: detail, Subject: subject})
	}
	return out
}
