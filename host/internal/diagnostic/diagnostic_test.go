package diagnostic

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"pgregory.net/rapid"
)

func render(t *testing.T, src string, rng hcl.Range, opts Options) string {
	t.Helper()
	var b bytes.Buffer
	files := map[string]*hcl.File{"f.hcl": {Bytes: []byte(src)}}
	Write(&b, files, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "S", Detail: "D", Subject: &rng}}, opts)
	return b.String()
}

func pos(line, col, byteOff int) hcl.Pos { return hcl.Pos{Line: line, Column: col, Byte: byteOff} }

func TestCaretCountsCharactersNotBytes(t *testing.T) {
	src := "x = \"héllo\" # ünïcode\nplugin = wrong\n"
	// "wrong" on line 2 starts at column 10.
	start := strings.Index(src, "wrong")
	out := render(t, src, hcl.Range{Filename: "f.hcl", Start: pos(2, 10, start), End: pos(2, 15, start+5)}, Options{})
	want := "   2 | plugin = wrong\n     |          ^^^^^\n"
	if !strings.Contains(out, want) {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	// After non-ASCII text on the same line the caret must still sit under the range.
	src = "name = \"ünïcödé\" bad\n"
	start = strings.Index(src, "bad")
	out = render(t, src, hcl.Range{Filename: "f.hcl", Start: pos(1, 18, start), End: pos(1, 21, start+3)}, Options{})
	want = "   1 | name = \"ünïcödé\" bad\n     |                  ^^^\n"
	if !strings.Contains(out, want) {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestRangesAtOrPastTheEndOfALine(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		rng  hcl.Range
	}{
		{"empty file", "", hcl.Range{Filename: "f.hcl", Start: pos(1, 1, 0), End: pos(1, 1, 0)}},
		{"column past the line", "ab\n", hcl.Range{Filename: "f.hcl", Start: pos(1, 9, 9), End: pos(1, 12, 12)}},
		{"empty last line", "a = 1\n", hcl.Range{Filename: "f.hcl", Start: pos(2, 1, 6), End: pos(2, 1, 6)}},
		{"line past the file", "a\n", hcl.Range{Filename: "f.hcl", Start: pos(7, 1, 90), End: pos(7, 2, 91)}},
		{"end before start", "abcdef\n", hcl.Range{Filename: "f.hcl", Start: pos(1, 4, 3), End: pos(1, 2, 1)}},
		{"zero range", "abc", hcl.Range{Filename: "f.hcl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, tc.src, tc.rng, Options{})
			if !strings.Contains(out, "error: S") {
				t.Fatalf("no header:\n%s", out)
			}
		})
	}
}

func TestControlBytesAreEscaped(t *testing.T) {
	src := "a = \"\x1b[2J\x07\xff\"\n"
	out := render(t, src, hcl.Range{Filename: "f.hcl", Start: pos(1, 1, 0), End: pos(1, 2, 1)}, Options{})
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `\x1b`) {
		t.Fatalf("control bytes reached the output: %q", out)
	}
}

func TestLongLinesAreCut(t *testing.T) {
	src := strings.Repeat("x", 100000) + "BAD" + strings.Repeat("y", 100000)
	at := 100000
	out := render(t, src, hcl.Range{Filename: "f.hcl", Start: pos(1, at+1, at), End: pos(1, at+4, at+3)}, Options{})
	if len(out) > 1000 || !strings.Contains(out, "BAD") {
		t.Fatalf("snippet of %d bytes:\n%s", len(out), out)
	}
	lines := strings.Split(out, "\n")
	if utf8.RuneCountInString(lines[1][:strings.Index(lines[1], "BAD")]) != strings.Index(lines[2], "^^^") {
		t.Fatalf("caret not under the range:\n%s\n%s", lines[1], lines[2])
	}
}

func TestManyDiagnosticsAreCapped(t *testing.T) {
	var diags hcl.Diagnostics
	for i := 0; i < 500; i++ {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "E"})
	}
	diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "W"})
	var b bytes.Buffer
	Write(&b, nil, diags, Options{})
	if n := strings.Count(b.String(), "error: E"); n != DefaultMax {
		t.Fatalf("%d shown, want %d", n, DefaultMax)
	}
	if !strings.Contains(b.String(), "and 480 errors and 1 warning more") {
		t.Fatalf("no suppression line:\n%s", b.String())
	}
}

// Whatever the source and whatever the range, rendering neither panics nor
// writes control bytes.
func TestRenderingArbitraryInput(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "src")
		line := rapid.IntRange(-2, 12).Draw(t, "line")
		col := rapid.IntRange(-2, 400).Draw(t, "col")
		b0 := rapid.IntRange(-2, 400).Draw(t, "byte")
		endLine := rapid.IntRange(-2, 12).Draw(t, "endLine")
		endCol := rapid.IntRange(-2, 400).Draw(t, "endCol")
		b1 := rapid.IntRange(-2, 400).Draw(t, "endByte")
		var out bytes.Buffer
		rng := hcl.Range{Filename: "f.hcl", Start: pos(line, col, b0), End: pos(endLine, endCol, b1)}
		Write(&out, map[string]*hcl.File{"f.hcl": {Bytes: src}},
			hcl.Diagnostics{{Severity: hcl.DiagError, Summary: string(src), Detail: string(src), Subject: &rng}}, Options{})
		for _, c := range out.Bytes() {
			if c < 0x20 && c != '\n' && c != '\t' {
				t.Fatalf("control byte %#x in output %q", c, out.String())
			}
		}
	})
}

// Every diagnostic HCL's own parser produces for random text renders.
func FuzzParserDiagnostics(f *testing.F) {
	for _, s := range []string{"", "a = \"", "plugin = ", "x {", "ü = 1\n\"", "a = <<EOT\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p := hclparse.NewParser()
		_, diags := p.ParseHCL([]byte(src), "f.hcl")
		var out bytes.Buffer
		Write(&out, p.Files(), diags, Options{})
	})
}
