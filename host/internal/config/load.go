// Package config loads bench files: HCL with variables, locals and a function
// library, decoded into validated batch specs. Every problem is an hcl.Diagnostic
// with a source range, and loading goes on after an error so that `wtb validate`
// can report all of them at once.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
	"github.com/zclconf/go-cty/cty"
)

// Config is a loaded bench file.
type Config struct {
	Path string
	Dir  string
	// Database and PluginDir come from the wtb block ("" when not set).
	Database     string
	PluginDir    string
	Runners      map[string]*PluginBlock
	Environments map[string]*PluginBlock
	Workflows    map[string]*spec.Workflow
	Batches      []*BatchDecl
	// Sensitive holds values of sensitive variables, to be masked in output.
	Sensitive []string
	// Gateway is the gateway block (nil when there is none); it applies to
	// every batch_test of the file.
	Gateway      *spec.Gateway
	gatewayRange hcl.Range
	// Bridges are the bridge blocks; like the gateway, they apply to every
	// batch_test of the file.
	Bridges []spec.Bridge

	// declared holds every named block ("workflow\x00NAME"), including those
	// that did not decode: a reference to one is not also an error.
	declared   map[string]bool
	kindRanges map[string]hcl.Range
	envRanges  map[string]hcl.Range
	parser     *hclparse.Parser
	ctx        *hcl.EvalContext
}

// PluginKind says whether a block configures a runner or an environment
// provider.
type PluginKind string

// Plugin kinds; their values are the block types.
const (
	KindRunner      PluginKind = "runner"
	KindEnvironment PluginKind = "environment"
)

// PluginBlock is a runner or environment block. Its Body holds the plugin's own
// attributes, decoded against the plugin's schema once the plugin is known.
type PluginBlock struct {
	Kind         PluginKind
	Label        string
	Plugin       string
	SHA256       string
	StartTimeout time.Duration
	Body         hcl.Body
	DefRange     hcl.Range
	PluginRange  hcl.Range
	ctx          *hcl.EvalContext
}

// BatchDecl is a batch_test block.
type BatchDecl struct {
	Spec        *spec.Batch
	Runner      *PluginBlock
	Environment *PluginBlock
	DefRange    hcl.Range
}

// Files returns the parsed files, for rendering diagnostics with snippets.
func (c *Config) Files() map[string]*hcl.File { return c.parser.Files() }

// Batch returns the named batch test, or the only one when name is "".
func (c *Config) Batch(name string) (*BatchDecl, error) {
	if name == "" {
		switch len(c.Batches) {
		case 0:
			return nil, fmt.Errorf("%s declares no batch_test", c.Path)
		case 1:
			return c.Batches[0], nil
		}
		var names []string
		for _, b := range c.Batches {
			names = append(names, b.Spec.Name)
		}
		return nil, fmt.Errorf("%s declares several batch tests (%s); choose one with --batch", c.Path, strings.Join(names, ", "))
	}
	var names []string
	for _, b := range c.Batches {
		if b.Spec.Name == name {
			return b, nil
		}
		names = append(names, b.Spec.Name)
	}
	return nil, fmt.Errorf("%s declares no batch_test %q (it has: %s).%s", c.Path, name, strings.Join(names, ", "), suggest.DidYouMean(name, names))
}

// Options are the inputs of a load besides the file.
type Options struct {
	// Vars are --var name=value settings; they win over WTB_VAR_name.
	Vars map[string]string
	// Environ is the process environment (os.Environ() when nil).
	Environ []string
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "wtb"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "runner", LabelNames: []string{"name"}},
		{Type: "environment", LabelNames: []string{"name"}},
		{Type: "workflow", LabelNames: []string{"name"}},
		{Type: "batch_test", LabelNames: []string{"name"}},
		{Type: "gateway"},
		{Type: "bridge", LabelNames: []string{"kind"}},
	},
}

