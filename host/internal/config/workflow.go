package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/zclconf/go-cty/cty"
)

var workflowSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "node", LabelNames: []string{"name"}}}}

var nodeAttrs = []string{"kind", "command", "depends_on", "params", "env", "timeout", "max_output_bytes", "cache", "worker"}

var nodeSchema = &hcl.BodySchema{
	Attributes: attrSchema(nodeAttrs...),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "variant", LabelNames: []string{"name"}}, {Type: "worker"}},
}

var variantAttrs = []string{"kind", "command", "params", "env", "timeout", "environment", "worker"}

var variantSchema = &hcl.BodySchema{Attributes: attrSchema(variantAttrs...), Blocks: []hcl.BlockHeaderSchema{{Type: "worker"}}}

var workerSchema = &hcl.BodySchema{Attributes: attrSchema("max", "max_requests", "idle_timeout")}

// decodeWorker reads worker = true|false or a worker { max, max_requests,
// idle_timeout } block; nil when neither says to use one.
func (c *Config) decodeWorker(a *attrs, blocks hcl.Blocks) *spec.Worker {
	var w *spec.Worker
	if a.has("worker") && a.boolean("worker", false) {
		w = &spec.Worker{}
	}
	var first *hcl.Block
	for _, b := range blocks {
		if b.Type != "worker" {
			continue
		}
		if first != nil {
			a.diags = append(a.diags, dupBlock("worker", "", b.DefRange, first.DefRange))
			continue
		}
		first = b
		if a.has("worker") {
			a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Worker given twice",
				Detail: "Use worker = true, or a worker { max, max_requests, idle_timeout } block, not both.", Subject: b.DefRange.Ptr()})
			continue
		}
		content, diags := content(b.Body, workerSchema)
		wa := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
		w = &spec.Worker{Max: wa.integer("max", 0, 1, 100000), MaxRequests: wa.integer("max_requests", 0, 1, 1<<30),
			IdleTimeout: spec.Duration(wa.duration("idle_timeout", 0))}
		a.diags = append(a.diags, wa.diags...)
	}
	return w
}

func attrSchema(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

type nodeDecl struct {
	node      spec.Node
	rng       hcl.Range
	dependsOn map[string]hcl.Range
	// kinds holds where the node ("") and each variant set their kind.
	kinds map[string]hcl.Range
	// envs holds where each variant sets its environment.
	envs map[string]hcl.Range
}

func (c *Config) decodeWorkflow(b *hcl.Block) (*spec.Workflow, hcl.Diagnostics) {
	content, diags := content(b.Body, workflowSchema)
	var decls []*nodeDecl
	byName := map[string]*nodeDecl{}
	for _, nb := range content.Blocks {
		name := nb.Labels[0]
		if prev, ok := byName[name]; ok {
			diags = append(diags, dupBlock("node", name, nb.DefRange, prev.rng))
			continue
		}
		nd, d := c.decodeNode(nb)
		diags = append(diags, d...)
		for variant, rng := range nd.kinds {
			c.kindRanges[kindKey(b.Labels[0], name, variant)] = rng
		}
		for variant, rng := range nd.envs {
			c.envRanges[kindKey(b.Labels[0], name, variant)] = rng
		}
		byName[name] = nd
		decls = append(decls, nd)
	}
	if len(decls) == 0 {
		if misspeltIn(diags, "node") {
			return nil, diags // "nod" was said to be node; the workflow is not also empty
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty workflow",
			Detail: fmt.Sprintf("Workflow %q has no node blocks.", b.Labels[0]), Subject: b.DefRange.Ptr()})
		return nil, diags
	}
	for _, nd := range decls {
		for _, dep := range nd.node.DependsOn {
			if dep == nd.node.Name {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Node depends on itself",
					Detail: fmt.Sprintf("Node %q lists itself in depends_on.", dep), Subject: nd.dependsOn[dep].Ptr()})
			} else if _, ok := byName[dep]; !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared node",
					Detail:  fmt.Sprintf("Node %q depends on %q, which workflow %q does not declare.%s", nd.node.Name, dep, b.Labels[0], suggest.DidYouMean(dep, spec.SortedKeys(byName))),
					Subject: nd.dependsOn[dep].Ptr()})
			}
		}
	}
	// A workflow with a mistake is still returned (in declaration order when its
	// graph is broken), so references to it and its nodes resolve and each
	// mistake is reported once, where it is.
	order := decls
	if !diags.HasErrors() {
		var cycle []string
		if order, cycle = topoOrder(decls); cycle != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency cycle",
				Detail:  fmt.Sprintf("The nodes of workflow %q form a cycle: %s.", b.Labels[0], strings.Join(cycle, " → ")),
				Subject: byName[cycle[0]].rng.Ptr()})
			order = decls
		}
	}
	wf := &spec.Workflow{Name: b.Labels[0]}
	for _, nd := range order {
		wf.Nodes = append(wf.Nodes, nd.node)
	}
	return wf, diags
}

