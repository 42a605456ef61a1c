package adapt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
)

// simulate runs a batch through the controller the way the scheduler does —
// round by round, each group planned (skipping stopped combinations) then
// scored — with scores drawn around each combination's true mean: a shared
// per-case difficulty plus noise. It returns the executions run.
func simulate(b *spec.Batch, truth map[string]float64, noise float64, seed uint64) (*Controller, int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	difficulty := map[string]float64{}
	for _, cs := range b.Cases {
		difficulty[cs.ID] = rng.Float64()*0.3 - 0.15
	}
	c := New(b, nil)
	run := 0
	for r := 0; r < b.Repeat; r++ {
		for i, cs := range b.Cases {
			var planned []string
			for _, cb := range b.Combinations {
				if !c.Skip(cb.Name) {
					planned = append(planned, cb.Name)
				}
			}
			c.Planned(cs.ID, r, planned, i == len(b.Cases)-1)
			for _, name := range planned {
				score := math.Max(0, math.Min(1, truth[name]+difficulty[cs.ID]+rng.NormFloat64()*noise))
				c.Scored(&store.Result{Combination: name, CaseID: cs.ID, Repeat: r, OverallScore: score})
				run++
			}
		}
	}
	return c, run
}

func batchOf(combos []string, cases, repeat int) *spec.Batch {
	b := &spec.Batch{Repeat: repeat}
	for _, n := range combos {
		b.Combinations = append(b.Combinations, spec.Combination{Name: n})
	}
	for i := 0; i < cases; i++ {
		b.Cases = append(b.Cases, spec.Case{ID: fmt.Sprintf("c%03d", i)})
	}
	return b
}

// Racing keeps the best combination in at least 95 % of seeded runs and saves
// at least 40 % of the executions of the full grid on this setup: six
// combinations 0.05–0.1 apart in true mean, 60 cases, noise 0.1.
func TestRacingKeepsTheBestAndSaves(t *testing.T) {
	truth := map[string]float64{"a": 0.45, "b": 0.5, "c": 0.55, "d": 0.6, "e": 0.65, "best": 0.75}
	names := []string{"a", "b", "c", "d", "e", "best"}
	const runs = 200
	kept, saved := 0, 0.0
	for seed := uint64(1); seed <= runs; seed++ {
		b := batchOf(names, 60, 1)
		b.Racing = &spec.Racing{Confidence: 0.95, MinCases: 10}
		c, run := simulate(b, truth, 0.1, seed)
		full := len(names) * 60
		saved += 1 - float64(run)/float64(full)
		bestPruned := false
		skipped := 0
		for _, d := range c.Decisions() {
			bestPruned = bestPruned || d.Combination == "best"
			skipped += d.Skipped
			if d.Kind != store.DecisionPruned || d.Bound >= 0 || d.CasesSeen < 10 {
				t.Fatalf("seed %d: decision %+v", seed, d)
			}
		}
		if skipped != full-run {
			t.Fatalf("seed %d: decisions count %d skipped, the run skipped %d", seed, skipped, full-run)
		}
		if !bestPruned {
			kept++
		}
	}
	keptRate, savedRate := float64(kept)/runs, saved/runs
	t.Logf("racing kept the best in %.1f%% of %d runs and saved %.1f%% of the executions", 100*keptRate, runs, 100*savedRate)
	if keptRate < 0.95 {
		t.Errorf("the best combination survived %.1f%% of runs, want ≥ 95%%", 100*keptRate)
	}
	if savedRate < 0.40 {
		t.Errorf("racing saved %.1f%% of executions, want ≥ 40%%", 100*savedRate)
	}
}

// Adaptive repeats stop each combination once its 95 % CI half-width is at
// the target (checked after whole rounds, never before min), or at max.
func TestAdaptiveRepeatsStopAtTheTargetWidth(t *testing.T) {
	truth := map[string]float64{"steady": 0.6, "noisy": 0.6}
	b := batchOf([]string{"steady", "noisy"}, 8, 40)
	b.Adaptive = &spec.Adaptive{Min: 3, CIHalfWidth: 0.02}
	rng := rand.New(rand.NewPCG(3, 3))
	c := New(b, nil)
	ran := map[string]int{}
	for r := 0; r < b.Repeat; r++ {
		for i, cs := range b.Cases {
			var planned []string
			for _, cb := range b.Combinations {
				if !c.Skip(cb.Name) {
					planned = append(planned, cb.Name)
				}
			}
			c.Planned(cs.ID, r, planned, i == len(b.Cases)-1)
			for _, name := range planned {
				sd := 0.02
				if name == "noisy" {
					sd = 0.3
				}
				c.Scored(&store.Result{Combination: name, CaseID: cs.ID, Repeat: r, OverallScore: truth[name] + rng.NormFloat64()*sd})
				ran[name]++
			}
		}
	}
	ds := map[string]store.Decision{}
	for _, d := range c.Decisions() {
		ds[d.Combination] = d
	}
	steady, noisy := ds["steady"], ds["noisy"]
	if steady.Kind != store.DecisionConverged || steady.Repeats != 3 || steady.CIHalfWidth > 0.02 || ran["steady"] != 3*8 {
		t.Errorf("steady: %+v, ran %d", steady, ran["steady"])
	}
	if steady.Skipped != (40-3)*8 {
		t.Errorf("steady skipped %d, want %d", steady.Skipped, 37*8)
	}
	if noisy.Kind == store.DecisionConverged && noisy.CIHalfWidth > 0.02 || noisy.Repeats <= 3 {
		t.Errorf("noisy: %+v", noisy)
	}
	if noisy.Kind == store.DecisionConverged && ran["noisy"] != noisy.Repeats*8 {
		t.Errorf("noisy stopped after %d repeats but ran %d executions", noisy.Repeats, ran["noisy"])
	}
}

func TestNoControllerWithoutRules(t *testing.T) {
	if New(batchOf([]string{"a"}, 1, 1), nil) != nil {
		t.Error("a batch without adaptive repeats or racing needs no controller")
	}
}
