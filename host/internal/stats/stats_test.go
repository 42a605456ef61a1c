package stats

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

type vectors struct {
	TQuantiles []struct{ P, Df, Q float64 } `json:"t_quantiles"`
	Paired     []struct {
		Name     string
		A, B     []float64
		T        float64 `json:"t"`
		TP       float64 `json:"t_p"`
		MeanDiff float64 `json:"mean_diff"`
		CILo     float64 `json:"ci_lo"`
		CIHi     float64 `json:"ci_hi"`
		W        *float64
		WP       *float64 `json:"w_p"`
	} `json:"paired"`
	Wilson []struct {
		K, N   int
		Lo, Hi float64
	} `json:"wilson"`
	MeanCI []struct {
		X            []float64
		Mean, Lo, Hi float64
	} `json:"mean_ci"`
}

func load(t *testing.T) vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/scipy_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, SciPy says %.12g", what, got, want)
	}
}

func TestAgainstSciPy(t *testing.T) {
	v := load(t)
	for _, q := range v.TQuantiles {
		near(t, "t quantile", TQuantile(q.P, q.Df), q.Q, 1e-9)
	}
	for _, w := range v.Wilson {
		ci := Wilson(w.K, w.N, 0.95)
		near(t, "Wilson lo", ci.Lo, math.Max(0, w.Lo), 1e-9)
		near(t, "Wilson hi", ci.Hi, math.Min(1, w.Hi), 1e-9)
	}
	for _, m := range v.MeanCI {
		mean, ci, ok := MeanCI(m.X, 0.95)
		if !ok {
			t.Fatal("no interval")
		}
		near(t, "mean", mean, m.Mean, 1e-12)
		near(t, "mean CI lo", ci.Lo, m.Lo, 1e-9)
		near(t, "mean CI hi", ci.Hi, m.Hi, 1e-9)
	}
	for _, p := range v.Paired {
		got := PairedTest(p.A, p.B, 0.95)
		near(t, p.Name+": mean difference", got.MeanDiff, p.MeanDiff, 1e-12)
		near(t, p.Name+": t", got.T, p.T, 1e-9)
		near(t, p.Name+": t p-value", got.PT, p.TP, 1e-8)
		near(t, p.Name+": CI lo", got.CI.Lo, p.CILo, 1e-9)
		near(t, p.Name+": CI hi", got.CI.Hi, p.CIHi, 1e-9)
		if p.W != nil {
			near(t, p.Name+": W", got.W, *p.W, 1e-12)
			near(t, p.Name+": W p-value", got.PW, *p.WP, 1e-8)
		}
	}
}

func TestEdgeCases(t *testing.T) {
	if _, _, ok := MeanCI([]float64{0.5}, 0.95); ok {
		t.Error("one value has no interval")
	}
	if ci := Wilson(0, 0, 0.95); ci.Lo != 0 || ci.Hi != 1 {
		t.Errorf("no trials: %v", ci)
	}
	same := PairedTest([]float64{0.5, 0.5, 0.5}, []float64{0.5, 0.5, 0.5}, 0.95)
	if same.PT != 1 || same.PW != 1 || same.MeanDiff != 0 {
		t.Errorf("identical samples: %+v", same)
	}
	shift := PairedTest([]float64{0, 0, 0}, []float64{0.1, 0.1, 0.1}, 0.95)
	if shift.PT != 0 || !math.IsInf(shift.T, 1) {
		t.Errorf("a constant shift is certain: %+v", shift)
	}
}
