package config

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/text/encoding/charmap"
)

// utf8BOM starts files that Windows editors save as "UTF-8 with BOM". It
// is UTF-8 all the same: it is dropped, not refused.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// textOf checks that a file WTB reads as text is UTF-8 and returns its text
// without a UTF-8 byte order mark. Anything else gets one diagnostic that
// says what the file is — UTF-16 or UTF-32 (PowerShell's > and Out-File
// write UTF-16), Latin-1, binary — and how to save it as UTF-8, instead of a
// flood of syntax errors quoting control bytes. what names the kind of file
// ("bench file", "cases file"), shown the path as the user wrote it. The text comes back with the diagnostic too,
// for quoting the line a diagnostic points at.
func textOf(src []byte, path, shown, what string) ([]byte, *hcl.Diagnostic) {
	src = bytes.TrimPrefix(src, utf8BOM)
	start := hcl.Pos{Line: 1, Column: 1}
	at := &hcl.Range{Filename: path, Start: start, End: start}
	if enc, bom := wideEncoding(src); enc != "" {
		from := enc
		if !bom {
			from = enc + wideOrder(src)
		}
		return src, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "File is " + enc + ", not UTF-8",
			Detail: fmt.Sprintf("%s is encoded as %s%s%s; a %s must be UTF-8. Save it as UTF-8 in your editor, or convert it: "+
				"iconv -f %s -t UTF-8 %s > converted && mv converted %s (in PowerShell, write files with -Encoding utf8).",
				shown, enc, describeOrder(src), bomNote(bom), what, from, shellArg(shown), shellArg(shown)),
			Subject: at}
	}
	bad := bytes.IndexByte(src, 0)
	if bad >= 0 {
		pos := posAt(src, bad)
		return src, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Not a text file",
			Detail: fmt.Sprintf("%s contains a NUL byte at line %d, column %d; a %s is UTF-8 text. Is this the right file?",
				shown, pos.Line, pos.Column, what),
			Subject: &hcl.Range{Filename: path, Start: pos, End: pos}}
	}
	if utf8.Valid(src) {
		return src, nil
	}
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			continue
		}
		pos := posAt(src, i)
		end := pos
		end.Column++
		end.Byte++
		// An invalid byte in text is most often Latin-1 or Windows-1252 (an
		// "é" saved by an older editor): name the character it would be.
		ch := charmap.Windows1252.DecodeByte(src[i])
		return src, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "File is not UTF-8",
			Detail: fmt.Sprintf("%s has byte 0x%02X at line %d, column %d, which is not UTF-8 (in Latin-1 or Windows-1252 it is \"%c\"); a %s must be UTF-8. "+
				"Save it as UTF-8 in your editor, or convert it: iconv -f WINDOWS-1252 -t UTF-8 %s > converted && mv converted %s.",
				shown, src[i], pos.Line, pos.Column, ch, what, shellArg(shown), shellArg(shown)),
			Subject: &hcl.Range{Filename: path, Start: pos, End: end}}
	}
	return src, nil
}

// wideEncoding recognises UTF-16 and UTF-32 text, with a byte order mark or
// without one (then by the zero bytes that ASCII characters leave in every
// other, or three of every four, bytes).
func wideEncoding(src []byte) (enc string, bom bool) {
	switch {
	case bytes.HasPrefix(src, []byte{0xFF, 0xFE, 0, 0}), bytes.HasPrefix(src, []byte{0, 0, 0xFE, 0xFF}):
		return "UTF-32", true
	case bytes.HasPrefix(src, []byte{0xFF, 0xFE}), bytes.HasPrefix(src, []byte{0xFE, 0xFF}):
		return "UTF-16", true
	}
	sample := src[:min(len(src), 4096)]
	if len(sample) < 4 {
		return "", false
	}
	zeros := func(step, phase int) (hit, total int) {
		for i := phase; i < len(sample); i += step {
			total++
			if sample[i] == 0 {
				hit++
			}
		}
		return hit, total
	}
	mostly := func(hit, total int) bool { return total > 0 && hit*10 >= total*9 }
	rarely := func(hit, total int) bool { return hit*10 <= total }
	switch {
	case mostly(zeros(4, 1)) && mostly(zeros(4, 2)) && mostly(zeros(4, 3)) && rarely(zeros(4, 0)),
		mostly(zeros(4, 0)) && mostly(zeros(4, 1)) && mostly(zeros(4, 2)) && rarely(zeros(4, 3)):
		return "UTF-32", false
	case mostly(zeros(2, 1)) && rarely(zeros(2, 0)), mostly(zeros(2, 0)) && rarely(zeros(2, 1)):
		return "UTF-16", false
	}
	return "", false
}

// wideOrder is "LE" or "BE": which end of each unit the zero bytes of ASCII
// text are at (the mark says it when there is one).
func wideOrder(src []byte) string {
	switch {
	case bytes.HasPrefix(src, []byte{0xFF, 0xFE}):
		return "LE"
	case bytes.HasPrefix(src, []byte{0xFE, 0xFF}), bytes.HasPrefix(src, []byte{0, 0, 0xFE, 0xFF}):
		return "BE"
	}
	if len(src) > 0 && src[0] == 0 {
		return "BE"
	}
	return "LE"
}

func describeOrder(src []byte) string {
	if wideOrder(src) == "BE" {
		return " (big-endian"
	}
	return " (little-endian"
}

func bomNote(bom bool) string {
	if bom {
		return ", with a byte order mark)"
	}
	return ", without a byte order mark)"
}

// posAt is the line and column (in characters) of byte offset off.
func posAt(src []byte, off int) hcl.Pos {
	line := 1 + bytes.Count(src[:off], []byte("\n"))
	lineStart := bytes.LastIndexByte(src[:off], '\n') + 1
	return hcl.Pos{Line: line, Column: 1 + utf8.RuneCount(src[lineStart:off]), Byte: off}
}

// shellArg quotes a path for a command line a user copies.
func shellArg(s string) string {
	for _, r := range s {
		if !(r == '/' || r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
