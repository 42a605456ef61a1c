// Package jsonobj merges node outputs into states the way every runner must:
// JSON Merge Patch (RFC 7386) on JSON objects kept as raw bytes, decoding only
// the levels a patch touches so numbers keep their exact text and a large state
// is cheap to update. The executor uses it; it is not part of the SDK's API.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// MergePatchJSON applies a JSON Merge Patch (RFC 7386) to a JSON object and
// returns the new object: objects merge recursively, null deletes a key,
// anything else replaces it. Only the levels the patch touches are decoded;
// every other value is copied byte for byte, so numbers keep their exact text
// and a large state costs little to update.
func MergePatchJSON(state, patch json.RawMessage) (json.RawMessage, error) {
	target, err := shallowObject(state)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	p, err := shallowObject(patch)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	if err := mergeShallow(target, p); err != nil {
		return nil, err
	}
	return EncodeObject(target), nil
}

// ShallowObject decodes the top level of a JSON object, leaving values raw.
func ShallowObject(data json.RawMessage) (map[string]json.RawMessage, error) {
	return shallowObject(data)
}

func shallowObject(data json.RawMessage) (map[string]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return map[string]json.RawMessage{}, nil
	}
	if data[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	if !json.Valid(data) {
		var v any
		return nil, json.Unmarshal(data, &v) // for its error message
	}
	return scanObject(data)
}

// scanObject splits a valid JSON object into its members without reflection:
// keys are decoded, values stay raw slices of data. (encoding/json decodes
// into a map through reflection, which dominated the cost of small states.)
func scanObject(data []byte) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	i := skipSpace(data, 1)
	for i < len(data) && data[i] != '}' {
		kEnd := skipString(data, i)
		key, err := unquote(data[i:kEnd])
		if err != nil {
			return nil, err
		}
		i = skipSpace(data, kEnd) + 1 // the colon
		i = skipSpace(data, i)
		vEnd := skipValue(data, i)
		m[key] = data[i:vEnd:vEnd]
		i = skipSpace(data, vEnd)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return m, nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i] == '"'.
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = skipString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	j := i
	for j < len(data) && !bytes.ContainsRune([]byte(",}] \t\n\r"), rune(data[j])) {
		j++
	}
	return j
}

func unquote(q []byte) (string, error) {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1]), nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return s, err
}

// EncodeObject writes members as a JSON object with sorted keys (the same
// canonical form encoding/json gives a map), compacting values.
func EncodeObject(m map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(m))
	size := 2
	for k, v := range m {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	sort.Strings(keys)
	buf := bytes.NewBuffer(make([]byte, 0, size))
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeKey(buf, k)
		buf.WriteByte(':')
		v := m[k]
		if bytes.ContainsAny(v, " \t\n\r") {
			if err := json.Compact(buf, v); err == nil {
				continue
			}
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func writeKey(buf *bytes.Buffer, k string) {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			q, _ := json.Marshal(k)
			buf.Write(q)
			return
		}
	}
	buf.WriteByte('"')
	buf.WriteString(k)
	buf.WriteByte('"')
}

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}

func isNull(v json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// MergeShallow merges a shallowly decoded patch into a shallowly decoded
// target, in place (JSON Merge Patch rules).
func MergeShallow(target, patch map[string]json.RawMessage) error { return mergeShallow(target, patch) }

func mergeShallow(target, patch map[string]json.RawMessage) error {
	for k, pv := range patch {
		switch {
		case isNull(pv):
			delete(target, k)
		case isObject(pv):
			base, ok := target[k]
			if !ok || !isObject(base) {
				base = json.RawMessage("{}")
			}
			// A patch object merged into nothing still drops its nulls.
			merged, err := MergePatchJSON(base, pv)
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			target[k] = merged
		default:
			target[k] = pv
		}
	}
	return nil
}
