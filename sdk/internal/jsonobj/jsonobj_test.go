package jsonobj

import (
	"encoding/json"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// genJSON draws small JSON values, objects likely.
func genJSON(depth int) *rapid.Generator[any] {
	return rapid.Custom(func(t *rapid.T) any {
		kind := rapid.IntRange(0, 5).Draw(t, "kind")
		if depth <= 0 && kind >= 4 {
			kind = 0
		}
		switch kind {
		case 0:
			return rapid.StringMatching(`[a-z]{0,4}`).Draw(t, "s")
		case 1:
			return float64(rapid.IntRange(-1000, 1000).Draw(t, "n"))
		case 2:
			return rapid.Bool().Draw(t, "b")
		case 3:
			return nil
		case 4:
			return []any{genJSON(depth-1).Draw(t, "e")}
		}
		return rapid.MapOfN(rapid.StringMatching(`[a-d]`), genJSON(depth-1), 0, 4).Draw(t, "o")
	})
}

// The raw merge must agree with the decoded reference implementation.
func TestMergePatchJSONMatchesMergePatch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		state := rapid.MapOfN(rapid.StringMatching(`[a-d]`), genJSON(2), 0, 5).Draw(t, "state")
		patch := rapid.MapOfN(rapid.StringMatching(`[a-d]`), genJSON(2), 0, 5).Draw(t, "patch")
		sj, _ := json.Marshal(state)
		pj, _ := json.Marshal(patch)
		got, err := MergePatchJSON(sj, pj)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		_ = json.Unmarshal(sj, &want)
		var p map[string]any
		_ = json.Unmarshal(pj, &p)
		want = mergePatch(want, p)
		var g map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("result is not JSON: %s", got)
		}
		if len(want) == 0 && len(g) == 0 {
			return
		}
		if !reflect.DeepEqual(g, want) {
			t.Fatalf("state %s patch %s:\n got  %s\n want %v", sj, pj, got, want)
		}
	})
}

func TestMergePatchJSONKeepsNumbersExact(t *testing.T) {
	got, err := MergePatchJSON(json.RawMessage(`{"id": 12345678901234567890, "x": {"a": 1}}`), json.RawMessage(`{"x": {"b": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"id":12345678901234567890,"x":{"a":1,"b":2}}` {
		t.Errorf("got %s", got)
	}
}

func TestMergePatchRFC7386Examples(t *testing.T) {
	cases := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, c := range cases {
		got, err := MergePatchJSON(json.RawMessage(c.target), json.RawMessage(c.patch))
		if err != nil || string(got) != c.want {
			t.Errorf("%s + %s = %s (%v), want %s", c.target, c.patch, got, err, c.want)
		}
	}
}

// The reflection-free scanner must agree with encoding/json on any object.
func TestScanObjectMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		obj := rapid.MapOfN(rapid.String(), genJSON(3), 0, 6).Draw(t, "obj")
		data, _ := json.MarshalIndent(obj, "", rapid.SampledFrom([]string{"", " ", "\t"}).Draw(t, "indent"))
		got, err := ShallowObject(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		want := map[string]json.RawMessage{}
		_ = json.Unmarshal(data, &want)
		if len(got) != len(want) {
			t.Fatalf("%s: %d members, want %d", data, len(got), len(want))
		}
		for k, v := range want {
			var a, b any
			_ = json.Unmarshal(v, &a)
			if err := json.Unmarshal(got[k], &b); err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("%s: member %q = %s, want %s", data, k, got[k], v)
			}
		}
		enc := EncodeObject(got)
		canon, _ := json.Marshal(obj)
		if string(enc) != string(canon) {
			t.Fatalf("EncodeObject = %s, want %s", enc, canon)
		}
	})
}

// mergePatch is the reference implementation the raw merge is checked
// against: it applies patch to state with JSON Merge Patch semantics (RFC 7386):
// objects merge recursively, a null value deletes the key, anything else replaces
// it. state is modified in place and returned; nested objects of the patch are
// copied, so later changes to state never reach back into the patch.
func mergePatch(state, patch map[string]any) map[string]any {
	if state == nil {
		state = make(map[string]any, len(patch))
	}
	for k, pv := range patch {
		if pv == nil {
			delete(state, k)
			continue
		}
		pObj, pIsObj := pv.(map[string]any)
		if !pIsObj {
			state[k] = pv
			continue
		}
		sObj, sIsObj := state[k].(map[string]any)
		if !sIsObj {
			sObj = nil
		}
		state[k] = mergePatch(sObj, pObj)
	}
	return state
}
