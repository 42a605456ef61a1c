// Package readme holds the README to the code it describes, so the docs
// cannot drift from it unnoticed. Parse reads the markdown (inline code
// spans, fenced code blocks, links, headings); Checker.Check resolves what
// it names against what exists:
//
//   - every `wtb …` command and flag, in code spans and shell blocks, against
//     wtb's command tree (cli.Command), and the flags of other programs the
//     README runs (wtb-runner-temporal worker) against theirs;
//   - Go identifiers (sdk.Outcome, conformance.RunRunner, node.Serve) against
//     the module's source, and the methods a sentence lists for an interface
//     ("`sdk.Runner` — five methods: `Info`, …") against the interface;
//   - make targets against the Makefile, file paths and links against the
//     tree, #anchors against the headings, WTB_* environment variables
//     against the code;
//   - Go code blocks, by compiling them (go vet).
//
// The test of this package runs it on README.md; a second test shows each
// check failing on a README that names what does not exist.
package readme

import (
	"regexp"
	"strings"
)

// Doc is what Parse found in a markdown file. Line numbers start at 1.
type Doc struct {
	Spans    []Span  // inline code spans outside code blocks
	Blocks   []Block // fenced code blocks
	Links    []Link  // [text](target)
	Headings []string
	Paras    []Para // runs of text outside code blocks, for sentence checks
}

// Span is an inline code span; a span that wraps has its lines joined by a
// space.
type Span struct {
	Line int
	Text string
}

// Block is a fenced code block; Line is the line of its first content line.
type Block struct {
	Line  int
	Lang  string
	Lines []string
}

// Link is a markdown link's target.
type Link struct {
	Line   int
	Target string
}

// Para is a paragraph (or a heading, or a table) with its first line.
type Para struct {
	Line int
	Text string
}

var (
	spanRE = regexp.MustCompile("`([^`]+)`")
	linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// Parse reads markdown: fences (``` possibly indented, as in lists), inline
// code spans (also across line breaks inside a paragraph), links and ATX
// headings.
func Parse(src string) *Doc {
	d := &Doc{}
	lines := strings.Split(src, "\n")
	var para []string
	paraStart := 0
	flush := func() {
		if len(para) > 0 {
			d.addPara(paraStart, strings.Join(para, "\n"))
		}
		para = nil
	}
	var block *Block
	for i, line := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if block == nil {
				flush()
				block = &Block{Line: n + 1, Lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
			} else {
				d.Blocks = append(d.Blocks, *block)
				block = nil
			}
			continue
		}
		if block != nil {
			block.Lines = append(block.Lines, line)
			continue
		}
		switch {
		case trimmed == "":
			flush()
		case strings.HasPrefix(trimmed, "#"):
			flush()
			d.Headings = append(d.Headings, strings.TrimSpace(strings.TrimLeft(trimmed, "#")))
			d.addPara(n, trimmed)
		default:
			if len(para) == 0 {
				paraStart = n
			}
			para = append(para, line)
		}
	}
	flush()
	if block != nil { // an unclosed fence runs to the end, as markdown renders it
		d.Blocks = append(d.Blocks, *block)
	}
	return d
}

func (d *Doc) addPara(start int, text string) {
	d.Paras = append(d.Paras, Para{Line: start, Text: text})
	lineAt := func(offset int) int { return start + strings.Count(text[:offset], "\n") }
	for _, m := range spanRE.FindAllStringSubmatchIndex(text, -1) {
		d.Spans = append(d.Spans, Span{Line: lineAt(m[0]), Text: strings.Join(strings.Fields(text[m[2]:m[3]]), " ")})
	}
	// Links outside code spans: blank the spans out, keeping offsets.
	masked := spanRE.ReplaceAllStringFunc(text, func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' {
				return r
			}
			return ' '
		}, s)
	})
	for _, m := range linkRE.FindAllStringSubmatchIndex(masked, -1) {
		d.Links = append(d.Links, Link{Line: lineAt(m[0]), Target: masked[m[2]:m[3]]})
	}
}

// Slug is the anchor GitHub gives a heading: lower case, punctuation
// dropped, spaces as hyphens.
func Slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127 && isLetter(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isLetter(r rune) bool {
	return strings.ToLower(string(r)) != strings.ToUpper(string(r))
}
