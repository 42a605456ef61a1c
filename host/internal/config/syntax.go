package config

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// syntaxError turns the parser's errors into the one mistake behind them.
//
// HCL's scanner does not recover from a string left open: every later line
// becomes "Invalid multi-line string", and the parser's own recovery after a
// bad token adds "Invalid expression" beside "Invalid character". What
// follows the first syntax error cannot be read reliably, so the first one,
// in source order, is the one reported; an unclosed string or heredoc gets a
// message that says so and where it starts.
func syntaxError(diags hcl.Diagnostics, src []byte) hcl.Diagnostics {
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	if len(errs) == 0 {
		return diags
	}
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Subject, errs[j].Subject
		switch {
		case a == nil || b == nil:
			return a != nil
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
	first := *errs[0]
	switch first.Summary {
	case "Invalid multi-line string", "Unterminated template string", "Invalid string literal":
		if d := unclosedString(&first, src); d != nil {
			return hcl.Diagnostics{d}
		}
		if d := unclosedHeredoc(&first, src); d != nil {
			return hcl.Diagnostics{d}
		}
	}
	return hcl.Diagnostics{&first}
}

// unclosedString rewords an error on a line where a quoted string is left
// open. The subject stays where HCL puts it, the end of the line: that is
// where the closing quote goes.
func unclosedString(d *hcl.Diagnostic, src []byte) *hcl.Diagnostic {
	if d.Subject == nil {
		return nil
	}
	line, start := lineOf(src, d.Subject.Start.Byte)
	col, ok := openQuote(line)
	if !ok {
		return nil
	}
	text := []rune(string(line[col:]))
	if len(text) > 24 {
		text = append(text[:20], '…')
	}
	column := 1 + utf8.RuneCount(src[start:start+col])
	out := *d
	out.Summary = "Unterminated string"
	out.Detail = fmt.Sprintf("The string that starts at line %d, column %d (%s) has no closing quote (\") before the end of its line. "+
		"Close it there; a quoted string cannot span lines (for text of several lines use a heredoc: <<EOT … EOT).",
		d.Subject.Start.Line, column, string(text))
	return &out
}

// openQuote scans one line of HCL and returns the byte offset of the quote
// that opens a string still open at the end of the line, following
// templates (a quoted string inside "${…}" is a string of its own).
func openQuote(line []byte) (int, bool) {
	type frame struct {
		str bool // a quoted string, else an interpolation or a brace in one
		at  int
	}
	var stack []frame
	inString := func() bool { return len(stack) > 0 && stack[len(stack)-1].str }
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inString():
			switch {
			case c == '\\':
				i++
			case c == '"':
				stack = stack[:len(stack)-1]
			case (c == '$' || c == '%') && i+1 < len(line) && line[i+1] == '{':
				stack = append(stack, frame{at: i})
				i++
			}
		case c == '"':
			stack = append(stack, frame{str: true, at: i})
		case len(stack) == 0 && (c == '#' || c == '/' && i+1 < len(line) && line[i+1] == '/'):
			return 0, false // a comment: nothing after it is code
		case len(stack) > 0 && c == '{':
			stack = append(stack, frame{at: i})
		case len(stack) > 0 && c == '}':
			stack = stack[:len(stack)-1]
		}
	}
	for _, f := range stack {
		if f.str {
			return f.at, true
		}
	}
	return 0, false
}

var heredocRE = regexp.MustCompile(`<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?$`)

// unclosedHeredoc points an "Unterminated template string" at the end of the
// file back at the heredoc that was never closed.
func unclosedHeredoc(d *hcl.Diagnostic, src []byte) *hcl.Diagnostic {
	if d.Subject == nil || d.Summary != "Unterminated template string" {
		return nil
	}
	end := min(d.Subject.Start.Byte, len(src))
	lines := bytes.Split(src[:end], []byte("\n"))
	offset := 0
	var open *hcl.Range
	var marker string
	for i, l := range lines {
		if m := heredocRE.FindSubmatchIndex(l); m != nil && open == nil {
			col := 1 + utf8.RuneCount(l[:m[0]])
			open = &hcl.Range{Filename: d.Subject.Filename,
				Start: hcl.Pos{Line: i + 1, Column: col, Byte: offset + m[0]},
				End:   hcl.Pos{Line: i + 1, Column: col + utf8.RuneCount(l[m[0]:m[3]]), Byte: offset + m[3]}}
			marker = string(l[m[2]:m[3]])
		} else if open != nil && string(bytes.TrimSpace(l)) == marker {
			open = nil // closed
		}
		offset += len(l) + 1
	}
	if open == nil {
		return nil
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unterminated heredoc",
		Detail:  fmt.Sprintf("No line holding only %s closes the heredoc that starts here, so the rest of the file is part of its text. Add a line with %s after the text.", marker, marker),
		Subject: open}
}

// lineOf returns the line holding byte offset off, and where it starts.
func lineOf(src []byte, off int) ([]byte, int) {
	off = max(0, min(off, len(src)))
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	end := bytes.IndexByte(src[start:], '\n')
	if end < 0 {
		end = len(src) - start
	}
	line := src[start : start+end]
	return bytes.TrimSuffix(line, []byte("\r")), start
}
