package readme

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/suggest"
)

// goIndex is the module's exported Go names, read from the source (no
// build): per package directory, its top-level names, and per type its
// methods and fields; per interface its methods.
type goIndex struct {
	byName map[string][]string // package name -> directories, module-relative
	pkgs   map[string]*goPkg   // directory -> package
}

type goPkg struct {
	name       string
	names      map[string]bool            // exported top-level identifiers
	members    map[string]map[string]bool // type -> methods and fields
	interfaces map[string][]string        // interface -> its methods (embedded ones of the package included)
	embeds     map[string][]string        // interface -> interfaces of the package it embeds
}

func indexGo(root string) (*goIndex, error) {
	idx := &goIndex{byName: map[string][]string{}, pkgs: map[string]*goPkg{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if p != root && (strings.HasPrefix(e.Name(), ".") || e.Name() == "testdata" || e.Name() == "bin" || e.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("reading the Go source: %w", err)
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		pkg := idx.pkgs[rel]
		if pkg == nil {
			pkg = &goPkg{name: f.Name.Name, names: map[string]bool{}, members: map[string]map[string]bool{},
				interfaces: map[string][]string{}, embeds: map[string][]string{}}
			idx.pkgs[rel] = pkg
			idx.byName[pkg.name] = append(idx.byName[pkg.name], rel)
		}
		pkg.add(f)
		return nil
	})
	return idx, err
}

func (p *goPkg) member(typ, name string) {
	if p.members[typ] == nil {
		p.members[typ] = map[string]bool{}
	}
	p.members[typ][name] = true
}

func (p *goPkg) add(f *ast.File) {
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				p.names[d.Name.Name] = true
				continue
			}
			if len(d.Recv.List) == 1 {
				p.member(recvType(d.Recv.List[0].Type), d.Name.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					p.names[s.Name.Name] = true
					switch t := s.Type.(type) {
					case *ast.StructType:
						for _, f := range t.Fields.List {
							for _, n := range f.Names {
								p.member(s.Name.Name, n.Name)
							}
							if len(f.Names) == 0 { // embedded: its name is the type's
								p.member(s.Name.Name, recvType(f.Type))
							}
						}
					case *ast.InterfaceType:
						p.interfaces[s.Name.Name] = []string{}
						for _, m := range t.Methods.List {
							for _, n := range m.Names {
								p.interfaces[s.Name.Name] = append(p.interfaces[s.Name.Name], n.Name)
								p.member(s.Name.Name, n.Name)
							}
							if id, ok := m.Type.(*ast.Ident); ok && len(m.Names) == 0 {
								p.embeds[s.Name.Name] = append(p.embeds[s.Name.Name], id.Name)
							}
						}
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						p.names[n.Name] = true
					}
				}
			}
		}
	}
}

// recvType is T of a receiver or embedded field: T, *T, T[X], pkg.T.
func recvType(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvType(t.X)
	case *ast.IndexExpr:
		return recvType(t.X)
	case *ast.IndexListExpr:
		return recvType(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.Ident:
		return t.Name
	}
	return ""
}

// methods is an interface's method set, with the interfaces of the same
// package it embeds.
func (p *goPkg) methods(iface string) []string {
	out := append([]string(nil), p.interfaces[iface]...)
	for _, e := range p.embeds[iface] {
		out = append(out, p.methods(e)...)
	}
	sort.Strings(out)
	return out
}

// lookup finds the packages a name in the README means: the SDK's first
// (sdk.X, serve.X and conformance.X are what the README is about), then any
// package of the module with that name.
func (idx *goIndex) lookup(name string) []*goPkg {
	var sdk, other []*goPkg
	for _, dir := range idx.byName[name] {
		if dir == "sdk" || strings.HasPrefix(dir, "sdk/") {
			sdk = append(sdk, idx.pkgs[dir])
		} else {
			other = append(other, idx.pkgs[dir])
		}
	}
	if len(sdk) > 0 {
		return sdk
	}
	return other
}