// topoOrder orders nodes so each comes after its dependencies, keeping the
// declaration order wherever the graph allows (a stable Kahn's algorithm). On a
// cycle it returns the cycle's nodes.
func topoOrder(decls []*nodeDecl) ([]*nodeDecl, []string) {
	placed := map[string]bool{}
	var order []*nodeDecl
	for len(order) < len(decls) {
		progress := false
		for _, nd := range decls {
			if placed[nd.node.Name] {
				continue
			}
			ready := true
			for _, dep := range nd.node.DependsOn {
				ready = ready && placed[dep]
			}
			if ready {
				placed[nd.node.Name] = true
				order = append(order, nd)
				progress = true
				break // restart from the top: declaration order first
			}
		}
		if !progress {
			return nil, findCycle(decls, placed)
		}
	}
	return order, nil
}

func findCycle(decls []*nodeDecl, placed map[string]bool) []string {
	deps := map[string][]string{}
	var start string
	for _, nd := range decls {
		if !placed[nd.node.Name] {
			deps[nd.node.Name] = nd.node.DependsOn
			if start == "" {
				start = nd.node.Name
			}
		}
	}
	// Walk unplaced dependencies until a node repeats.
	seen := map[string]int{}
	var path []string
	for cur := start; ; {
		if i, ok := seen[cur]; ok {
			return append(path[i:], cur)
		}
		seen[cur] = len(path)
		path = append(path, cur)
		next := ""
		for _, d := range deps[cur] {
			if !placed[d] {
				next = d
				break
			}
		}
		if next == "" {
			return path
		}
		cur = next
	}
}

