// Package adapt decides, while a batch runs, which combinations need no more
// executions: adaptive repeats stop a combination once its mean is known well
// enough, racing stops one that is worse than the best. The scheduler tells
// it what it planned and what was scored; the planner asks it which
// combinations to leave out of the groups it has not planned yet.
//
// Order matters: the planner goes round by round (repeat 0 over every case,
// then repeat 1, ...), so a round is a complete pass over the cases and
// racing sees every combination on the same cases as it goes.
package adapt

import (
	"fmt"
	"github.com/wtbench/wtb/host/internal/numfmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/stats"
	"github.com/wtbench/wtb/host/internal/store"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Controller holds one batch's evidence and decisions. Its methods are safe
// for concurrent use.
type Controller struct {
	b        *spec.Batch
	nCases   int
	combos   []string
	maxLooks int
	// OnDecision is told each new decision (outside the lock).
	onDecision func(store.Decision)

	mu        sync.Mutex
	state     map[string]*combo
	decisions map[string]*store.Decision
	order     []string // combinations in the order they were decided
	rounds    map[int]*round
	groups    map[groupKey]*group
	looks     int
}

type combo struct {
	all     []float64            // every overall score, for adaptive repeats
	perCase map[string][]float64 // case → scores, for racing
	done    map[int]int          // round → executions scored in this run
	rounds  int                  // rounds completed, in order
}

type round struct {
	planned  bool           // every group of the round is planned
	expected map[string]int // combination → executions planned in the round
}

type groupKey struct {
	caseID string
	repeat int
}

type group struct{ expected, scored int }

// New returns a controller for b, or nil when b has neither adaptive repeats
// nor racing. onDecision may be nil.
func New(b *spec.Batch, onDecision func(store.Decision)) *Controller {
	if b.Adaptive == nil && b.Racing == nil {
		return nil
	}
	c := &Controller{b: b, nCases: len(b.Cases), onDecision: onDecision, state: map[string]*combo{},
		decisions: map[string]*store.Decision{}, rounds: map[int]*round{}, groups: map[groupKey]*group{}}
	for _, cb := range b.Combinations {
		c.combos = append(c.combos, cb.Name)
		c.state[cb.Name] = &combo{perCase: map[string][]float64{}, done: map[int]int{}}
	}
	if r := b.Racing; r != nil {
		// A look can come after each (case × repeat) group once MinCases cases
		// are in: at most this many.
		c.maxLooks = max(1, len(b.Cases)*b.Repeat-r.MinCases+1)
	}
	return c
}

// Restore brings back what an earlier run of the batch decided and scored
// (resume): its decisions stand, its scores count as evidence.
func (c *Controller) Restore(ds []store.Decision, results func(fn func(r *store.Result) error) error) error {
	c.mu.Lock()
	for i := range ds {
		d := ds[i]
		d.Skipped = 0 // counted again as this run's planner leaves them out
		c.decisions[d.Combination] = &d
		c.order = append(c.order, d.Combination)
	}
	c.mu.Unlock()
	return results(func(r *store.Result) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if s := c.state[r.Combination]; s != nil {
			s.all = append(s.all, r.OverallScore)
			s.perCase[r.CaseID] = append(s.perCase[r.CaseID], r.OverallScore)
		}
		return nil
	})
}

// Skip reports whether the planner leaves combination out of the groups it
// plans from now on, and counts what that saves.
func (c *Controller) Skip(combination string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.decisions[combination]
	if d == nil || d.Kind == store.DecisionMaxRepeats {
		return false
	}
	d.Skipped++
	return true
}

