package eval

import (
	"fmt"
	"sync"
)

// coverage counts, over the executions an Evaluator scores, how often each
// evaluator found nothing to compare. A path that names nothing — a typo,
// $.expect for $.expected — scores every execution 0 without failing
// anything; these counts are how a run finds out and says so.
type coverage struct {
	mu        sync.Mutex
	succeeded int
	missing   map[gapKey]int
}

type gapKey struct{ evaluator, attribute string }

func (c *coverage) add(success bool, missing map[string]string) {
	if !success {
		return // a failed execution scores 0 on everything: nothing was looked up
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.succeeded++
	for name, attr := range missing {
		if c.missing == nil {
			c.missing = map[gapKey]int{}
		}
		c.missing[gapKey{name, attr}]++
	}
}

// Gap is an evaluator whose path found nothing to compare in most of the
// successful executions it scored.
type Gap struct {
	Evaluator string
	// Attribute is the path that selected nothing: "path" (looked up in the
	// final state, or in Node's output) or "expect" (looked up in the case).
	Attribute string
	Path      string
	Node      string
	// Executions is how many of Of successful executions it found nothing in.
	Executions, Of int
}

// String says what happened and where to look.
func (g Gap) String() string {
	where := "in the final state"
	if g.Node != "" {
		where = "in node " + g.Node + "'s output"
	}
	if g.Attribute == "expect" {
		where = "in the case (an expect path looks in expected, input and case.id)"
	}
	return fmt.Sprintf("evaluator %q found nothing to compare in %d of %d successful executions: %s %q selects nothing %s, so it scored 0 there",
		g.Evaluator, g.Executions, g.Of, g.Attribute, g.Path, where)
}

// Gaps lists the evaluators that found nothing to compare in more than half
// of the successful executions scored so far — "most", where it is a mistake
// in the bench file or the cases rather than a few odd outputs — ordered by
// evaluator as declared.
func (e *Evaluator) Gaps() []Gap {
	e.coverage.mu.Lock()
	defer e.coverage.mu.Unlock()
	var out []Gap
	for _, ev := range e.evs {
		for _, attr := range []string{"path", "expect"} {
			n := e.coverage.missing[gapKey{ev.Name, attr}]
			if n == 0 || 2*n <= e.coverage.succeeded {
				continue
			}
			g := Gap{Evaluator: ev.Name, Attribute: attr, Path: ev.Path, Node: ev.Node, Executions: n, Of: e.coverage.succeeded}
			if attr == "expect" {
				g.Path = ev.expStr
			}
			out = append(out, g)
		}
	}
	return out
}
