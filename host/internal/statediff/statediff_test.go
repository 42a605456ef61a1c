package statediff

import (
	"encoding/json"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

func TestDiffGoesDownToTheLeaves(t *testing.T) {
	before := Decode([]byte(`{"q":"capital?","messages":[{"role":"user","content":"hi"}],"doc":{"title":"A","tags":["x"]},"gone":1,"n":1.50}`))
	after := Decode([]byte(`{"q":"capital?","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Paris"}],"doc":{"title":"B","tags":["x","y"]},"n":1.50,"odd key":true}`))
	got, more := Diff(before, after, 0)
	want := []Change{
		{Path: "$.doc.tags[1]", Op: Added, After: "y"},
		{Path: "$.doc.title", Op: Changed, Before: "A", After: "B"},
		{Path: "$.gone", Op: Removed, Before: json.Number("1")},
		{Path: "$.messages[1]", Op: Added, After: map[string]any{"role": "assistant", "content": "Paris"}},
		{Path: `$["odd key"]`, Op: Added, After: true},
	}
	if more || !reflect.DeepEqual(got, want) {
		t.Errorf("Diff =\n%#v\nwant\n%#v", got, want)
	}
	if got, more := Diff(before, after, 2); len(got) != 2 || !more {
		t.Errorf("limit 2: %d changes, more=%v", len(got), more)
	}
	if got, _ := Diff(map[string]any{"a": []any{1.0}}, map[string]any{"a": "x"}, 0); len(got) != 1 || got[0].Op != Changed {
		t.Errorf("a type change is one change: %+v", got)
	}
	if got := (Change{Path: "$.a", Op: Changed, Before: "x", After: "a long value"}).Line(8); got != `~ $.a: "x" → "a lo...` {
		t.Errorf("Line: %q", got)
	}
}

// Diff finds no change exactly when the states are equal, and every change
// names a path below the root.
func TestDiffIsEmptyExactlyWhenEqual(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		gen := rapid.MapOf(rapid.SampledFrom([]string{"a", "b", "c", "d e"}),
			rapid.OneOf(rapid.Just[any](nil), rapid.Map(rapid.IntRange(0, 3), func(i int) any { return float64(i) }),
				rapid.Map(rapid.SliceOfN(rapid.IntRange(0, 2), 0, 3), func(xs []int) any {
					out := make([]any, len(xs))
					for i, x := range xs {
						out[i] = float64(x)
					}
					return out
				})))
		a, b := gen.Draw(t, "before"), gen.Draw(t, "after")
		changes, _ := Diff(toAny(a), toAny(b), 0)
		if (len(changes) == 0) != reflect.DeepEqual(toAny(a), toAny(b)) {
			t.Fatalf("Diff(%v, %v) = %v", a, b, changes)
		}
		for _, c := range changes {
			if c.Path == "$" || c.Op == "" {
				t.Fatalf("bad change %+v", c)
			}
		}
	})
}

func toAny(m map[string]any) any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
