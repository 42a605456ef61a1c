package e2e

import (
	"strings"
	"testing"
	"unicode/utf16"
)

// wide encodes s as UTF-16 or UTF-32 (bits), little- or big-endian, with a
// byte order mark or without: what Windows tools write.
func wide(s string, bits int, bigEndian, bom bool) string {
	var out []byte
	put := func(u uint32) {
		b := make([]byte, bits/8)
		for i := range b {
			shift := 8 * i
			if bigEndian {
				shift = 8 * (len(b) - 1 - i)
			}
			b[i] = byte(u >> shift)
		}
		out = append(out, b...)
	}
	if bom {
		put(0xFEFF)
	}
	for _, r := range s {
		if bits == 16 {
			for _, u := range utf16.Encode([]rune{r}) {
				put(uint32(u))
			}
		} else {
			put(uint32(r))
		}
	}
	return string(out)
}

// A file saved in another encoding gets one error that names the encoding
// and says how to save it as UTF-8 — the bench file, its cases file, a file
// read with file() — and a UTF-8 byte order mark is just UTF-8.
func TestTextFilesInOtherEncodings(t *testing.T) {
	e := newEnv(t)
	bench := func(cases, param string) string {
		return `runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    command = ["true"]
    params  = { prompt = ` + param + ` }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
  cases    = "` + cases + `"
}
`
	}
	e.write("cases.jsonl", `{"id": "c1", "input": {"q": "café"}}`+"\n")
	e.write("prompt.txt", "Answer in one word.")
	plain := bench("cases.jsonl", `file("prompt.txt")`)
	for _, tc := range []struct {
		name  string
		files map[string]string
		code  int
		want  []string
	}{
		{"utf16le-bom", map[string]string{"bench.hcl": wide(plain, 16, false, true)}, 2,
			[]string{"bench.hcl:1:1: error: File is UTF-16, not UTF-8", "little-endian, with a byte order mark", "iconv -f UTF-16 -t UTF-8 bench.hcl"}},
		{"utf16be-bom", map[string]string{"bench.hcl": wide(plain, 16, true, true)}, 2,
			[]string{"error: File is UTF-16, not UTF-8", "big-endian, with a byte order mark", "iconv -f UTF-16 -t UTF-8"}},
		{"utf16le", map[string]string{"bench.hcl": wide(plain, 16, false, false)}, 2,
			[]string{"error: File is UTF-16, not UTF-8", "without a byte order mark", "iconv -f UTF-16LE -t UTF-8"}},
		{"utf16be", map[string]string{"bench.hcl": wide(plain, 16, true, false)}, 2,
			[]string{"error: File is UTF-16, not UTF-8", "iconv -f UTF-16BE -t UTF-8"}},
		{"utf32le-bom", map[string]string{"bench.hcl": wide(plain, 32, false, true)}, 2,
			[]string{"error: File is UTF-32, not UTF-8", "iconv -f UTF-32 -t UTF-8"}},
		{"utf32be", map[string]string{"bench.hcl": wide(plain, 32, true, false)}, 2,
			[]string{"error: File is UTF-32, not UTF-8", "iconv -f UTF-32BE -t UTF-8"}},
		{"latin1", map[string]string{"bench.hcl": strings.Replace(plain, `command = ["true"]`, "command = [\"caf\xe9\"]", 1)}, 2,
			[]string{"bench.hcl:4:20: error: File is not UTF-8", "byte 0xE9 at line 4, column 20", `it is "é"`, "iconv -f WINDOWS-1252 -t UTF-8"}},
		{"utf8-bom", map[string]string{"bench.hcl": "\ufeff" + plain}, 0, []string{"bench.hcl is valid"}},
		{"cases-utf16", map[string]string{"bench.hcl": bench("wide.jsonl", `"x"`),
			"wide.jsonl": wide(`{"id": "c1", "input": {}}`+"\n", 16, false, true)}, 2,
			[]string{"wide.jsonl:1:1: error: File is UTF-16, not UTF-8", "wide.jsonl is encoded as UTF-16", "a cases file (JSON Lines) must be UTF-8"}},
		{"cases-latin1", map[string]string{"bench.hcl": bench("latin.jsonl", `"x"`),
			"latin.jsonl": "{\"id\": \"c1\", \"input\": {}}\n{\"id\": \"c2\", \"input\": {\"q\": \"caf\xe9\"}}\n"}, 2,
			[]string{"latin.jsonl:2:33: error: File is not UTF-8", "byte 0xE9 at line 2, column 33"}},
		{"cases-utf8-bom", map[string]string{"bench.hcl": bench("bom.jsonl", `"x"`),
			"bom.jsonl": "\ufeff" + `{"id": "c1", "input": {}}` + "\n"}, 0, []string{"bench.hcl is valid"}},
		{"cases-misspelt-field", map[string]string{"bench.hcl": bench("typo.jsonl", `"x"`),
			"typo.jsonl": `{"id": "c1", "input": {}, "expect": {"label": "x"}}` + "\n"}, 2,
			[]string{"typo.jsonl:1:1: error: Invalid case", `unknown field "expect". Did you mean "expected"?`}},
		{"file-function-utf16", map[string]string{"bench.hcl": bench("cases.jsonl", `file("wide.txt")`),
			"wide.txt": wide("Answer in one word.", 16, false, true)}, 2,
			[]string{"bench.hcl:5:32: error: Invalid function argument", "wide.txt is encoded as UTF-16", "iconv -f UTF-16 -t UTF-8 wide.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, content := range tc.files {
				e.write(name, content)
			}
			r := e.run("validate", "--no-plugins", "bench.hcl")
			noCrash(t, "validate", r)
			if r.code != tc.code || strings.Count(r.stderr, ": error: ") != min(tc.code, 1) {
				t.Fatalf("exit %d, want %d with %d error(s):\n%s%s", r.code, tc.code, min(tc.code, 1), r.stdout, r.stderr)
			}
			// Diagnostics are wrapped at 96 columns: compare words.
			out := strings.Join(strings.Fields(r.stdout+r.stderr), " ")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s%s", w, r.stdout, r.stderr)
				}
			}
		})
	}
}
