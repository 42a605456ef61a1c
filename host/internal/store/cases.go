package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The case × combination grid reads a batch by case: a page of cases,
// sorted and searched in the database, then the executions of those cases
// with the value each one's output holds at a path. Both are single queries,
// whatever the size of the page or of the batch.

// Orders of a page of cases.
const (
	CaseSortFailed = "failed" // by executions that did not pass (the default, most first)
	CaseSortID     = "case"   // by case id
	CaseSortScore  = "score"  // by one combination's mean overall score on the case
)

// CaseQuery selects a page of a batch's cases.
type CaseQuery struct {
	// Combinations are the combinations whose executions count (nil: all).
	Combinations []string
	// Search keeps the cases whose id is in SearchCases or one of whose
	// outputs at Output contains Search (ignoring case; SQLite folds ASCII
	// letters only). "" keeps every case.
	Search      string
	SearchCases []string
	// Output is where an execution's output is in its final state; nil means
	// the output of the node that produced the final state.
	Output Path
	// Sort is CaseSortFailed (""), CaseSortID or CaseSortScore; Desc reverses
	// it. Ties go by case id. ScoreOf is the combination CaseSortScore sorts
	// by; cases it did not run come last either way.
	Sort    string
	Desc    bool
	ScoreOf string
	Offset  int
	Limit   int // 0: no limit
}

// CaseSummary is one case of a page: how many of its executions (among the
// query's combinations) are stored and how many did not pass.
type CaseSummary struct {
	CaseID     string
	Executions int
	Failed     int
}

// ResultOutput is a result with the value its output holds at a path.
type ResultOutput struct {
	Result
	// Output is the value's compact JSON text, cut at the length asked for;
	// OutputLen is the full text's length in characters, and Found false when
	// the final state has nothing at the path (or the execution stored none).
	Output    string
	OutputLen int
	Found     bool
}

// OrderBy is the ORDER BY of a page of cases over the columns failed, score
// and case_id (collated bytewise, so both backends agree).
func (q CaseQuery) OrderBy(collate string) (string, error) {
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	id := "case_id" + collate
	switch q.Sort {
	case "":
		return "failed DESC, " + id + " ASC", nil // failures first
	case CaseSortFailed:
		return "failed " + dir + ", " + id + " ASC", nil
	case CaseSortID:
		return id + " " + dir, nil
	case CaseSortScore:
		if q.ScoreOf == "" {
			return "", fmt.Errorf("sorting cases by score needs a combination")
		}
		return "score " + dir + " NULLS LAST, " + id + " ASC", nil
	}
	return "", fmt.Errorf("cases sort by %s, %s or %s, not %q", CaseSortFailed, CaseSortID, CaseSortScore, q.Sort)
}

// LikePattern is text as a LIKE pattern that matches it anywhere, with the
// wildcards in it escaped by backslash.
func LikePattern(text string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(text) + "%"
}

// Path is a path into a JSON value: object keys and array indexes.
type Path []PathStep

// PathStep is one step of a Path: a key, or an index when IsIndex is set.
type PathStep struct {
	Key     string
	Index   int
	IsIndex bool
}

// ParsePath reads a JSONPath that names one value — $, .key, ['key'] and
// [index] steps, as evaluators' paths do — and refuses wildcards, filters,
// slices and recursive descent, which name many.
func ParsePath(s string) (Path, error) {
	bad := func(why string) (Path, error) { return nil, fmt.Errorf("path %q: %s", s, why) }
	if !strings.HasPrefix(s, "$") {
		return bad("must start with $")
	}
	p := Path{} // "$" is the whole value, not no path
	rest := s[1:]
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, ".."):
			return bad("recursive descent (..) names many values; name one")
		case rest[0] == '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			key := rest[1 : 1+end]
			if key == "" || key == "*" {
				return bad("a key is missing after '.', or is a wildcard")
			}
			p = append(p, PathStep{Key: key})
			rest = rest[1+end:]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return bad("a '[' is not closed")
			}
			inner := strings.TrimSpace(rest[1:end])
			if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				key := inner[1 : len(inner)-1]
				if strings.ContainsAny(key, `"'\`) {
					return bad("quotes and backslashes in keys are not supported")
				}
				p = append(p, PathStep{Key: key})
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return bad("[" + inner + "] is not a key in quotes or an index ≥ 0")
				}
				p = append(p, PathStep{Index: n, IsIndex: true})
			}
			rest = rest[end+1:]
		default:
			return bad("expected '.' or '[' at " + strconv.Quote(rest))
		}
	}
	for _, st := range p {
		if strings.ContainsAny(st.Key, `"'\`) {
			return bad("quotes and backslashes in keys are not supported")
		}
	}
	return p, nil
}

// String writes the path back as JSONPath, keys that are not plain words in
// brackets.
func (p Path) String() string {
	var b strings.Builder
	b.WriteByte('$')
	for _, st := range p {
		switch {
		case st.IsIndex:
			fmt.Fprintf(&b, "[%d]", st.Index)
		case plainKey(st.Key):
			b.WriteString("." + st.Key)
		default:
			b.WriteString("['" + st.Key + "']")
		}
	}
	return b.String()
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// SQLitePath is the path in SQLite's JSON path syntax, every key quoted.
func (p Path) SQLitePath() string {
	var b strings.Builder
	b.WriteByte('$')
	for _, st := range p {
		if st.IsIndex {
			fmt.Fprintf(&b, "[%d]", st.Index)
		} else {
			b.WriteString(`."` + st.Key + `"`)
		}
	}
	return b.String()
}

// Steps is the path as PostgreSQL's #> operator takes it: keys and indexes
// as text.
func (p Path) Steps() []string {
	out := make([]string, len(p))
	for i, st := range p {
		if st.IsIndex {
			out[i] = strconv.Itoa(st.Index)
		} else {
			out[i] = st.Key
		}
	}
	return out
}

// Find returns the value at p in a JSON document, and whether there is one.
func (p Path) Find(doc json.RawMessage) (json.RawMessage, bool) {
	cur := doc
	for _, st := range p {
		if st.IsIndex {
			var arr []json.RawMessage
			if json.Unmarshal(cur, &arr) != nil || st.Index >= len(arr) {
				return nil, false
			}
			cur = arr[st.Index]
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil {
			return nil, false
		}
		next, ok := obj[st.Key]
		if !ok {
			return nil, false
		}
		cur = next
	}
	if len(bytes.TrimSpace(cur)) == 0 {
		return nil, false
	}
	return cur, true
}
