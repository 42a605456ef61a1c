package suggest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestClosest(t *testing.T) {
	for _, tc := range []struct {
		got     string
		options []string
		want    string
	}{
		{"expect", []string{"case", "expected", "input"}, "expected"},
		{"lbl", []string{"label", "lab"}, "lab"},
		{"Runner", []string{"runner", "workflow"}, "runner"},
		{"zzzzzz", []string{"runner", "workflow"}, ""},
		{"a", []string{"b", "c"}, ""},
		{"ab", []string{"ba", "aa"}, "aa"}, // ties: sorted order
		{"same", []string{"same"}, ""},
	} {
		if got := Closest(tc.got, tc.options); got != tc.want {
			t.Errorf("Closest(%q, %v) = %q, want %q", tc.got, tc.options, got, tc.want)
		}
	}
	if got := DidYouMean("expect", []string{"expected"}); got != ` Did you mean "expected"?` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("zzzzzz", []string{"expected"}); got != "" {
		t.Errorf("DidYouMean = %q, want nothing", got)
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"bench.hcl", "cases.jsonl"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := File(dir, "cases.josnl"); got != ` Did you mean "cases.jsonl"?` {
		t.Errorf("File(cases.josnl) = %q", got)
	}
	if got := File("", filepath.Join(dir, "bench.hlc")); got != ` Did you mean "`+filepath.Join(dir, "bench.hcl")+`"?` {
		t.Errorf("File(abs bench.hlc) = %q", got)
	}
	if got := File(dir, "sub/x"); got != "" {
		t.Errorf("File in a missing directory = %q", got)
	}
}
