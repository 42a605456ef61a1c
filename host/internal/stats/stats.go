// Package stats holds the statistics WTB's verdicts rest on: Student-t
// intervals, Wilson intervals for pass rates, and paired tests (t and
// Wilcoxon signed-rank) for comparing combinations on the same cases. The
// distributions come from gonum; test vectors computed with SciPy pin every
// function (testdata/scipy_vectors.json).
package stats

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// TQuantile is Student's t quantile: P(T ≤ q) = p with df degrees of freedom.
func TQuantile(p, df float64) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(p)
}

// Interval is a confidence interval.
type Interval struct{ Lo, Hi float64 }

// MeanCI is the mean of xs and its two-sided confidence interval at level
// (0.95 for 95 %), from Student's t with n−1 degrees of freedom:
// mean ± t(1−(1−level)/2, n−1)·s/√n. ok is false with fewer than two values.
func MeanCI(xs []float64, level float64) (mean float64, ci Interval, ok bool) {
	n := len(xs)
	if n == 0 {
		return 0, Interval{}, false
	}
	mean = stat.Mean(xs, nil)
	if n < 2 {
		return mean, Interval{mean, mean}, false
	}
	half := TQuantile(1-(1-level)/2, float64(n-1)) * stat.StdDev(xs, nil) / math.Sqrt(float64(n))
	return mean, Interval{mean - half, mean + half}, true
}

// Wilson is the Wilson score interval for k successes in n trials at level:
// (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n). Unlike p̂ ± z·√(p̂(1−p̂)/n)
// it stays inside [0, 1] and is not empty at 0 or n successes.
func Wilson(k, n int, level float64) Interval {
	if n == 0 {
		return Interval{0, 1}
	}
	z := distuv.UnitNormal.Quantile(1 - (1-level)/2)
	nf := float64(n)
	p := float64(k) / nf
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return Interval{math.Max(0, center-half), math.Min(1, center+half)}
}

// Paired is a paired comparison of two samples on the same units (cases):
// the differences d = b − a.
type Paired struct {
	N        int
	MeanDiff float64
	// CI is the confidence interval of the mean difference (Student's t).
	CI Interval
	// T and PT are the paired t statistic and its two-sided p-value
	// (scipy.stats.ttest_rel).
	T, PT float64
	// W and PW are the Wilcoxon signed-rank statistic (the smaller rank sum,
	// zero differences dropped) and its two-sided p-value, as
	// scipy.stats.wilcoxon's method "auto" computes it: exact for at most 50
	// differences without ties or zeros; over every sign assignment for at
	// most 13 with them; else the normal approximation with the tie
	// correction.
	W, PW float64
}

// PairedTest compares b against a, unit by unit (len(a) == len(b)), at level
// for the interval.
func PairedTest(a, b []float64, level float64) Paired {
	n := len(a)
	d := make([]float64, n)
	for i := range a {
		d[i] = b[i] - a[i]
	}
	p := Paired{N: n, PT: 1, PW: 1}
	if n == 0 {
		return p
	}
	p.MeanDiff, p.CI, _ = MeanCI(d, level)
	if n >= 2 {
		sd := stat.StdDev(d, nil)
		switch {
		case sd > 0:
			p.T = p.MeanDiff / (sd / math.Sqrt(float64(n)))
			p.PT = 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Survival(math.Abs(p.T))
		case p.MeanDiff != 0: // every difference the same, not zero
			p.T, p.PT = math.Copysign(math.Inf(1), p.MeanDiff), 0
		}
	}
	p.W, p.PW = wilcoxon(d)
	return p
}

// wilcoxon is the two-sided signed-rank test on differences d.
func wilcoxon(d []float64) (w, pvalue float64) {
	var nz []float64
	for _, x := range d {
		if x != 0 {
			nz = append(nz, x)
		}
	}
	n := len(nz)
	if n == 0 {
		return 0, 1
	}
	sort.Slice(nz, func(i, j int) bool { return math.Abs(nz[i]) < math.Abs(nz[j]) })
	ranks := make([]float64, n)
	ties := false
	var tieTerm float64
	for i := 0; i < n; {
		j := i
		for j+1 < n && math.Abs(nz[j+1]) == math.Abs(nz[i]) {
			j++
		}
		r := float64(i+j)/2 + 1 // average rank, 1-based
		for k := i; k <= j; k++ {
			ranks[k] = r
		}
		if t := float64(j - i + 1); t > 1 {
			ties = true
			tieTerm += t*t*t - t
		}
		i = j + 1
	}
	var plus, minus float64
	for i, x := range nz {
		if x > 0 {
			plus += ranks[i]
		} else {
			minus += ranks[i]
		}
	}
	w = math.Min(plus, minus)
	switch {
	case len(d) <= 50 && !ties && len(nz) == len(d):
		return w, math.Min(1, 2*exactSignedRankCDF(n, w))
	case len(d) <= 13:
		// Ties or zeros: the exact distribution of the rank sum over every
		// assignment of signs to these ranks (at most 2^13).
		return w, signFlipP(ranks, plus)
	}
	nf := float64(n)
	mean := nf * (nf + 1) / 4
	sd := math.Sqrt(nf*(nf+1)*(2*nf+1)/24 - tieTerm/48)
	if sd == 0 {
		return w, 1
	}
	z := (w - mean) / sd
	return w, math.Min(1, 2*distuv.UnitNormal.CDF(z))
}

// signFlipP is the two-sided p-value of the positive rank sum plus over all
// 2^n sign assignments to ranks.
func signFlipP(ranks []float64, plus float64) float64 {
	n := len(ranks)
	total := 1 << n
	var le, ge int
	const eps = 1e-9
	for mask := 0; mask < total; mask++ {
		var s float64
		for i, r := range ranks {
			if mask&(1<<i) != 0 {
				s += r
			}
		}
		if s <= plus+eps {
			le++
		}
		if s >= plus-eps {
			ge++
		}
	}
	return math.Min(1, 2*float64(min(le, ge))/float64(total))
}

// exactSignedRankCDF is P(W ≤ w) for the signed-rank statistic of n
// differences without ties: the number of subsets of {1..n} with sum ≤ w,
// over 2^n.
func exactSignedRankCDF(n int, w float64) float64 {
	maxSum := n * (n + 1) / 2
	counts := make([]float64, maxSum+1)
	counts[0] = 1
	for r := 1; r <= n; r++ {
		for s := maxSum; s >= r; s-- {
			counts[s] += counts[s-r]
		}
	}
	var below float64
	for s := 0; s <= int(math.Floor(w)) && s <= maxSum; s++ {
		below += counts[s]
	}
	return below / math.Pow(2, float64(n))
}
