package store

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

// JSONText encodes a value for a JSON column; an absent value is {}. The maps
// of result rows are encoded without reflection: bulk writes encode hundreds
// of thousands of them.
func JSONText(v any) string {
	switch x := v.(type) {
	case map[string]string:
		return EncodeStringMap(x)
	case map[string]float64:
		return EncodeFloatMap(x)
	case json.RawMessage:
		if len(x) == 0 {
			return "{}"
		}
		// States and outputs can be megabytes; a copy per write doubled the
		// host's memory for large outputs. The bytes of a checkpoint are never
		// modified once received, so the string can share them.
		return unsafe.String(&x[0], len(x))
	case []LogLine:
		if len(x) == 0 {
			return "[]"
		}
	case []Decision:
		if len(x) == 0 {
			return "[]"
		}
	case nil:
		return "{}"
	}
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return "{}"
	}
	return string(b)
}

// EncodeStringMap encodes a map as a JSON object with sorted keys.
func EncodeStringMap(m map[string]string) string {
	return encodeMap(m, func(b *strings.Builder, v string) { writeJSONString(b, v) })
}

// EncodeFloatMap encodes a map of numbers as a JSON object with sorted keys.
// NaN and infinities, which JSON cannot hold, are written as null.
func EncodeFloatMap(m map[string]float64) string {
	return encodeMap(m, func(b *strings.Builder, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString("null")
			return
		}
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	})
}

func encodeMap[V any](m map[string]V, value func(*strings.Builder, V)) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		value(&b, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

func writeJSONString(b *strings.Builder, s string) {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	q, _ := json.Marshal(s)
	b.Write(q)
}