// Load parses and decodes a bench file. The Config is returned even when there
// are errors (as far as it could be built), together with all diagnostics.
func Load(path string, opts Options) (*Config, hcl.Diagnostics) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	c := &Config{Path: path, Dir: filepath.Dir(abs), parser: hclparse.NewParser(),
		Runners: map[string]*PluginBlock{}, Environments: map[string]*PluginBlock{}, Workflows: map[string]*spec.Workflow{}, kindRanges: map[string]hcl.Range{}, envRanges: map[string]hcl.Range{}}
	src, err := os.ReadFile(path)
	if err != nil {
		return c, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read bench file", Detail: err.Error()}}
	}
	src, bad := textOf(src, path, path, "bench file")
	if bad != nil {
		if bad.Subject.Start.Line > 1 || bad.Subject.Start.Column > 1 {
			c.parser.Files()[path] = &hcl.File{Bytes: src} // quote the line it is on
		}
		return c, hcl.Diagnostics{bad}
	}
	file, diags := c.parser.ParseHCL(src, path)
	if diags.HasErrors() {
		return c, syntaxError(diags, src)
	}
	content, d := content(file.Body, rootSchema)
	diags = append(diags, d...)

	blocks := map[string][]*hcl.Block{}
	c.declared = map[string]bool{}
	for _, b := range content.Blocks {
		blocks[b.Type] = append(blocks[b.Type], b)
		if len(b.Labels) > 0 {
			c.declared[b.Type+"\x00"+b.Labels[0]] = true
		}
	}
	// A block whose type is misspelt (runer "r") was reported as such; the
	// references to it (runner.r) are not also errors.
	if body, ok := file.Body.(*hclsyntax.Body); ok {
		var types []string
		for _, s := range rootSchema.Blocks {
			types = append(types, s.Type)
		}
		for _, b := range body.Blocks {
			if meant := suggest.Closest(b.Type, types); meant != "" && !slices.Contains(types, b.Type) && len(b.Labels) > 0 {
				c.declared[meant+"\x00"+b.Labels[0]] = true
			}
		}
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	vars, d := c.decodeVariables(blocks["variable"], opts)
	diags = append(diags, d...)
	c.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(vars),
			"path": cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal(c.Dir)}),
		},
		Functions: functions(c.Dir),
	}
	locals, d := c.decodeLocals(blocks["locals"])
	diags = append(diags, d...)
	c.ctx.Variables["local"] = cty.ObjectVal(locals)

	if len(blocks["wtb"]) > 1 {
		diags = append(diags, dupBlock("wtb", "", blocks["wtb"][1].DefRange, blocks["wtb"][0].DefRange))
	}
	for _, b := range blocks["wtb"][:min(1, len(blocks["wtb"]))] {
		diags = append(diags, c.decodeSettings(b)...)
	}
	for _, b := range blocks["runner"] {
		diags = append(diags, c.decodePluginBlock(b, KindRunner, c.Runners)...)
	}
	for _, b := range blocks["environment"] {
		diags = append(diags, c.decodePluginBlock(b, KindEnvironment, c.Environments)...)
	}
	if len(blocks["gateway"]) > 1 {
		diags = append(diags, dupBlock("gateway", "", blocks["gateway"][1].DefRange, blocks["gateway"][0].DefRange))
	}
	for _, b := range blocks["gateway"][:min(1, len(blocks["gateway"]))] {
		diags = append(diags, c.decodeGateway(b)...)
	}
	diags = append(diags, decodeNamed(blocks["bridge"], "bridge", c.decodeBridge, func(_ string, br *spec.Bridge) {
		c.Bridges = append(c.Bridges, *br)
	})...)
	diags = append(diags, decodeNamed(blocks["workflow"], "workflow", c.decodeWorkflow, func(name string, wf *spec.Workflow) {
		c.Workflows[name] = wf
	})...)
	diags = append(diags, decodeNamed(blocks["batch_test"], "batch_test", c.decodeBatch, func(_ string, bd *BatchDecl) {
		c.Batches = append(c.Batches, bd)
	})...)
	if len(blocks["batch_test"]) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No batch_test",
			Detail:  "The file declares no batch_test block, so `wtb run` has nothing to run.",
			Subject: file.Body.MissingItemRange().Ptr()})
	}
	return c, diags
}