func (c *Config) decodeNode(b *hcl.Block) (*nodeDecl, hcl.Diagnostics) {
	content, diags := content(b.Body, nodeSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	nd := &nodeDecl{rng: b.DefRange, dependsOn: map[string]hcl.Range{}, kinds: map[string]hcl.Range{"": b.DefRange}, envs: map[string]hcl.Range{}}
	n := &nd.node
	n.Name = b.Labels[0]
	n.Kind = a.str("kind", "command")
	if r := a.rng("kind"); r != nil {
		nd.kinds[""] = *r
	}
	if a.has("command") {
		n.Command, _ = a.strings("command")
	}
	if n.Kind == "command" && len(n.Command) == 0 && a.has("command") && !a.failed("command") {
		a.errorf("command", "Empty command", "Node %q needs a command such as [\"sh\", \"nodes/step.sh\"].", n.Name)
	}
	if at, ok := content.Attributes["depends_on"]; ok {
		n.DependsOn = c.dependsOn(a, at, nd.dependsOn)
	}
	if a.has("params") {
		n.Params, _ = a.object("params")
	}
	if a.has("env") {
		n.Env, _ = a.stringMap("env")
	}
	n.Timeout = spec.Duration(a.duration("timeout", 0))
	n.MaxOutputBytes = int64(a.integer("max_output_bytes", 0, 0, 1<<40))
	if a.has("cache") {
		v := a.boolean("cache", false)
		n.Cache = &v
	}
	n.Worker = c.decodeWorker(a, content.Blocks)
	if n.Worker != nil && n.Kind != "command" {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Worker on a built-in node",
			Detail: fmt.Sprintf("Node %q has kind %q; only command nodes run as persistent workers.", n.Name, n.Kind), Subject: b.DefRange.Ptr()})
	}
	a.diags = append(a.diags, c.missingScripts(n.Command, a.rng("command"), fmt.Sprintf("Node %q", n.Name))...)
	n.Command, n.Files = c.resolveCommand(n.Command)

	seen := map[string]hcl.Range{}
	hasCommand := len(n.Command) > 0
	for _, vb := range content.Blocks {
		if vb.Type != "variant" {
			continue
		}
		name := vb.Labels[0]
		if prev, ok := seen[name]; ok {
			a.diags = append(a.diags, dupBlock("variant", name, vb.DefRange, prev))
			continue
		}
		seen[name] = vb.DefRange
		v, d := c.decodeVariant(vb, n)
		a.diags = append(a.diags, d...)
		if v.Kind != "" {
			nd.kinds[v.Name] = vb.DefRange
			if at, ok := vb.Body.(*hclsyntax.Body); ok && at.Attributes["kind"] != nil {
				nd.kinds[v.Name] = at.Attributes["kind"].Expr.Range()
			}
		}
		if at, ok := vb.Body.(*hclsyntax.Body); ok && at.Attributes["environment"] != nil {
			nd.envs[v.Name] = at.Attributes["environment"].Expr.Range()
		}
		if v.Command != nil || hasAttr(vb.Body, "command") {
			hasCommand = true // a variant's command, right or wrong (its own error says so)
		}
		n.Variants = append(n.Variants, v)
	}
	if n.Kind == "command" && !hasCommand && !a.has("command") && !a.failed("kind") && !a.misspelled("command") {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing command",
			Detail:  fmt.Sprintf("Node %q is a command node (the default kind) but sets no command. Set command = [...], or kind = \"merge\" for a node that merges its params into the state.", n.Name),
			Subject: b.DefRange.Ptr()})
	}
	return nd, a.diags
}

// hasAttr says whether a block sets an attribute, whatever its value.
func hasAttr(body hcl.Body, name string) bool { return attrOf(body, name) != nil }

// attrOf is a block's attribute, nil when the block does not set it.
func attrOf(body hcl.Body, name string) *hclsyntax.Attribute {
	if b, ok := body.(*hclsyntax.Body); ok {
		return b.Attributes[name]
	}
	return nil
}

func (c *Config) dependsOn(a *attrs, at *hcl.Attribute, ranges map[string]hcl.Range) []string {
	// Accept bare node names (depends_on = [retrieve]) as well as strings.
	exprs, d := hcl.ExprList(at.Expr)
	if d.HasErrors() {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on",
			Detail: "depends_on must be a list of node names, such as [\"retrieve\"].", Subject: at.Expr.Range().Ptr()})
		return nil
	}
	var out []string
	for _, e := range exprs {
		name := hcl.ExprAsKeyword(e)
		if name == "" {
			v, d := e.Value(c.ctx)
			if d.HasErrors() || v.IsNull() || v.Type() != cty.String {
				a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on",
					Detail: "Each entry of depends_on must be a node name.", Subject: e.Range().Ptr()})
				continue
			}
			name = v.AsString()
		}
		ranges[name] = e.Range()
		out = append(out, name)
	}
	return out
}

func (c *Config) decodeVariant(b *hcl.Block, n *spec.Node) (spec.Variant, hcl.Diagnostics) {
	content, diags := content(b.Body, variantSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	v := spec.Variant{Name: b.Labels[0], Kind: a.str("kind", "")}
	if !validName(v.Name) || strings.ContainsAny(v.Name, ",=/") {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variant name",
			Detail: "Variant names may contain letters, digits, '-', '_' and '.'.", Subject: b.LabelRanges[0].Ptr()})
	}
	if a.has("command") {
		v.Command, _ = a.strings("command")
		a.diags = append(a.diags, c.missingScripts(v.Command, a.rng("command"), fmt.Sprintf("Variant %q of node %q", v.Name, n.Name))...)
		v.Command, v.Files = c.resolveCommand(v.Command)
	}
	if a.has("params") {
		if p, ok := a.object("params"); ok {
			v.Params = mergeJSON(n.Params, p)
		}
	}
	if a.has("env") {
		if e, ok := a.stringMap("env"); ok {
			v.Env = map[string]string{}
			for k, val := range n.Env {
				v.Env[k] = val
			}
			for k, val := range e {
				v.Env[k] = val
			}
		}
	}
	v.Timeout = spec.Duration(a.duration("timeout", 0))
	if a.has("environment") {
		if raw, ok := a.object("environment"); ok {
			_ = json.Unmarshal(raw, &v.Environment)
		}
	}
	v.Worker = c.decodeWorker(a, content.Blocks)
	return v, a.diags
}

