package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/zclconf/go-cty/cty"
)

// selector is one include/exclude/combination block: node → allowed variants.
type selector struct {
	kind  string
	rng   hcl.Range
	picks map[string][]string
}

func (sel selector) matches(combo map[string]string) bool {
	for node, allowed := range sel.picks {
		ok := false
		for _, v := range allowed {
			ok = ok || combo[node] == v
		}
		if !ok {
			return false
		}
	}
	return true
}

// combinations expands the full matrix of node variants, then applies explicit
// combination blocks, include and exclude filters.
func (c *Config) combinations(wf *spec.Workflow, blocks hcl.Blocks, a *attrs) []spec.Combination {
	var sels []selector
	for _, b := range blocks {
		if b.Type != "include" && b.Type != "exclude" && b.Type != "combination" {
			continue
		}
		sel := selector{kind: b.Type, rng: b.DefRange, picks: map[string][]string{}}
		as, d := b.Body.JustAttributes()
		a.diags = append(a.diags, d...)
		errorsBefore := errorCount(a.diags)
		for name, at := range as {
			node, _ := wf.NodeByName(name)
			if node == nil {
				a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared node",
					Detail:  fmt.Sprintf("Workflow %q has no node %q.%s", wf.Name, name, suggest.DidYouMean(name, nodeNames(wf))),
					Subject: at.NameRange.Ptr()})
				continue
			}
			if len(node.Variants) == 0 {
				a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Node has no variants",
					Detail: fmt.Sprintf("Node %q declares no variant blocks, so it cannot be selected in %s.", name, b.Type), Subject: at.NameRange.Ptr()})
				continue
			}
			sub := &attrs{m: hcl.Attributes{name: at}, ctx: c.ctx}
			var values []string
			if v, ok := sub.value(name); ok && !v.IsNull() && v.Type() == cty.String {
				values = []string{v.AsString()}
			} else if ok {
				values, _ = sub.strings(name)
			}
			a.diags = append(a.diags, sub.diags...)
			for _, v := range values {
				if node.Variant(v) == nil {
					a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared variant",
						Detail:  fmt.Sprintf("Node %q has no variant %q; it has: %s.%s", name, v, strings.Join(variantNames(node), ", "), suggest.DidYouMean(v, variantNames(node))),
						Subject: at.Expr.Range().Ptr()})
				}
			}
			sel.picks[name] = values
		}
		if b.Type == "combination" && errorCount(a.diags) == errorsBefore {
			var absent []string
			for _, n := range wf.Nodes {
				if _, ok := sel.picks[n.Name]; !ok && len(n.Variants) > 0 {
					absent = append(absent, fmt.Sprintf("%q", n.Name))
				}
			}
			if len(absent) > 0 {
				a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incomplete combination",
					Detail: fmt.Sprintf("A combination block must pick a variant for every node that has variants; it lacks %s.", strings.Join(absent, ", ")), Subject: b.DefRange.Ptr()})
			}
		}
		sels = append(sels, sel)
	}

	var all []map[string]string
	all = append(all, map[string]string{})
	for _, n := range wf.Nodes {
		if len(n.Variants) == 0 {
			continue
		}
		var next []map[string]string
		for _, partial := range all {
			for _, v := range n.Variants {
				m := make(map[string]string, len(partial)+1)
				for k, val := range partial {
					m[k] = val
				}
				m[n.Name] = v.Name
				next = append(next, m)
			}
		}
		all = next
	}
	var explicit, include, exclude []selector
	for _, s := range sels {
		switch s.kind {
		case "combination":
			explicit = append(explicit, s)
		case "include":
			include = append(include, s)
		case "exclude":
			exclude = append(exclude, s)
		}
	}
	var out []spec.Combination
	for _, combo := range all {
		keep := len(explicit) == 0 && len(include) == 0
		for _, s := range append(explicit, include...) {
			keep = keep || s.matches(combo)
		}
		for _, s := range exclude {
			keep = keep && !s.matches(combo)
		}
		if keep {
			out = append(out, spec.Combination{Name: spec.CombinationName(wf, combo), Variants: combo})
		}
	}
	if len(out) == 0 && !a.diags.HasErrors() {
		rng := a.rng("workflow")
		for _, s := range sels {
			rng = s.rng.Ptr()
		}
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No combinations left",
			Detail: "The include, exclude and combination blocks leave no combination of variants to run.", Subject: rng})
	}
	return out
}

func nodeNames(wf *spec.Workflow) []string {
	var out []string
	for _, n := range wf.Nodes {
		out = append(out, n.Name)
	}
	return out
}

func variantNames(n *spec.Node) []string {
	var out []string
	for _, v := range n.Variants {
		out = append(out, v.Name)
	}
	return out
}