// Planned tells the controller what a group holds: combinations planned for
// case caseID and repeat; lastOfRound says every group of that repeat is now
// planned.
func (c *Controller) Planned(caseID string, repeat int, combinations []string, lastOfRound bool) {
	var decided []store.Decision
	defer func() {
		if c.onDecision != nil {
			for _, d := range decided {
				c.onDecision(d)
			}
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.round(repeat)
	for _, name := range combinations {
		r.expected[name]++
	}
	if len(combinations) > 0 {
		c.groups[groupKey{caseID, repeat}] = &group{expected: len(combinations)}
	}
	if lastOfRound {
		r.planned = true
	}
	// A round may be complete already for combinations with nothing planned.
	c.decideRounds(&decided)
}

func (c *Controller) round(repeat int) *round {
	r := c.rounds[repeat]
	if r == nil {
		r = &round{expected: map[string]int{}}
		c.rounds[repeat] = r
	}
	return r
}

// Scored tells the controller an execution's overall score.
func (c *Controller) Scored(res *store.Result) {
	var decided []store.Decision
	c.mu.Lock()
	s := c.state[res.Combination]
	if s == nil {
		c.mu.Unlock()
		return
	}
	s.all = append(s.all, res.OverallScore)
	s.perCase[res.CaseID] = append(s.perCase[res.CaseID], res.OverallScore)
	s.done[res.Repeat]++
	c.decideRounds(&decided)
	if g := c.groups[groupKey{res.CaseID, res.Repeat}]; g != nil {
		g.scored++
		if g.scored == g.expected {
			delete(c.groups, groupKey{res.CaseID, res.Repeat})
			c.race(&decided)
		}
	}
	c.mu.Unlock()
	if c.onDecision != nil {
		for _, d := range decided {
			c.onDecision(d)
		}
	}
}

// decideRounds applies adaptive repeats to combinations whose next round is
// complete. Called with the lock held; new decisions are appended to out.
func (c *Controller) decideRounds(out *[]store.Decision) {
	a := c.b.Adaptive
	if a == nil {
		return
	}
	for _, name := range c.combos {
		s := c.state[name]
		for {
			r := c.rounds[s.rounds]
			if r == nil || !r.planned || s.done[s.rounds] < r.expected[name] {
				break
			}
			s.rounds++
			if c.decisions[name] != nil || s.rounds < a.Min {
				continue
			}
			_, ci, ok := stats.MeanCI(s.all, 0.95)
			half := (ci.Hi - ci.Lo) / 2
			switch {
			case ok && half <= a.CIHalfWidth:
				c.decide(out, store.Decision{Combination: name, Kind: store.DecisionConverged, Repeats: s.rounds, CIHalfWidth: half,
					Executions: len(s.all), Reason: fmt.Sprintf("95%% CI half-width %s ≤ %s after %d repeats", numfmt.Score(half), numfmt.Setting(a.CIHalfWidth), s.rounds)})
			case s.rounds >= c.b.Repeat:
				c.decide(out, store.Decision{Combination: name, Kind: store.DecisionMaxRepeats, Repeats: s.rounds, CIHalfWidth: half,
					Executions: len(s.all), Reason: fmt.Sprintf("reached max = %d repeats with a 95%% CI half-width of %s", s.rounds, numfmt.Score(half))})
			}
		}
	}
}

// race looks at the combinations still running: once every one has MinCases
// cases scored in common, each that is worse than the best with the asked
// confidence is pruned. Called with the lock held.
func (c *Controller) race(out *[]store.Decision) {
	r := c.b.Racing
	if r == nil {
		return
	}
	var live []string
	for _, name := range c.combos {
		if d := c.decisions[name]; d == nil || d.Kind == store.DecisionMaxRepeats {
			live = append(live, name)
		}
	}
	if len(live) < 2 {
		return
	}
	var cases []string // scored for every live combination
	for id := range c.state[live[0]].perCase {
		shared := true
		for _, name := range live[1:] {
			if len(c.state[name].perCase[id]) == 0 {
				shared = false
				break
			}
		}
		if shared {
			cases = append(cases, id)
		}
	}
	if len(cases) < r.MinCases {
		return
	}
	sort.Strings(cases)
	c.looks++
	means := map[string][]float64{}
	best, bestMean := "", math.Inf(-1)
	for _, name := range live {
		m := make([]float64, len(cases))
		for i, id := range cases {
			m[i] = stat.Mean(c.state[name].perCase[id], nil)
		}
		means[name] = m
		if avg := stat.Mean(m, nil); avg > bestMean || (avg == bestMean && name < best) {
			best, bestMean = name, avg
		}
	}
	// Bonferroni over every look the batch can make and every rival.
	alpha := (1 - r.Confidence) / float64(c.maxLooks*(len(c.combos)-1))
	n := float64(len(cases))
	for _, name := range live {
		if name == best {
			continue
		}
		d := make([]float64, len(cases))
		for i := range d {
			d[i] = means[name][i] - means[best][i]
		}
		mean, sd := stat.MeanStdDev(d, nil)
		var p, bound float64
		if sd == 0 {
			p, bound = 1, mean
			if mean < 0 {
				p = 0
			}
		} else {
			t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}
			p = t.CDF(mean / (sd / math.Sqrt(n)))
			bound = mean + t.Quantile(1-alpha)*sd/math.Sqrt(n)
		}
		if p < alpha {
			c.decide(out, store.Decision{Combination: name, Kind: store.DecisionPruned, Best: best, Test: "one-sided paired t on per-case means",
				PValue: p, Bound: bound, CasesSeen: len(cases), Repeats: c.state[name].rounds, Executions: len(c.state[name].all),
				Reason: fmt.Sprintf("worse than %s on %d shared cases: mean difference %s, upper bound %s, p = %s < %s (%s confidence, Bonferroni over %d looks × %d rivals)",
					best, len(cases), numfmt.Signed(mean), numfmt.Signed(bound), numfmt.PValue(p), numfmt.PValue(alpha), numfmt.Percent(r.Confidence), c.maxLooks, len(c.combos)-1)})
		}
	}
}

func (c *Controller) decide(out *[]store.Decision, d store.Decision) {
	d.At = time.Now()
	c.decisions[d.Combination] = &d
	c.order = append(c.order, d.Combination)
	if out != nil {
		*out = append(*out, d)
	}
}

// Decisions lists every decision so far (skipped counts up to date), in the
// order they were made.
func (c *Controller) Decisions() []store.Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]store.Decision, 0, len(c.order))
	for _, name := range c.order {
		out = append(out, *c.decisions[name])
	}
	return out
}

// Skipped counts the planned executions the decisions left out.
func Skipped(ds []store.Decision) int {
	n := 0
	for _, d := range ds {
		n += d.Skipped
	}
	return n
}