// decodeNamed decodes labelled blocks of one type, refusing a second block
// with the same name, and keeps each one that decoded.
func decodeNamed[T any](blocks []*hcl.Block, kind string, decode func(*hcl.Block) (*T, hcl.Diagnostics), keep func(string, *T)) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		name := b.Labels[0]
		if prev, ok := seen[name]; ok {
			diags = append(diags, dupBlock(kind, name, b.DefRange, prev))
			continue
		}
		seen[name] = b.DefRange
		v, d := decode(b)
		diags = append(diags, d...)
		if v != nil {
			keep(name, v)
		}
	}
	return diags
}

func dupBlock(kind, name string, at, prev hcl.Range) *hcl.Diagnostic {
	detail := fmt.Sprintf("%s %s %q was already declared at %s:%d:%d; names must be unique.", article(kind), kind, name, prev.Filename, prev.Start.Line, prev.Start.Column)
	if name == "" {
		detail = fmt.Sprintf("%s %s block was already given at %s:%d:%d; there can be only one.", article(kind), kind, prev.Filename, prev.Start.Line, prev.Start.Column)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + kind + " block", Detail: detail, Subject: at.Ptr()}
}

// article is "A" or "An" for a word.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "An"
	}
	return "A"
}

func (c *Config) decodeSettings(b *hcl.Block) hcl.Diagnostics {
	body, diags := b.Body.JustAttributes()
	a := &attrs{m: body, ctx: c.ctx, diags: diags}
	for name := range body {
		switch name {
		case "database", "plugin_dir":
		default:
			a.diags = append(a.diags, unsupported(name, "wtb", []string{"database", "plugin_dir"}, body[name].NameRange))
		}
	}
	c.Database = a.str("database", "")
	c.Database = sqliteRelativeTo(c.Dir, c.Database)
	if d := a.str("plugin_dir", ""); d != "" {
		c.PluginDir = resolvePath(c.Dir, d)
	}
	return a.diags
}

// sqliteRelativeTo makes a relative SQLite path in a bench file relative to
// the file's directory, like every other path in it.
func sqliteRelativeTo(dir, db string) string {
	path := db
	switch {
	case db == "":
		return db
	case strings.HasPrefix(db, "sqlite://"):
		path = strings.TrimPrefix(db, "sqlite://")
	case strings.HasPrefix(db, "sqlite:"):
		path = strings.TrimPrefix(db, "sqlite:")
	case strings.Contains(db, "://"):
		return db // postgres://...
	}
	if path == "" || filepath.IsAbs(path) {
		return db
	}
	return "sqlite://" + filepath.Join(dir, path)
}

func unsupported(name, block string, allowed []string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument",
		Detail:  fmt.Sprintf("An argument named %q is not expected in a %s block.%s", name, block, suggest.DidYouMean(name, allowed)),
		Subject: rng.Ptr()}
}

var pluginBlockSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "plugin"}, {Name: "plugin_sha256"}, {Name: "start_timeout"},
}}

// hostAttrs are the attributes of a plugin block the host reads itself.
var hostAttrs = []string{"plugin", "plugin_sha256", "start_timeout"}

