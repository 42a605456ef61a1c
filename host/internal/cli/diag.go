package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// writeDiagnostics prints each diagnostic as
//
//	bench.hcl:12:5: error: Unsupported argument
//	   12 |     comand = ["true"]
//	      |     ^^^^^^
//	   An argument named "comand" is not expected here. Did you mean "command"?
//
// The file:line:col prefix is what editors and CI log parsers jump to.
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) {
	red, yellow, bold, reset := "", "", "", ""
	if color {
		red, yellow, bold, reset = "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m"
	}
	for _, d := range diags {
		sev, c := "error", red
		if d.Severity == hcl.DiagWarning {
			sev, c = "warning", yellow
		}
		where := ""
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(w, "%s%s%s%s:%s %s%s%s\n", bold, where, c, sev, reset, bold, d.Summary, reset)
		if d.Subject != nil {
			if f, ok := files[d.Subject.Filename]; ok && f != nil {
				writeSnippet(w, f.Bytes, *d.Subject)
			}
		}
		if d.Detail != "" {
			for _, line := range wrap(d.Detail, 96) {
				fmt.Fprintf(w, "   %s\n", line)
			}
		}
		fmt.Fprintln(w)
	}
}

func writeSnippet(w io.Writer, src []byte, r hcl.Range) {
	lines := strings.Split(string(src), "\n")
	if r.Start.Line < 1 || r.Start.Line > len(lines) {
		return
	}
	text := strings.TrimRight(lines[r.Start.Line-1], "\r")
	num := fmt.Sprint(r.Start.Line)
	pad := strings.Repeat(" ", len(num))
	fmt.Fprintf(w, "   %s | %s\n", num, text)
	start := r.Start.Column - 1
	end := r.End.Column - 1
	if r.End.Line != r.Start.Line || end > len(text) {
		end = len(text)
	}
	if start < 0 || start > len(text) {
		return
	}
	if end <= start {
		end = start + 1
	}
	// Keep tabs so the caret lines up under the source.
	prefix := []rune(text[:start])
	for i, ch := range prefix {
		if ch != '\t' {
			prefix[i] = ' '
		}
	}
	fmt.Fprintf(w, "   %s | %s%s\n", pad, string(prefix), strings.Repeat("^", len([]rune(text[start:end]))))
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
