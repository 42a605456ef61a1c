// Command coverreport merges coverage profiles (the text format of go test
// -coverprofile and of `go tool covdata textfmt`) and prints one figure per
// package, plus totals for host/, sdk/ and plugins/. `make cover` runs it
// with the unit tests' profile and the profile of the binaries the tests ran.
//
//	go run ./scripts/coverreport -o merged.out unit.out binaries.out
//
// A statement counts as covered when any profile ran it. The first profile
// is "in process" and the others are "through the binaries" in the table, so
// it shows what the end-to-end tests add. Test infrastructure (the packages
// that build the binaries, shared test suites, test plugins) is left out of
// the figures: it is the measuring stick, not what is measured.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
)

const module = "github.com/wtbench/wtb/"

// roots are the trees the totals are given for, in the order printed.
var roots = []string{"host/", "sdk/", "plugins/"}

// infrastructure are the packages that exist for the tests; their figures
// would measure the tests, not the code.
var infrastructure = []string{
	"host/internal/testbin",
	"host/internal/testplugins",
	"host/internal/store/storetest",
	"host/internal/store/postgres/pgtest",
	"plugins/internal/plugintest",
}

func main() {
	out := flag.String("o", "", "write the merged profile here (for go tool cover -html)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: coverreport [-o merged.out] IN_PROCESS.out [BINARIES.out...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var profiles []profile
	for _, name := range flag.Args() {
		p, err := readProfileFile(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "coverreport:", err)
			os.Exit(1)
		}
		profiles = append(profiles, p)
	}
	merged := merge(profiles...)
	if *out != "" {
		if err := writeProfileFile(*out, merged); err != nil {
			fmt.Fprintln(os.Stderr, "coverreport:", err)
			os.Exit(1)
		}
	}
	printReport(os.Stdout, summarize(profiles[0], merge(profiles[1:]...), merged))
}

// block is one basic block of a profile: its statements and whether it ran.
type block struct {
	stmts int
	count int64
}

// profile maps "file:line.col,line.col" to its block.
type profile map[string]block

func readProfileFile(name string) (profile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := readProfile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// readProfile reads the text format: a "mode:" line, then lines of
// "file:startLine.startCol,endLine.endCol numStatements count". A block that
// appears more than once (go test writes a package once per test binary that
// instruments it) keeps its largest count.
func readProfile(r io.Reader) (profile, error) {
	p := profile{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "mode:") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 || !strings.Contains(fields[0], ":") {
			return nil, fmt.Errorf("line %d: %q is not a coverage profile line (file:start,end statements count)", line, text)
		}
		stmts, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %d: %q: statements and count must be integers", line, text)
		}
		b := p[fields[0]]
		b.stmts = stmts
		b.count = max(b.count, count)
		p[fields[0]] = b
	}
	return p, sc.Err()
}

// merge is the union of profiles, counts added.
func merge(ps ...profile) profile {
	out := profile{}
	for _, p := range ps {
		for k, b := range p {
			m := out[k]
			m.stmts = b.stmts
			m.count += b.count
			out[k] = m
		}
	}
	return out
}

func writeProfileFile(name string, p profile) error {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("mode: atomic\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d %d\n", k, p[k].stmts, p[k].count)
	}
	return os.WriteFile(name, []byte(b.String()), 0o644)
}

// figure is statements and those covered, in process, through the binaries
// and in either.
type figure struct {
	stmts, inProcess, binaries, merged int
}

func (f *figure) add(g figure) {
	f.stmts += g.stmts
	f.inProcess += g.inProcess
	f.binaries += g.binaries
	f.merged += g.merged
}

type report struct {
	packages []string
	figures  map[string]figure // by package, module-relative
	totals   map[string]figure // by root
	left     []string          // infrastructure packages left out
}

// pkgOf is the module-relative package of a profile key.
func pkgOf(key string) string {
	file := key[:strings.LastIndex(key, ":")]
	return path.Dir(strings.TrimPrefix(file, module))
}

func counted(pkg string) bool {
	for _, p := range infrastructure {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return false
		}
	}
	return true
}

func summarize(inProcess, binaries, merged profile) report {
	r := report{figures: map[string]figure{}, totals: map[string]figure{}}
	leftOut := map[string]bool{}
	for k, b := range merged {
		pkg := pkgOf(k)
		if !counted(pkg) {
			leftOut[pkg] = true
			continue
		}
		f := r.figures[pkg]
		f.stmts += b.stmts
		if b.count > 0 {
			f.merged += b.stmts
		}
		if inProcess[k].count > 0 {
			f.inProcess += b.stmts
		}
		if binaries[k].count > 0 {
			f.binaries += b.stmts
		}
		r.figures[pkg] = f
	}
	for pkg, f := range r.figures {
		r.packages = append(r.packages, pkg)
		for _, root := range roots {
			if strings.HasPrefix(pkg+"/", root) {
				t := r.totals[root]
				t.add(f)
				r.totals[root] = t
			}
		}
	}
	sort.Strings(r.packages)
	for pkg := range leftOut {
		r.left = append(r.left, pkg)
	}
	sort.Strings(r.left)
	return r
}

func pct(n, of int) string {
	if of == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

func printReport(w io.Writer, r report) {
	tw := bufio.NewWriter(w)
	defer tw.Flush()
	row := func(name string, f figure) {
		fmt.Fprintf(tw, "%-46s %10d %11s %9s %9s\n", name, f.stmts, pct(f.inProcess, f.stmts), pct(f.binaries, f.stmts), pct(f.merged, f.stmts))
	}
	fmt.Fprintf(tw, "%-46s %10s %11s %9s %9s\n", "PACKAGE", "STATEMENTS", "IN PROCESS", "BINARIES", "COVERED")
	for _, pkg := range r.packages {
		row(pkg, r.figures[pkg])
	}
	fmt.Fprintln(tw)
	var all figure
	for _, root := range roots {
		t := r.totals[root]
		row(root+" (total)", t)
		all.add(t)
	}
	row("host/ + sdk/ + plugins/", all)
	if len(r.left) > 0 {
		fmt.Fprintf(tw, "\nnot counted (test infrastructure): %s\n", strings.Join(r.left, ", "))
	}
}