func (c *Config) decodePluginBlock(b *hcl.Block, kind PluginKind, into map[string]*PluginBlock) hcl.Diagnostics {
	name := b.Labels[0]
	blockType := string(kind)
	if prev, ok := into[name]; ok {
		return hcl.Diagnostics{dupBlock(blockType, name, b.DefRange, prev.DefRange)}
	}
	content, rest, diags := b.Body.PartialContent(pluginBlockSchema)
	a := &attrs{m: content.Attributes, ctx: c.ctx, diags: diags}
	if !a.has("plugin") {
		// The rest of the block belongs to the plugin, whose schema is not
		// known without one: a misspelt "plugin" is said to be one here.
		var typo *hcl.Attribute
		if body, ok := rest.(*hclsyntax.Body); ok {
			for _, name := range spec.SortedKeys(body.Attributes) {
				if suggest.Closest(name, hostAttrs) == "plugin" {
					typo = body.Attributes[name].AsHCLAttribute()
					break
				}
			}
		}
		if typo != nil {
			a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument",
				Detail:  fmt.Sprintf("An argument named %q is not expected here. Did you mean \"plugin\"? %s %s block names its plugin with plugin = \"NAME\".", typo.Name, article(blockType), blockType),
				Subject: typo.NameRange.Ptr()})
		} else {
			example := `plugin = "pool"`
			if kind == KindEnvironment {
				example = `plugin = "local"`
			}
			a.diags = append(a.diags, missing("plugin", blockType, b.DefRange, example))
		}
	}
	pb := &PluginBlock{Kind: kind, Label: name, Body: rest, DefRange: b.DefRange, ctx: c.ctx,
		Plugin: a.str("plugin", ""), SHA256: a.str("plugin_sha256", ""), StartTimeout: a.duration("start_timeout", 0)}
	if r := a.rng("plugin"); r != nil {
		pb.PluginRange = *r
	} else {
		pb.PluginRange = b.DefRange
	}
	if pb.SHA256 != "" && !sha256Hex.MatchString(pb.SHA256) {
		a.errorf("plugin_sha256", "Invalid checksum", "plugin_sha256 must be the plugin binary's SHA-256 as 64 hexadecimal digits (sha256sum prints it); got %q.", pb.SHA256)
	}
	if pb.Plugin != "" && !validName(pb.Plugin) {
		a.errorf("plugin", "Invalid plugin name", "%q is not a plugin name; use the short name, e.g. \"pool\" for wtb-runner-pool.", pb.Plugin)
	}
	into[name] = pb
	return a.diags
}

// hclText is the source text of an expression, for quoting it.
func hclText(e hcl.Expression) string {
	var parts []string
	if tr, d := hcl.AbsTraversalForExpr(e); !d.HasErrors() {
		for _, step := range tr {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			}
		}
	}
	return strings.Join(parts, ".")
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// reference reads an attribute that names a block: `workflow.qa` or "qa".
func (c *Config) reference(a *attrs, attr, kind string, known []string) (string, bool) {
	at, ok := a.m[attr]
	if !ok {
		return "", false
	}
	name := ""
	if tr, d := hcl.AbsTraversalForExpr(at.Expr); !d.HasErrors() {
		switch root := tr.RootName(); {
		case root == kind:
			if step, ok := tr[len(tr)-1].(hcl.TraverseAttr); ok && len(tr) == 2 {
				name = step.Name
			} else {
				a.errorf(attr, "Invalid reference", "%s = %s.NAME names a %s block; this is not such a name.", attr, kind, kind)
				return "", false
			}
		case root == "runner" || root == "environment" || root == "workflow":
			a.errorf(attr, "Invalid reference", "%s must name %s %s block, as %s.NAME; %s is %s %s block.", attr, strings.ToLower(article(kind)), kind, kind,
				hclText(at.Expr), strings.ToLower(article(root)), root)
			return "", false
		}
	}
	if name == "" {
		name = a.str(attr, "")
		if name == "" {
			return "", false
		}
	}
	for _, k := range known {
		if k == name {
			return name, true
		}
	}
	if c.declared[kind+"\x00"+name] {
		return "", false // declared, but with mistakes of its own, reported where they are
	}
	sort.Strings(known)
	detail := fmt.Sprintf("No %s %q is declared in this file.", kind, name)
	if len(known) > 0 {
		detail += fmt.Sprintf(" Declared: %s.", strings.Join(known, ", "))
	}
	detail += suggest.DidYouMean(name, known)
	a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared " + kind,
		Detail: detail, Subject: at.Expr.Range().Ptr()})
	return "", false
}
