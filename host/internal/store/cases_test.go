package store

import (
	"slices"
	"testing"
)

// A grid's output path names one value, written as evaluators write paths;
// each backend gets it in its own syntax.
func TestParsePath(t *testing.T) {
	for in, want := range map[string]struct{ str, sqlite, steps string }{
		"$":                  {"$", "$", ""},
		"$.answer":           {"$.answer", `$."answer"`, "answer"},
		"$.passages[0]":      {"$.passages[0]", `$."passages"[0]`, "passages,0"},
		"$['a b'].c":         {"$['a b'].c", `$."a b"."c"`, "a b,c"},
		`$["x"][12]`:         {"$.x[12]", `$."x"[12]`, "x,12"},
		"$.doc.tags[1].name": {"$.doc.tags[1].name", `$."doc"."tags"[1]."name"`, "doc,tags,1,name"},
	} {
		p, err := ParsePath(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if p == nil || p.String() != want.str || p.SQLitePath() != want.sqlite || joinSteps(p.Steps()) != want.steps {
			t.Errorf("%s: %q %q %q", in, p.String(), p.SQLitePath(), p.Steps())
		}
	}
	for _, bad := range []string{"", "answer", "$..a", "$.*", "$.a[*]", "$.a[-1]", "$.a[1:2]", "$.a[", `$['a"b']`, "$a", "$.a[?(@.x)]"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func joinSteps(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

func TestLikePattern(t *testing.T) {
	if got := LikePattern(`50%_\x`); got != `%50\%\_\\x%` {
		t.Errorf("LikePattern = %q", got)
	}
	if !slices.Equal(Path(nil).Steps(), []string{}) {
		t.Errorf("no path has no steps")
	}
}

func TestPathFind(t *testing.T) {
	doc := []byte(`{"answer": "Paris", "doc": {"tags": ["a", {"x": null}]}}`)
	for path, want := range map[string]string{
		"$":                `{"answer": "Paris", "doc": {"tags": ["a", {"x": null}]}}`,
		"$.answer":         `"Paris"`,
		"$.doc.tags[1].x":  `null`,
		"$.doc.tags[0]":    `"a"`,
		"$.doc.tags[2]":    "absent",
		"$.answer.x":       "absent",
		"$.doc['tags'][1]": `{"x": null}`,
	} {
		p, err := ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := p.Find(doc)
		text := "absent"
		if ok {
			text = string(got)
		}
		if text != want {
			t.Errorf("%s: %s, want %s", path, text, want)
		}
	}
}
