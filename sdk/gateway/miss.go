package gateway

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wtbench/wtb/sdk"
)

// MissError says a replayed node made a call no recording matches, and shows
// how it differs from the nearest recorded call.
type MissError struct {
	Node    string
	Request sdk.Interaction
	Nearest *sdk.Interaction
	// Recorded is how many calls were recorded for this node run.
	Recorded int
	Origin   string
	Diff     string
}

func (m *MissError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "replay miss: node %q made a model call that no recording matches: call #%d, %s %s %s",
		m.Node, m.Request.Ordinal, m.Request.Method, m.Request.Upstream, pathAndQuery(m.Request.Path, m.Request.Query))
	switch {
	case m.Recorded == 0 && m.Nearest == nil:
		b.WriteString("; nothing was recorded for this node run")
		if m.Origin != "" {
			fmt.Fprintf(&b, " in %s", m.Origin)
		}
		b.WriteString(" (record it first: --model-calls record or auto)")
	case m.Nearest != nil:
		if m.Recorded == 0 {
			b.WriteString("; nothing was recorded for this node run (its identity — case, repeat, configuration, scripts — changed?)")
		}
		fmt.Fprintf(&b, "; the nearest recorded call is #%d, %s %s %s", m.Nearest.Ordinal, m.Nearest.Method, m.Nearest.Upstream,
			pathAndQuery(m.Nearest.Path, m.Nearest.Query))
		if m.Origin != "" {
			fmt.Fprintf(&b, ", in %s", m.Origin)
		}
		if m.Diff != "" {
			fmt.Fprintf(&b, "; what differs (- recorded, + now):\n%s", m.Diff)
		} else {
			b.WriteString("; it is the same request, recorded fewer times than it was made now (identical calls replay in order)")
		}
	}
	b.WriteString("\nno live call was made; re-record with --model-calls record (or auto), or list a field that may change in ignore_json_paths")
	return b.String()
}

func pathAndQuery(p, q string) string {
	if q == "" {
		return p
	}
	return p + "?" + q
}

// maxDiffLines bounds the diff a miss shows.
const maxDiffLines = 40

// newMiss builds the error for request x: the nearest recording is the one
// of this run, or failing that of another run of the node, that agrees on the
// most (method, upstream, path first; then the body).
func (r *Run) newMiss(x sdk.Interaction) *MissError {
	m := &MissError{Node: r.node, Request: x}
	var pool []sdk.Interaction
	if r.rec != nil {
		m.Recorded, m.Origin = len(r.rec.Interactions), r.rec.Origin
		pool = append(pool, r.rec.Interactions...)
		if len(pool) == 0 {
			pool = append(pool, r.rec.Nearest...)
		}
	}
	best, bestScore := -1, -1
	for i := range pool {
		if s := r.similarity(x, pool[i]); s > bestScore {
			best, bestScore = i, s
		}
	}
	if best >= 0 {
		near := pool[best]
		m.Nearest = &near
		m.Diff = r.diff(near, x)
	}
	return m
}

// similarity ranks a recorded call against a request: same route first,
// then fewer differences in the body.
func (r *Run) similarity(x, rec sdk.Interaction) int {
	s := 0
	if rec.Method == x.Method && rec.Upstream == x.Upstream && rec.Path == x.Path {
		s += 1 << 20
	}
	if rec.Ordinal == x.Ordinal {
		s += 1 << 10
	}
	lines := strings.Count(r.diff(rec, x), "\n")
	return s - min(lines, 1<<10-1)
}

// diff shows how request x differs from recorded call rec, on what matching
// compares (ignored paths left out): a line diff of the two requests written
// out as method, path, query, matched headers and the body as indented JSON.
func (r *Run) diff(rec, x sdk.Interaction) string {
	return lineDiff(r.describe(rec), r.describe(x), maxDiffLines)
}

// describe writes out a request as matching sees it, one fact per line.
func (r *Run) describe(i sdk.Interaction) []string {
	lines := []string{i.Method + " " + i.Upstream + " " + i.Path}
	if q := canonicalQuery(i.Query); q != "" {
		lines = append(lines, "query: "+q)
	}
	for _, h := range r.matcher.headers {
		lines = append(lines, "header "+h+": "+i.RequestHeaders[h])
	}
	body := r.matcher.canonicalBody(i.RequestBody)
	if v, ok := decodeJSON(body); ok {
		if pretty, err := json.MarshalIndent(v, "", "  "); err == nil {
			body = pretty
		}
	}
	if len(body) > 0 {
		lines = append(lines, strings.Split(string(body), "\n")...)
	}
	return lines
}

// lineDiff is a unified-style diff of a and b (- a, + b) with two lines of
// context, cut at max lines. Requests are small; the quadratic LCS is fine up
// to a few thousand lines, and beyond that only the first differing line is
// shown.
func lineDiff(a, b []string, max int) string {
	const limit = 4000
	if len(a) > limit || len(b) > limit {
		for i := 0; i < len(a) && i < len(b); i++ {
			if a[i] != b[i] {
				return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, a[i], b[i])
			}
		}
		return fmt.Sprintf("one is longer (%d lines, %d lines)", len(a), len(b))
	}
	// lcs[i][j]: the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max2(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
	}
	var ops []op
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', a[i]})
			i++
		default:
			ops = append(ops, op{'+', b[j]})
			j++
		}
	}
	const context = 2
	show := make([]bool, len(ops))
	changed := false
	for k, o := range ops {
		if o.kind != ' ' {
			changed = true
			for c := max2(0, k-context); c <= k+context && c < len(ops); c++ {
				show[c] = true
			}
		}
	}
	if !changed {
		return ""
	}
	var out []string
	skipped := false
	for k, o := range ops {
		if !show[k] {
			skipped = true
			continue
		}
		if skipped && len(out) > 0 {
			out = append(out, "  …")
		}
		skipped = false
		out = append(out, string(o.kind)+" "+o.text)
	}
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("  … %d more lines", len(out)-max))
	}
	return strings.Join(out, "\n")
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}
