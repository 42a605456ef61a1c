package application

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
	"github.com/wtbench/wtb/host/internal/store/storetest"
)

// storeBatch writes a batch of 2 combinations × 30 cases whose scores are
// drawn around the given means.
func storeBatch(t *testing.T, st store.Store, id string, seed uint64, means map[string]float64) {
	t.Helper()
	ctx := context.Background()
	b := &spec.Batch{Name: "cmp", Repeat: 1}
	for _, c := range []string{"a=x", "a=y"} {
		b.Combinations = append(b.Combinations, spec.Combination{Name: c})
	}
	for i := 0; i < 30; i++ {
		b.Cases = append(b.Cases, spec.Case{ID: fmt.Sprintf("c%02d", i)})
	}
	rec := storetest.NewBatch(id)
	rec.Spec, _ = json.Marshal(b)
	if err := st.Batches().Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	var rs []store.Result
	for _, c := range b.Combinations {
		for i, cs := range b.Cases {
			// A case's difficulty is shared by both batches (the pairing the
			// test exploits); the noise is not.
			difficulty := float64(i%10)/10 - 0.45
			score := means[c.Name] + difficulty + rng.NormFloat64()*0.05
			r := storetest.NewResult(id, spec.ExecutionKey(c.Name, cs.ID, 0))
			r.Combination, r.CaseID, r.OverallScore = c.Name, cs.ID, score
			rs = append(rs, r)
		}
	}
	if err := st.Write(ctx, store.WriteSet{Results: rs}); err != nil {
		t.Fatal(err)
	}
}

// A drop larger than the tolerance is a regression only when the paired test
// finds it significant; a significant drop smaller than the tolerance is not.
func TestCompareFlagsOnlySignificantDrops(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storeBatch(t, st, "A", 1, map[string]float64{"a=x": 0.6, "a=y": 0.6})
	storeBatch(t, st, "B", 2, map[string]float64{"a=x": 0.5, "a=y": 0.58})
	c, err := Compare(context.Background(), st, "A", "B", CompareOptions{Tolerance: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]ComboDelta{}
	for _, d := range c.Combinations {
		by[d.Combination] = d
	}
	x, y := by["a=x"], by["a=y"]
	if !x.Regression || x.Paired.N != 30 || x.P >= 0.001 || x.Paired.CI.Hi >= -0.05 {
		t.Errorf("a drop of 0.1 on 30 paired cases: %+v", x)
	}
	if y.Regression {
		t.Errorf("a drop of 0.02 is within the tolerance, significant or not: %+v", y)
	}
	if c.Regressions != 1 {
		t.Errorf("%d regressions, want 1", c.Regressions)
	}
	// Latency as the leaderboards have it (every execution took 12.5 ms);
	// cost is not recorded, which is not 0.
	if x.P50A == nil || *x.P50A != 12.5 || x.P95B == nil || *x.P95B != 12.5 || x.P50Delta == nil || *x.P50Delta != 0 ||
		x.CostA != nil || x.CostB != nil || x.CostDelta != nil {
		t.Errorf("latency and cost: %+v", x)
	}
	if c.CasesChanged != 60 || len(c.CaseDeltas) != 0 {
		t.Errorf("every paired score changed: %d counted, %d listed without Cases", c.CasesChanged, len(c.CaseDeltas))
	}
	// At an alpha nothing meets, no drop is a regression, however large.
	noisy, _ := Compare(context.Background(), st, "A", "B", CompareOptions{Tolerance: 0.05, Alpha: 1e-12})
	if noisy.Regressions != 0 {
		t.Errorf("at alpha 1e-12 nothing is significant, yet %d regressions", noisy.Regressions)
	}
	w, _ := Compare(context.Background(), st, "A", "B", CompareOptions{Tolerance: 0.05, Test: TestWilcoxon})
	for _, d := range w.Combinations {
		if d.Combination == "a=x" && (d.P != d.Paired.PW || !d.Regression) {
			t.Errorf("wilcoxon: %+v", d)
		}
	}
	if _, err := Compare(context.Background(), st, "A", "B", CompareOptions{Test: "z"}); err == nil {
		t.Error("an unknown test must be refused")
	}
}

// Evaluators line up by name: a changed weight leaves an evaluator's own
// scores comparable (not the overall score); changed settings do not.
func TestDiffEvaluators(t *testing.T) {
	a := []spec.Evaluator{{Name: "x", Type: "equals", Path: "$.a", Weight: 3}, {Name: "y", Type: "regex", Pattern: "^a"}, {Name: "z", Type: "latency", MaxMs: 100}}
	b := []spec.Evaluator{{Name: "x", Type: "equals", Path: "$.a", Weight: 1}, {Name: "y", Type: "regex", Pattern: "^b"}, {Name: "w", Type: "contains"}}
	diffs, same := diffEvaluators(a, b, "/a", "/b")
	if same || len(diffs) != 4 {
		t.Fatalf("%v %+v", same, diffs)
	}
	want := []struct {
		name, status string
		comparable   bool
		changes      string
	}{
		{"x", EvaluatorChanged, true, "weight 3 → 1"},
		{"y", EvaluatorChanged, false, "pattern ^a → ^b"},
		{"z", EvaluatorOnlyA, false, ""},
		{"w", EvaluatorOnlyB, false, ""},
	}
	for i, w := range want {
		d := diffs[i]
		if d.Name != w.name || d.Status != w.status || d.Comparable != w.comparable || strings.Join(d.Changes, "; ") != w.changes {
			t.Errorf("%d: %+v, want %+v", i, d, w)
		}
	}
	if _, same := diffEvaluators(a, a, "/a", "/b"); !same {
		t.Error("the same evaluators compare")
	}
	// A scorer under the bench file's directory is the same scorer in
	// another checkout; another scorer is not.
	scorer := func(dir, script string) []spec.Evaluator {
		return []spec.Evaluator{{Name: "judge", Type: "command", Command: []string{"python3", dir + "/" + script}, Weight: 1}}
	}
	if diffs, same := diffEvaluators(scorer("/home/me/repo", "judge.py"), scorer("/ci/work/repo", "judge.py"), "/home/me/repo", "/ci/work/repo"); !same {
		t.Errorf("the same scorer checked out elsewhere: %+v", diffs)
	}
	if diffs, _ := diffEvaluators(scorer("/r", "judge.py"), scorer("/r", "judge2.py"), "/r", "/r"); len(diffs) != 1 || !strings.Contains(strings.Join(diffs[0].Changes, ""), "command python3 ./judge.py → python3 ./judge2.py") {
		t.Errorf("another scorer: %+v", diffs)
	}
}
