package numfmt

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"
)

// The Go side writes every figure exactly as the viewer's JavaScript does:
// testdata/vectors.json is what testdata/rule.js (the rule in JavaScript,
// run by node) prints for the same inputs, ties and near-ties included.
func TestSameAsTheViewersJavaScript(t *testing.T) {
	data, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors map[string]map[string]string
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	funcs := map[string]func(float64) string{"percent": Percent, "score": Score, "pvalue": PValue, "duration": Duration, "usd": USD, "count": Count}
	for kind, cases := range vectors {
		f := funcs[kind]
		if f == nil {
			t.Fatalf("no Go function for %q", kind)
		}
		for in, want := range cases {
			x, err := strconv.ParseFloat(in, 64)
			if err != nil {
				t.Fatal(err)
			}
			if got := f(x); got != want {
				t.Errorf("%s(%s) = %q, JavaScript writes %q", kind, in, got, want)
			}
		}
	}
}

// The examples of the rule itself.
func TestTheRulesExamples(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Percent(10.0 / 16), "63%"},
		{Score(0.625), "0.625"},
		{PValue(0.42), "0.42"}, {PValue(0.031), "0.031"}, {PValue(0.0012), "0.0012"},
		{PValue(6.1e-7), "6.1e-7"}, {PValue(0.0000076), "7.6e-6"}, {PValue(1), "1"},
		{Duration(3.6), "3.6 ms"}, {Duration(238), "238 ms"}, {Duration(1179.56), "1.18 s"}, {Duration(245000), "4m05s"},
		{Elapsed(1179560 * time.Microsecond), "1.18 s"},
		{Signed(0.104), "+0.104"}, {Signed(-0.2), "-0.200"}, {Signed(-1e-17), "0.000"}, {Signed(0), "0.000"},
		{Setting(0.75), "0.75"}, {Setting(0.775), "0.775"}, {Setting(2000), "2000"},
		{Fixed(-0.0001, 3), "-0.000"}, {Percent(-0.001), "0%"},
		{SignedDuration(12.4), "+12 ms"}, {SignedDuration(-1179.56), "-1.18 s"}, {SignedDuration(0.01), "0.0 ms"}, {SignedDuration(-0.04), "0.0 ms"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if got, want := Date(time.Date(2026, 12, 2, 15, 16, 52, 0, time.Local)), "2026-12-02 15:16:52"; got != want {
		t.Errorf("Date = %q, want %q", got, want)
	}
}
