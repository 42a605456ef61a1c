package readme

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/wtbench/wtb/host/internal/suggest"
)

// Problem is one thing the README names that does not exist.
type Problem struct {
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("README.md:%d: %s", p.Line, p.Msg) }

// Checker resolves what a README names.
type Checker struct {
	// Root is the module root: paths, the Makefile and the Go source are
	// read there, and Go blocks are compiled in it.
	Root string
	// Commands is wtb's command tree (cli.Command()).
	Commands *cobra.Command
	// OtherFlags are the flags of other programs the README runs, keyed by
	// the program's base name and its subcommand ("wtb-runner-temporal
	// worker"). A line running a program not listed is not checked.
	OtherFlags map[string][]string
	// Foreign are flags of other projects' programs that code spans name in
	// passing (`--node-ip-address` of ray start); a lone flag in a span must
	// be a flag of wtb, of a program in OtherFlags, or one of these.
	Foreign []string
	// Compile compiles the Go code blocks (go vet, in Root).
	Compile bool
	// Ignore are directories (relative to Root) whose files do not count as
	// defining an environment variable (this package's own tests name some
	// that exist nowhere).
	Ignore []string
}

// Check runs every check on d. An error is a failure to check (a file that
// cannot be read), not a problem in the README.
func (c *Checker) Check(d *Doc) ([]Problem, error) {
	var ps []Problem
	add := func(line int, format string, args ...any) {
		ps = append(ps, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	targets, err := makeTargets(filepath.Join(c.Root, "Makefile"))
	if err != nil {
		return nil, err
	}
	idx, err := indexGo(c.Root)
	if err != nil {
		return nil, err
	}
	env, err := c.corpus()
	if err != nil {
		return nil, err
	}
	allFlags := map[string]bool{}
	walk(c.Commands, func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) { allFlags[f.Name] = true })
		cmd.PersistentFlags().VisitAll(func(f *pflag.Flag) { allFlags[f.Name] = true })
	})
	for _, flags := range c.OtherFlags {
		for _, f := range flags {
			allFlags[f] = true
		}
	}
	for _, f := range c.Foreign {
		allFlags[f] = true
	}

	for _, s := range d.Spans {
		words := strings.Fields(s.Text)
		switch {
		case len(words) > 1 && (words[0] == "wtb" || words[0] == "bin/wtb"):
			c.checkCommand(s.Line, words[1:], add)
		case len(words) > 1 && c.sub(c.Commands, words[0]) != nil && hasFlag(words):
			// "`run --audit-nodes`": a command named without wtb.
			c.checkCommand(s.Line, words, add)
		case strings.HasPrefix(s.Text, "--"):
			name := flagName(words[0])
			if !allFlags[name] {
				add(s.Line, "no command has a flag --%s.%s", name, didYouMean(name, keys(allFlags), "--"))
			}
		case len(words) == 2 && words[0] == "make":
			checkTarget(s.Line, words[1], targets, add)
		}
		if m := identRE.FindStringSubmatch(s.Text); m != nil {
			idx.checkIdent(s.Line, m[1], m[2], m[3], add)
		}
		if p, ok := repoPath(s.Text); ok {
			c.checkPath(s.Line, p, add)
		}
	}
	for _, b := range d.Blocks {
		switch b.Lang {
		case "", "sh", "bash", "shell", "console":
			for i, line := range b.Lines {
				c.checkShellLine(b.Line+i, line, targets, add)
			}
		case "go":
			if c.Compile {
				if err := c.compile(b, add); err != nil {
					return nil, err
				}
			}
		}
	}
	slugs := map[string]bool{}
	for _, h := range d.Headings {
		slugs[Slug(h)] = true
	}
	for _, l := range d.Links {
		target := l.Target
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		if file == "" || file == "README.md" {
			if anchor != "" && !slugs[anchor] {
				add(l.Line, "link to #%s: no heading has that anchor.%s", anchor, didYouMean(anchor, keys(slugs), "#"))
			}
			continue
		}
		c.checkPath(l.Line, path.Clean(file), add)
	}
	for _, p := range d.Paras {
		idx.checkMethodLists(p, add)
		for _, v := range envRE.FindAllStringIndex(p.Text, -1) {
			name := p.Text[v[0]:v[1]]
			if !strings.Contains(env, name) {
				add(p.Line+strings.Count(p.Text[:v[0]], "\n"), "%s is named, but no code reads it", name)
			}
		}
	}
	for _, b := range d.Blocks {
		for i, line := range b.Lines {
			for _, name := range envRE.FindAllString(line, -1) {
				if !strings.Contains(env, name) {
					add(b.Line+i, "%s is named, but no code reads it", name)
				}
			}
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return dedupe(ps), nil
}

func dedupe(ps []Problem) []Problem {
	var out []Problem
	seen := map[Problem]bool{}
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func didYouMean(got string, options []string, prefix string) string {
	if best := suggest.Closest(got, options); best != "" {
		return fmt.Sprintf(" Did you mean %q?", prefix+best)
	}
	return ""
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// --- commands and flags ---

func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

func (c *Checker) sub(cmd *cobra.Command, name string) *cobra.Command {
	for _, s := range cmd.Commands() {
		if s.Name() == name || s.HasAlias(name) {
			return s
		}
	}
	return nil
}

func subNames(cmd *cobra.Command) []string {
	var out []string
	for _, s := range cmd.Commands() {
		if !s.Hidden {
			out = append(out, s.Name())
		}
	}
	return out
}

var wordRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// normalize undoes a table's escaped pipes and drops the brackets of
// optional parts: "[--list\|--failed]" is "--list|--failed".
func normalize(word string) string {
	return strings.Trim(strings.ReplaceAll(word, `\|`, "|"), "[]")
}

func hasFlag(words []string) bool {
	for _, w := range words {
		if strings.HasPrefix(normalize(w), "--") {
			return true
		}
	}
	return false
}

// flagName is the name in "--name=value", "--name…" or "--name,".
func flagName(word string) string {
	name := strings.TrimPrefix(normalize(word), "--")
	name, _, _ = strings.Cut(name, "=")
	return strings.TrimRightFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') })
}

// checkCommand checks "run FILE [--var k=v]": the words that name
// subcommands, then every --flag against the command they reach. Words in
// upper case, paths and "…" are arguments.
func (c *Checker) checkCommand(line int, words []string, add func(int, string, ...any)) {
	cmd, path := c.Commands, "wtb"
	targets := []*cobra.Command{cmd}
	i := 0
	for ; i < len(words); i++ {
		w := normalize(words[i])
		alts := strings.Split(w, "|")
		if !wordRE.MatchString(alts[0]) {
			break
		}
		var subs []*cobra.Command
		for _, a := range alts {
			if s := c.sub(cmd, a); s != nil {
				subs = append(subs, s)
			} else if len(cmd.Commands()) > 0 && !cmd.Runnable() {
				add(line, "%s has no command %q.%s", path, a, suggest.DidYouMean(a, subNames(cmd)))
				return
			}
		}
		if len(subs) != len(alts) {
			break // an argument of a command that also has subcommands
		}
		if len(subs) > 1 {
			targets = subs // "cache stats|clear": the flags that follow belong to each
			i++
			break
		}
		cmd, path = subs[0], path+" "+subs[0].Name()
		targets = []*cobra.Command{cmd}
	}
	for _, w := range words[i:] {
		for _, piece := range strings.Split(normalize(w), "|") {
			if !strings.HasPrefix(piece, "--") {
				continue
			}
			name := flagName(piece)
			for _, t := range targets {
				if t.Flag(name) == nil {
					add(line, "%s has no flag --%s.%s", t.CommandPath(), name, didYouMean(name, flagNames(t), "--"))
				}
			}
		}
	}
}

func flagNames(cmd *cobra.Command) []string {
	var out []string
	add := func(f *pflag.Flag) { out = append(out, f.Name) }
	cmd.Flags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	return out
}

// checkShellLine checks a line of a shell block: wtb commands, make
// targets, and other programs' flags.
func (c *Checker) checkShellLine(line int, text string, targets map[string]bool, add func(int, string, ...any)) {
	if i := strings.Index(text, " #"); i >= 0 {
		text = text[:i]
	}
	words := strings.Fields(text)
	if len(words) < 2 {
		return
	}
	switch {
	case words[0] == "wtb" || words[0] == "bin/wtb":
		c.checkCommand(line, words[1:], add)
	case words[0] == "make":
		for _, t := range words[1:] {
			if wordRE.MatchString(t) {
				checkTarget(line, t, targets, add)
			}
		}
	default:
		key := path.Base(words[0]) + " " + words[1]
		flags, ok := c.OtherFlags[key]
		if !ok {
			return
		}
		known := map[string]bool{}
		for _, f := range flags {
			known[f] = true
		}
		for _, w := range words[2:] {
			if strings.HasPrefix(w, "-") {
				name := flagName("--" + strings.TrimLeft(w, "-"))
				if !known[name] {
					add(line, "%s has no flag --%s.%s", key, name, didYouMean(name, flags, "--"))
				}
			}
		}
	}
}

// --- make targets ---

var targetRE = regexp.MustCompile(`(?m)^([a-zA-Z0-9][a-zA-Z0-9_-]*):`)

func makeTargets(makefile string) (map[string]bool, error) {
	src, err := os.ReadFile(makefile)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range targetRE.FindAllStringSubmatch(string(src), -1) {
		out[m[1]] = true
	}
	return out, nil
}

func checkTarget(line int, t string, targets map[string]bool, add func(int, string, ...any)) {
	if !targets[t] {
		add(line, "make %s: the Makefile has no such target.%s", t, suggest.DidYouMean(t, keys(targets)))
	}
}

// --- paths ---

// topLevel are the repository's top-level directories: a code span that
// starts with one names a path in the tree.
var topLevel = map[string]bool{"host": true, "sdk": true, "plugins": true, "proto": true, "examples": true,
	"migrations": true, "scripts": true, ".ci": true}

const module = "github.com/wtbench/wtb/"

// repoPath is the path a code span names, if it names one: "sdk/childproc",
// "host/internal/...", "github.com/wtbench/wtb/sdk/node".
func repoPath(span string) (string, bool) {
	p := strings.TrimPrefix(span, module)
	if strings.ContainsAny(p, " *?{}$=") {
		return "", false
	}
	p = strings.TrimSuffix(strings.TrimSuffix(p, "/..."), "/…")
	first, _, _ := strings.Cut(p, "/")
	if !topLevel[first] || !strings.Contains(span, "/") {
		return "", false
	}
	return path.Clean(p), true
}

func (c *Checker) checkPath(line int, p string, add func(int, string, ...any)) {
	if _, err := os.Stat(filepath.Join(c.Root, filepath.FromSlash(p))); err != nil {
		add(line, "%s does not exist.%s", p, suggest.File(c.Root, p))
	}
}

// --- environment variables ---

var envRE = regexp.MustCompile(`\bWTB_[A-Z0-9_]*[A-Z0-9]`)

// corpus is every source and script file but the README (and the ignored
// directories), concatenated: an environment variable the README names must
// appear in it.
func (c *Checker) corpus() (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(c.Root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.Root, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			if rel != "." && (strings.HasPrefix(e.Name(), ".") && e.Name() != ".ci" || e.Name() == "bin" || e.Name() == "testdata" || e.Name() == "node_modules") {
				return filepath.SkipDir
			}
			for _, ig := range c.Ignore {
				if rel == ig {
					return filepath.SkipDir
				}
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".sh", ".py", ".hcl", ".yaml", ".yml", ".toml":
		default:
			if e.Name() != "Makefile" && rel != ".ci/run" {
				return nil
			}
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.Write(src)
		b.WriteByte('\n')
		return nil
	})
	return b.String(), err
}

// --- Go code blocks ---

var vetPosRE = regexp.MustCompile(`readme_block_\d+\.go:(\d+):(?:\d+:)? (.*)`)

// compile type-checks a Go block with go vet, as a file of its own in the
// module (an overlay: nothing is written to the tree), and reports its
// errors at the README's lines.
func (c *Checker) compile(b Block, add func(int, string, ...any)) error {
	src := strings.Join(b.Lines, "\n") + "\n"
	if !regexp.MustCompile(`(?m)^package \w+`).MatchString(src) {
		add(b.Line, "a Go block must be a whole file (package clause, imports): it is compiled")
		return nil
	}
	dir, err := os.MkdirTemp("", "wtb-readme-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	name := fmt.Sprintf("readme_block_%d.go", b.Line)
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		return err
	}
	virtual := filepath.Join(c.Root, "host", "internal", "readme", name)
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {virtual: file}})
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "vet", "-overlay="+ov, "./"+filepath.ToSlash(filepath.Join("host", "internal", "readme", name)))
	cmd.Dir = c.Root
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	if _, ok := err.(*exec.ExitError); !ok {
		return fmt.Errorf("go vet: %w", err)
	}
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if m := vetPosRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			add(b.Line+n-1, "the Go block does not compile: %s", m[2])
			found = true
		}
	}
	if !found {
		add(b.Line, "the Go block does not compile: %s", strings.TrimSpace(string(out)))
	}
	return nil
}
