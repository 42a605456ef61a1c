// Package statediff lists what changed between two JSON states, down to the
// leaves: the change a node made is usually deep inside its state (one
// message appended to a conversation, one field of a retrieved document), and
// "key messages changed" says nothing a reader can use.
package statediff

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Ops of a Change.
const (
	Added   = "add"
	Removed = "remove"
	Changed = "change"
)

// Change is one difference at a path such as $.messages[2].content.
// Before is absent for an addition, After for a removal.
type Change struct {
	Path   string `json:"path"`
	Op     string `json:"op"`
	Before any    `json:"before,omitempty"`
	After  any    `json:"after,omitempty"`
}

// Diff lists the changes from before to after, in path order, at most limit
// of them (0: no limit); more reports whether some were left out. Objects are
// compared key by key and arrays index by index; a value whose type changed
// is one change.
func Diff(before, after any, limit int) (changes []Change, more bool) {
	d := differ{limit: limit}
	d.walk("$", before, after, true, true)
	return d.out, d.more
}

// Decode reads a state for Diff, keeping numbers exact.
func Decode(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return v
}

type differ struct {
	limit int
	out   []Change
	more  bool
}

func (d *differ) add(c Change) bool {
	if d.limit > 0 && len(d.out) >= d.limit {
		d.more = true
		return false
	}
	d.out = append(d.out, c)
	return true
}

// walk compares a and b at path; hadA and hasB say whether each side exists.
func (d *differ) walk(path string, a, b any, hadA, hasB bool) bool {
	switch {
	case !hadA && !hasB:
		return true
	case !hadA:
		return d.add(Change{Path: path, Op: Added, After: b})
	case !hasB:
		return d.add(Change{Path: path, Op: Removed, Before: a})
	}
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			keys := make([]string, 0, len(x)+len(y))
			for k := range x {
				keys = append(keys, k)
			}
			for k := range y {
				if _, dup := x[k]; !dup {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				va, ina := x[k]
				vb, inb := y[k]
				if !d.walk(path+Key(k), va, vb, ina, inb) {
					return false
				}
			}
			return true
		}
	case []any:
		if y, ok := b.([]any); ok {
			for i := 0; i < max(len(x), len(y)); i++ {
				var va, vb any
				if i < len(x) {
					va = x[i]
				}
				if i < len(y) {
					vb = y[i]
				}
				if !d.walk(path+"["+strconv.Itoa(i)+"]", va, vb, i < len(x), i < len(y)) {
					return false
				}
			}
			return true
		}
	}
	if reflect.DeepEqual(a, b) {
		return true
	}
	return d.add(Change{Path: path, Op: Changed, Before: a, After: b})
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Key is the path step for an object key: .name, or ["odd key"].
func Key(k string) string {
	if identifier.MatchString(k) {
		return "." + k
	}
	q, _ := json.Marshal(k)
	return "[" + string(q) + "]"
}

// Brief is a value's JSON cut to n characters, for one-line renderings.
func Brief(v any, n int) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(raw)
	if len(s) > n && n > 3 {
		s = s[:n-3] + "..."
	}
	return s
}

// Line renders a change for a terminal: "+ $.a = 1", "- $.b (was 2)",
// "~ $.c: 1 → 2", values cut to n characters.
func (c Change) Line(n int) string {
	switch c.Op {
	case Added:
		return fmt.Sprintf("+ %s = %s", c.Path, Brief(c.After, n))
	case Removed:
		return fmt.Sprintf("- %s (was %s)", c.Path, Brief(c.Before, n))
	}
	return fmt.Sprintf("~ %s: %s → %s", c.Path, Brief(c.Before, n), Brief(c.After, n))
}
