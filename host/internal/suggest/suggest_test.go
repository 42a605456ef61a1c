package suggest

import "testing"

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