// identRE is a Go identifier in a code span: pkg.Name, pkg.Type.Member,
// either possibly called (node.Serve(fn)).
var identRE = regexp.MustCompile(`^([a-z][a-z0-9]*)\.([A-Z][A-Za-z0-9_]*)(?:\.([A-Z][A-Za-z0-9_]*))?(?:\(.*\))?$`)

func (idx *goIndex) checkIdent(line int, pkgName, name, member string, add func(int, string, ...any)) {
	pkgs := idx.lookup(pkgName)
	if len(pkgs) == 0 {
		add(line, "%s.%s: the module has no package %s.%s", pkgName, name, pkgName, suggest.DidYouMean(pkgName, mapKeys(idx.byName)))
		return
	}
	var options []string
	for _, p := range pkgs {
		if p.names[name] && (member == "" || p.members[name][member]) {
			return
		}
		if p.names[name] {
			options = append(options, mapKeys(p.members[name])...)
		}
	}
	if member != "" && len(options) > 0 {
		add(line, "%s.%s.%s: %s.%s has no method or field %s.%s", pkgName, name, member, pkgName, name, member, suggest.DidYouMean(member, options))
		return
	}
	for _, p := range pkgs {
		options = append(options, exported(p.names)...)
	}
	add(line, "%s.%s: package %s has no %s.%s", pkgName, name, pkgName, name, didYouMean(name, options, pkgName+"."))
}

func exported(m map[string]bool) []string {
	var out []string
	for k := range m {
		if k != "" && k[0] >= 'A' && k[0] <= 'Z' {
			out = append(out, k)
		}
	}
	return out
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// methodListRE is a sentence that lists an interface's methods:
// "`sdk.Runner` — five methods: `Info`, `NodeKinds`, …".
var methodListRE = regexp.MustCompile("`([a-z][a-z0-9]*)\\.([A-Z]\\w*)`[^`.;]{0,60}?\\b(one|two|three|four|five|six|seven|eight|nine|ten|\\d+)\\s+methods?:((?:\\s*(?:,|and)?\\s*`[A-Z]\\w*`)+)")

var numbers = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}

var nameRE = regexp.MustCompile("`([A-Z]\\w*)`")

// checkMethodLists holds every sentence that counts and lists an
// interface's methods to the interface.
func (idx *goIndex) checkMethodLists(p Para, add func(int, string, ...any)) {
	for _, m := range methodListRE.FindAllStringSubmatchIndex(p.Text, -1) {
		line := p.Line + strings.Count(p.Text[:m[0]], "\n")
		pkgName, iface, count := p.Text[m[2]:m[3]], p.Text[m[4]:m[5]], p.Text[m[6]:m[7]]
		var listed []string
		for _, n := range nameRE.FindAllStringSubmatch(p.Text[m[8]:m[9]], -1) {
			listed = append(listed, n[1])
		}
		var want []string
		found := false
		for _, pkg := range idx.lookup(pkgName) {
			if _, ok := pkg.interfaces[iface]; ok {
				want, found = pkg.methods(iface), true
			}
		}
		if !found {
			add(line, "%s.%s is not an interface of the module, yet the README lists its methods", pkgName, iface)
			continue
		}
		n, ok := numbers[count]
		if !ok {
			fmt.Sscan(count, &n)
		}
		if n != len(want) {
			add(line, "%s.%s has %d methods, not %s (%s)", pkgName, iface, len(want), count, strings.Join(want, ", "))
		}
		sorted := append([]string(nil), listed...)
		sort.Strings(sorted)
		if strings.Join(sorted, ",") != strings.Join(want, ",") {
			add(line, "%s.%s's methods are %s; the README lists %s", pkgName, iface, strings.Join(want, ", "), strings.Join(listed, ", "))
		}
	}
}
