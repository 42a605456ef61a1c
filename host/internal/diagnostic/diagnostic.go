// Package diagnostic renders HCL diagnostics for people and CI logs:
//
//	bench.hcl:12:5: error: Unsupported argument
//	   12 |     comand = ["true"]
//	      |     ^^^^^^
//	   An argument named "comand" is not expected here. Did you mean "command"?
//
// The file:line:col prefix is what editors and CI log parsers jump to. Input is
// never trusted: a range past the end of its line or file, a file that is not
// UTF-8, control bytes and very long lines all render as one bounded, escaped
// snippet, and a flood of diagnostics is cut to a readable number.
package diagnostic

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// DefaultMax is how many diagnostics Write shows unless told otherwise.
const DefaultMax = 20

// maxSnippet bounds the characters of source shown around a caret.
const maxSnippet = 160

// Options control rendering.
type Options struct {
	Color bool
	// Max is the number of diagnostics shown; the rest are counted in one line.
	// 0 means DefaultMax, a negative number means no limit.
	Max int
}

// Write prints diags. Errors come before warnings so a cut list keeps what
// matters.
func Write(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, opts Options) {
	red, yellow, bold, reset := "", "", "", ""
	if opts.Color {
		red, yellow, bold, reset = "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m"
	}
	limit := opts.Max
	if limit == 0 {
		limit = DefaultMax
	}
	ordered := make(hcl.Diagnostics, 0, len(diags))
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			ordered = append(ordered, d)
		}
	}
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			ordered = append(ordered, d)
		}
	}
	for i, d := range ordered {
		if limit > 0 && i == limit {
			writeSuppressed(w, ordered[i:])
			return
		}
		sev, c := "error", red
		if d.Severity == hcl.DiagWarning {
			sev, c = "warning", yellow
		}
		where := ""
		if d.Subject != nil && d.Subject.Filename != "" {
			where = fmt.Sprintf("%s:%d:%d: ", Escape(d.Subject.Filename), max(d.Subject.Start.Line, 1), max(d.Subject.Start.Column, 1))
		}
		fmt.Fprintf(w, "%s%s%s%s:%s %s%s%s\n", bold, where, c, sev, reset, bold, Escape(d.Summary), reset)
		if d.Subject != nil {
			if f, ok := files[d.Subject.Filename]; ok && f != nil {
				writeSnippet(w, f.Bytes, *d.Subject)
			}
		}
		if d.Detail != "" {
			for _, line := range wrap(Escape(d.Detail), 96) {
				fmt.Fprintf(w, "   %s\n", line)
			}
		}
		fmt.Fprintln(w)
	}
}

func writeSuppressed(w io.Writer, rest hcl.Diagnostics) {
	errs := 0
	for _, d := range rest {
		if d.Severity == hcl.DiagError {
			errs++
		}
	}
	warns := len(rest) - errs
	var parts []string
	if errs > 0 {
		parts = append(parts, plural(errs, "error", "errors"))
	}
	if warns > 0 {
		parts = append(parts, plural(warns, "warning", "warnings"))
	}
	fmt.Fprintf(w, "… and %s more (not shown; fix the ones above first)\n\n", strings.Join(parts, " and "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// writeSnippet prints the source line of r with a caret under the range. HCL
// columns count characters, so the caret is placed by characters; the byte
// offsets in r are used when they agree with the line, because they are exact.
func writeSnippet(w io.Writer, src []byte, r hcl.Range) {
	line, lineStart, ok := lineAt(src, r.Start.Line)
	if !ok {
		return
	}
	// Caret start and end as character offsets into the line.
	var start, end int
	if r.Start.Byte >= lineStart && r.Start.Byte <= lineStart+len(line) {
		start = utf8.RuneCount(line[:r.Start.Byte-lineStart])
		switch {
		case r.End.Line != r.Start.Line || r.End.Byte > lineStart+len(line):
			end = utf8.RuneCount(line)
		case r.End.Byte >= r.Start.Byte:
			end = utf8.RuneCount(line[:r.End.Byte-lineStart])
		default:
			end = start
		}
	} else {
		start = r.Start.Column - 1
		end = r.End.Column - 1
		if r.End.Line != r.Start.Line {
			end = utf8.RuneCount(line)
		}
	}
	runes := []rune(string(line))
	start = clamp(start, 0, len(runes))
	end = clamp(end, start, len(runes))

	// Long lines: show a window around the caret.
	from, to := 0, len(runes)
	if to-from > maxSnippet {
		from = clamp(start-maxSnippet/4, 0, len(runes))
		to = min(len(runes), from+maxSnippet)
	}
	var text, caret strings.Builder
	if from > 0 {
		text.WriteString("…")
		caret.WriteString(" ")
	}
	marks := 0
	for i := from; i < to; i++ {
		shown := escapeRune(runes[i])
		text.WriteString(shown)
		width := utf8.RuneCountInString(shown)
		switch {
		case i >= start && i < end:
			marks += width
		case i < start && runes[i] == '\t':
			caret.WriteString("\t") // keep tabs so the caret lines up under the source
		case i < start:
			caret.WriteString(strings.Repeat(" ", width))
		}
	}
	if to < len(runes) {
		text.WriteString("…")
	}
	// An empty range (the end of a line or of the file) gets one caret where it is.
	caret.WriteString(strings.Repeat("^", max(marks, 1)))
	num := fmt.Sprint(r.Start.Line)
	fmt.Fprintf(w, "   %s | %s\n", num, text.String())
	fmt.Fprintf(w, "   %s | %s\n", strings.Repeat(" ", len(num)), caret.String())
}

// lineAt returns line n (1-based) without its line ending, and its byte offset.
func lineAt(src []byte, n int) ([]byte, int, bool) {
	if n < 1 {
		return nil, 0, false
	}
	start := 0
	for i := 1; i < n; i++ {
		nl := indexByte(src[start:], '\n')
		if nl < 0 {
			return nil, 0, false
		}
		start += nl + 1
	}
	end := len(src)
	if nl := indexByte(src[start:], '\n'); nl >= 0 {
		end = start + nl
	}
	line := src[start:end]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, start, true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Escape makes text safe for a terminal: control characters and invalid UTF-8
// are shown as escapes instead of being sent to the terminal.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if r != '\n' && needsEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteRune(r)
		default:
			b.WriteString(escapeRune(r))
		}
		i += size
	}
	return b.String()
}

// needsEscape says a rune may not reach a terminal as it is: C0 and C1
// controls (tab aside), DEL, and anything else unprintable.
func needsEscape(r rune) bool {
	switch {
	case r == '\t' || r == ' ':
		return false
	case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == utf8.RuneError:
		return true
	}
	return !unicode.IsPrint(r)
}

func escapeRune(r rune) string {
	switch {
	case !needsEscape(r):
		return string(r)
	case r == utf8.RuneError:
		return `\ufffd`
	case r < 0x100:
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

func wrap(s string, width int) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			if line != "" && len(line)+1+len(word) > width {
				out = append(out, line)
				line = word
				continue
			}
			if line != "" {
				line += " "
			}
			line += word
		}
		out = append(out, line)
	}
	return out
}
