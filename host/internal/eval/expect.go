package eval

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/theory/jsonpath"
	jspec "github.com/theory/jsonpath/spec"
	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/suggest"
)

// ExpectCheck is what can be known about an expect path before a run, from
// the cases: whether it can name anything at all, and whether it names
// something in at least one case.
type ExpectCheck struct {
	// BadRoot is the name the path starts with when that is none of
	// ExpectRoots ("expect" in $.expect.label): it can never match.
	BadRoot string
	// Matches counts the cases the path selects something in.
	Matches int
	// Missing is, when it matches no case, the first name that selected
	// nothing, and Have the names there are at that place in the cases.
	Missing string
	Have    []string
	// Suggested is the path probably meant, when there is a close one.
	Suggested string
}

// CheckExpect checks an expect path (which parses) against the roots of
// the expectation document and against the cases.
func CheckExpect(path string, cases []spec.Case) ExpectCheck {
	var out ExpectCheck
	p, err := jsonpath.Parse(path)
	if err != nil {
		return out
	}
	segs := p.Query().Segments()
	names := childNames(segs)
	if len(segs) > 0 && len(names) > 0 && !slices.Contains(ExpectRoots, names[0]) {
		out.BadRoot = names[0]
		if best := suggest.Closest(names[0], ExpectRoots); best != "" {
			out.Suggested = rebuild(append([]string{best}, names[1:]...), len(names) == len(segs))
		}
		return out
	}
	docs := make([]any, len(cases))
	for i, c := range cases {
		docs[i] = ExpectationDoc(c)
		if len(p.Select(docs[i])) > 0 {
			out.Matches++
		}
	}
	if out.Matches > 0 || len(cases) == 0 {
		return out
	}
	// Walk the path a segment at a time to the first one that selects nothing
	// in every case, and list what there is at that place instead.
	for k := 1; k <= len(segs); k++ {
		var here []any
		for _, d := range docs {
			here = append(here, jspec.Query(true, segs[:k]...).Select(nil, d)...)
		}
		if len(here) > 0 {
			continue
		}
		if k > len(names) {
			return out // an index, a wildcard or a filter selected nothing
		}
		out.Missing = names[k-1]
		keys := map[string]bool{}
		for _, d := range docs {
			for _, v := range jspec.Query(true, segs[:k-1]...).Select(nil, d) {
				if m, ok := v.(map[string]any); ok {
					for key := range m {
						keys[key] = true
					}
				}
			}
		}
		for key := range keys {
			out.Have = append(out.Have, key)
		}
		sort.Strings(out.Have)
		fixed := append([]string{}, names...)
		switch {
		case k == 2 && names[0] == "case" && (out.Missing == "input" || out.Missing == "expected"):
			// $.case.input.q: input and expected are roots of their own.
			fixed = fixed[1:]
		default:
			best := suggest.Closest(out.Missing, out.Have)
			if best == "" {
				return out
			}
			fixed[k-1] = best
		}
		out.Suggested = rebuild(fixed, len(names) == len(segs))
		return out
	}
	return out
}

// childNames are the member names of the path's leading child segments that
// select one name each ($.expected.label → expected, label).
func childNames(segs []*jspec.Segment) []string {
	var out []string
	for _, s := range segs {
		sels := s.Selectors()
		if s.IsDescendant() || len(sels) != 1 {
			break
		}
		n, ok := sels[0].(jspec.Name)
		if !ok {
			break
		}
		out = append(out, string(n))
	}
	return out
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// rebuild writes a path of member names; whole says the names are all of it
// (else there is no path to suggest, only the name).
func rebuild(names []string, whole bool) string {
	if !whole {
		return ""
	}
	var b strings.Builder
	b.WriteString("$")
	for _, n := range names {
		if identifier.MatchString(n) {
			b.WriteString("." + n)
		} else {
			b.WriteString("[" + jspec.Name(n).String() + "]")
		}
	}
	return b.String()
}
