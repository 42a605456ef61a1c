package eval

import (
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/theory/jsonpath"
)

func clamp(f float64) float64 {
	if math.IsNaN(f) || f < 0 {
		return 0
	}
	return math.Min(f, 1)
}

func first(p *jsonpath.Path, v any) (any, bool) {
	nodes := p.Select(v)
	if len(nodes) == 0 {
		return nil, false
	}
	return nodes[0], true
}

func jsonEqual(a, b any) bool {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return x == y
		}
	}
	return reflect.DeepEqual(a, b)
}

func contains(actual, want any, caseSensitive bool) bool {
	switch a := actual.(type) {
	case string:
		w, ok := want.(string)
		if !ok {
			w = compact(want)
		}
		if !caseSensitive {
			return strings.Contains(strings.ToLower(a), strings.ToLower(w))
		}
		return strings.Contains(a, w)
	case []any:
		for _, el := range a {
			if jsonEqual(el, want) {
				return true
			}
		}
	case map[string]any:
		if k, ok := want.(string); ok {
			_, has := a[k]
			return has
		}
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		// A number written as a string is short; parsing a long text would
		// only copy it into the error.
		if len(n) > 64 {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return 0, false
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// previewLen bounds how much of a value a note quotes.
const previewLen = 80

// preview is the start of v's JSON for a note. It writes only about
// previewLen bytes, whatever the size of v (a node's output may be megabytes).
func preview(v any) string {
	var b strings.Builder
	writePreview(&b, v)
	if b.Len() > previewLen-3 {
		out := []rune(b.String())
		return string(out[:min(len(out), previewLen-3)]) + "..."
	}
	return b.String()
}

func writePreview(b *strings.Builder, v any) {
	if b.Len() > previewLen {
		return
	}
	switch x := v.(type) {
	case string:
		if len(x) > previewLen {
			x = x[:previewLen]
		}
		enc, _ := json.Marshal(x)
		b.Write(enc)
	case []any:
		b.WriteByte('[')
		for i, el := range x {
			if b.Len() > previewLen {
				return
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writePreview(b, el)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if b.Len() > previewLen {
				return
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writePreview(b, k)
			b.WriteByte(':')
			writePreview(b, x[k])
		}
		b.WriteByte('}')
	default:
		enc, _ := json.Marshal(x)
		b.Write(enc)
	}
}
