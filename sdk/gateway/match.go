package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/wtbench/wtb/sdk"
)

// matcher computes the key replay matches a request on: method, upstream,
// path, the query with its parameters sorted, the body as canonical JSON
// (keys sorted, ignored paths left out) and the allowlisted headers. Two
// requests with the same key are the same request for replay; identical
// requests in one node run replay in the order they were recorded.
type matcher struct {
	ignore  [][]pathStep
	headers []string
}

func newMatcher(cfg *sdk.ModelCalls) *matcher {
	m := &matcher{}
	for _, p := range cfg.IgnoreJSONPaths {
		if steps, err := ParseJSONPath(p); err == nil {
			m.ignore = append(m.ignore, steps)
		}
	}
	for _, h := range cfg.MatchHeaders {
		m.headers = append(m.headers, strings.ToLower(h))
	}
	sort.Strings(m.headers)
	return m
}

func (m *matcher) key(method, upstream, path, query string, headers map[string]string, body []byte) string {
	v, ok := decodeJSON(body)
	return m.keyDecoded(method, upstream, path, query, headers, body, v, ok)
}

// keyDecoded is key for a body decoded already (v, when isJSON).
func (m *matcher) keyDecoded(method, upstream, path, query string, headers map[string]string, body []byte, v any, isJSON bool) string {
	h := sha256.New()
	var b strings.Builder
	b.WriteString("wtb-match-v1\x00")
	for _, s := range []string{strings.ToUpper(method), upstream, path, canonicalQuery(query)} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, name := range m.headers {
		b.WriteString(name)
		b.WriteByte(0)
		b.WriteString(headers[name])
		b.WriteByte(0)
	}
	h.Write([]byte(b.String()))
	h.Write(m.canonicalDecoded(body, v, isJSON))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// canonicalBody is the body as matched: canonical JSON when it is JSON, the
// bytes as they are otherwise.
func (m *matcher) canonicalBody(body []byte) []byte {
	v, ok := decodeJSON(body)
	return m.canonicalDecoded(body, v, ok)
}

func (m *matcher) canonicalDecoded(body []byte, v any, ok bool) []byte {
	if !ok {
		return body
	}
	for _, steps := range m.ignore {
		v = deletePath(v, steps)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// canonicalQuery sorts the query's parameters (and their values), so that
// ?b=1&a=2 and ?a=2&b=1 are the same request. Secret parameters are already
// masked.
func canonicalQuery(q string) string {
	if q == "" {
		return ""
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return q
	}
	for _, vs := range vals {
		sort.Strings(vs)
	}
	return vals.Encode() // Encode sorts by key
}

func decodeJSON(b []byte) (any, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return v, true
}

// pathStep is one step of an ignored JSON path: a key, an index, or every
// element ([*]).
type pathStep struct {
	key   string
	index int // -1: key; -2: every element
}

// ParseJSONPath parses the small JSON-path syntax ignore_json_paths takes:
// $.key.key, $.list[0], $.list[*].key, $["odd key"].
func ParseJSONPath(p string) ([]pathStep, error) {
	rest, ok := strings.CutPrefix(p, "$")
	if !ok {
		return nil, fmt.Errorf("%q: a path starts with $", p)
	}
	var steps []pathStep
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "."):
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("%q: an empty key", p)
			}
			steps = append(steps, pathStep{key: rest[:end], index: -1})
			rest = rest[end:]
		case strings.HasPrefix(rest, "["):
			end := strings.Index(rest, "]")
			if end < 0 {
				return nil, fmt.Errorf("%q: a [ without ]", p)
			}
			inner := rest[1:end]
			rest = rest[end+1:]
			switch {
			case inner == "*":
				steps = append(steps, pathStep{index: -2})
			case strings.HasPrefix(inner, `"`):
				k, err := strconv.Unquote(inner)
				if err != nil {
					return nil, fmt.Errorf("%q: %s is no quoted key", p, inner)
				}
				steps = append(steps, pathStep{key: k, index: -1})
			default:
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("%q: [%s] is neither an index, * nor a quoted key", p, inner)
				}
				steps = append(steps, pathStep{index: n})
			}
		default:
			return nil, fmt.Errorf("%q: expected . or [ at %q", p, rest)
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("%q: the whole body cannot be ignored", p)
	}
	return steps, nil
}

// deletePath removes what steps name from v.
func deletePath(v any, steps []pathStep) any {
	if len(steps) == 0 {
		return v
	}
	s, last := steps[0], len(steps) == 1
	switch t := v.(type) {
	case map[string]any:
		if s.index != -1 {
			return v
		}
		if last {
			delete(t, s.key)
		} else if c, ok := t[s.key]; ok {
			t[s.key] = deletePath(c, steps[1:])
		}
	case []any:
		switch {
		case s.index == -2:
			if last {
				return []any{}
			}
			for i := range t {
				t[i] = deletePath(t[i], steps[1:])
			}
		case s.index >= 0 && s.index < len(t):
			if last {
				return append(t[:s.index:s.index], t[s.index+1:]...)
			}
			t[s.index] = deletePath(t[s.index], steps[1:])
		}
	}
	return v
}

// masker replaces the values of secret variables in what is stored.
type masker struct {
	pairs []maskPair
}

type maskPair struct {
	secret, mask []byte
}

func newMasker(secrets map[string]string) *masker {
	m := &masker{}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		// Short values would mask ordinary text ("1", "true").
		if v := secrets[n]; len(v) >= 8 {
			m.pairs = append(m.pairs, maskPair{[]byte(v), []byte("[masked:" + n + "]")})
		}
	}
	return m
}

func (m *masker) bytes(b []byte) []byte {
	if len(m.pairs) == 0 {
		return b
	}
	for _, p := range m.pairs {
		if bytes.Contains(b, p.secret) {
			b = bytes.ReplaceAll(b, p.secret, p.mask)
		}
	}
	return b
}

func (m *masker) string(s string) string { return string(m.bytes([]byte(s))) }

// secretQueryParams carry credentials in some APIs (Gemini's ?key=).
var secretQueryParams = map[string]bool{"key": true, "api_key": true, "apikey": true, "access_token": true, "token": true}

// maskQuery masks credential parameters and secret values in a raw query.
func (m *masker) query(q string) string {
	if q == "" {
		return q
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return m.string(q)
	}
	changed := false
	for k, vs := range vals {
		if secretQueryParams[strings.ToLower(k)] {
			for i := range vs {
				vs[i] = "[masked]"
			}
			changed = true
		}
	}
	if !changed {
		return m.string(q)
	}
	return m.string(vals.Encode())
}