// mergeJSON merges the variant's params over the node's (top-level keys).
func mergeJSON(base, over json.RawMessage) json.RawMessage {
	b := map[string]json.RawMessage{}
	_ = json.Unmarshal(base, &b)
	o := map[string]json.RawMessage{}
	_ = json.Unmarshal(over, &o)
	for k, v := range o {
		b[k] = v
	}
	out, _ := json.Marshal(b)
	return out
}

// resolveCommand makes arguments that name files relative to the bench file
// absolute, so a node finds its script whatever its working directory, and
// returns those files: their contents are part of the node cache key.
func (c *Config) resolveCommand(argv []string) ([]string, []string) {
	if len(argv) == 0 {
		return argv, nil
	}
	out := make([]string, len(argv))
	var files []string
	for i, arg := range argv {
		out[i] = arg
		if arg == "" || strings.ContainsAny(arg, " \t\n$;|&<>*?") || strings.HasPrefix(arg, "-") {
			continue
		}
		path := arg
		if !filepath.IsAbs(path) {
			if i == 0 && !strings.ContainsRune(arg, '/') {
				continue // a program looked up in PATH
			}
			path = filepath.Join(c.Dir, arg)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
			out[i] = path
			files = append(files, path)
		}
	}
	return out, files
}

// scriptExt are the file name endings that make an argument a script to
// look for (an argument with a "/" is looked for too).
var scriptExt = []string{".py", ".sh", ".bash", ".js", ".mjs", ".ts", ".rb", ".pl", ".php", ".R", ".jl", ".lua"}

// missingScripts warns of command arguments that name a script that is not
// there: the node would fail on every execution ("can't open file"). Only a
// warning: a node runs in its environment's working directory (a Ray
// working_dir), which may hold it.
func (c *Config) missingScripts(argv []string, rng *hcl.Range, who string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i, arg := range argv {
		if arg == "" || strings.ContainsAny(arg, " \t\n$;|&<>*?=:") || strings.HasPrefix(arg, "-") {
			continue
		}
		script := strings.ContainsRune(arg, '/')
		for _, ext := range scriptExt {
			script = script || strings.HasSuffix(arg, ext)
		}
		if !script || i == 0 && !strings.ContainsRune(arg, '/') {
			continue
		}
		if _, err := os.Stat(resolvePath(c.Dir, arg)); err == nil || !os.IsNotExist(err) {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Script not found",
			Detail: fmt.Sprintf("%s runs %q, which is not a file (relative paths are to the bench file's directory); the node would fail on every execution.%s "+
				"(If the node's environment provides it, e.g. a Ray working_dir, ignore this.)", who, arg, suggest.File(c.Dir, arg)),
			Subject: rng})
	}
	return diags
}

// EnvironmentRange is where a variant sets its environment, if it does.
func (c *Config) EnvironmentRange(workflow, node, variant string) *hcl.Range {
	if r, ok := c.envRanges[kindKey(workflow, node, variant)]; ok {
		return &r
	}
	return nil
}

func kindKey(workflow, node, variant string) string {
	return workflow + "\x00" + node + "\x00" + variant
}

// KindRange is where a node (or one of its variants) sets its kind, or the
// block itself when the kind is the default: where a runner's refusal of that
// kind points.
func (c *Config) KindRange(workflow, node, variant string) *hcl.Range {
	if r, ok := c.kindRanges[kindKey(workflow, node, variant)]; ok {
		return &r
	}
	if r, ok := c.kindRanges[kindKey(workflow, node, "")]; ok {
		return &r
	}
	return nil
}
