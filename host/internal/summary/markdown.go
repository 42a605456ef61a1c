package summary

import (
	"fmt"
	"strings"

	"github.com/wtbench/wtb/host/internal/numfmt"
)

func arrow(a, b string) string { return a + " → " + b }

func score(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Score(*x)
}

func percent(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Percent(*x)
}

func duration(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.Duration(*x)
}

func signedDuration(x *float64) string {
	if x == nil {
		return numfmt.Dash
	}
	return numfmt.SignedDuration(*x)
}

// alert is a GitHub alert block (a plain quote where alerts are not known).
func alert(b *strings.Builder, kind, msg string) {
	fmt.Fprintf(b, "> [!%s]\n> %s\n\n", kind, msg)
}

// row writes a table row.
func row(b *strings.Builder, cells ...string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
}

// text makes s safe in a table cell or a line of markdown: one line, its
// markdown and HTML characters escaped, a pipe escaped so it does not end
// the cell.
func text(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	var out strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '#', '~', '!', '&':
			out.WriteByte('\\')
		}
		out.WriteRune(r)
	}
	return out.String()
}

// code writes s as a code span: fenced by more backticks than it holds in a
// row, one line, a pipe escaped (GitHub's tables end a cell at a pipe even
// inside a code span unless it is escaped).
func code(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	run, longest := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + strings.ReplaceAll(s, "|", `\|`) + pad + fence
}

// cut shortens a long message for a table cell.
func cut(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > MaxCell {
		return string(r[:MaxCell-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return numfmt.Dash
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
