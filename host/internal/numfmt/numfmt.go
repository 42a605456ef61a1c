// Package numfmt writes numbers for people: one way to write a pass rate, a
// score, a p-value, a duration and a date everywhere the command line prints
// one. The viewer's JavaScript applies the same rule, so a figure reads the
// same in a terminal and in a browser; machine-readable output (--format json,
// CSV, JUnit) keeps raw numbers and never comes through here.
//
// Rounding is half away from zero on the exact value of the float64, which is
// what JavaScript's Number.prototype.toFixed, toPrecision and toExponential do
// (fmt's verbs round exact ties to even: 0.0625 → "0.062" where the browser
// shows "0.063").
package numfmt

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Dash stands for a figure that does not exist (a combination one batch did
// not run, a test with fewer than two pairs).
const Dash = "—"

// Percent writes a fraction as a whole percent: 10/16 → "63%". The product
// 100·x is taken in float64, then rounded half away from zero (JavaScript's
// Math.round(100*x) for the non-negative fractions this is for).
func Percent(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Dash
	}
	return strconv.FormatFloat(math.Round(100*x)+0, 'f', 0, 64) + "%" // +0: no "-0%"
}

// Score writes a score or a mean with three decimals: "0.625".
func Score(x float64) string { return Fixed(x, 3) }

// Signed writes a difference of scores with three decimals and its sign:
// "+0.104", "-0.200"; one that rounds to zero has none: "0.000".
func Signed(x float64) string {
	s := Fixed(x, 3)
	switch {
	case isZero(s):
		return strings.TrimPrefix(s, "-")
	case strings.HasPrefix(s, "-"):
		return s
	}
	return "+" + s
}

// PValue writes a p-value with two significant digits: as a plain decimal
// from 0.001 up ("0.42", "0.031", "0.0012", "0.50"), in scientific notation
// below without padding the exponent ("6.1e-7"); exactly 1 is "1" and exactly
// 0 (a test whose differences are all equal) is "0".
func PValue(p float64) string {
	switch {
	case math.IsNaN(p):
		return Dash
	case p == 1:
		return "1"
	case p == 0:
		return "0"
	case math.Abs(p) >= 0.001:
		return precision(p, 2)
	}
	return exponential(p, 1)
}

// Duration writes a duration given in milliseconds: "3.6 ms" below 10 ms,
// "238 ms" below a second, "1.18 s" below a minute, then "4m05s".
func Duration(ms float64) string {
	if math.IsNaN(ms) {
		return Dash
	}
	// Each unit as long as the figure rounds within it: 9.96 is "10 ms",
	// not "10.0 ms" (which printed two ways in one column); 999.6 is
	// "1.00 s".
	if ms < 10 {
		if s := Fixed(ms, 1); s != "10.0" {
			return s + " ms"
		}
	}
	if ms < 1000 {
		if s := Fixed(ms, 0); s != "1000" {
			return s + " ms"
		}
	}
	if ms < 60000 {
		if s := Fixed(ms/1000, 2); s != "60.00" {
			return s + " s"
		}
	}
	secs := int64(math.Round(ms / 1000))
	return strconv.FormatInt(secs/60, 10) + "m" + pad2(secs%60) + "s"
}

// SignedDuration writes a difference of durations in milliseconds by the
// rule of Duration with its sign: "+12 ms", "-1.18 s"; one that rounds to
// zero has none: "0.0 ms".
func SignedDuration(ms float64) string {
	s := Duration(math.Abs(ms))
	switch {
	case math.IsNaN(ms) || strings.Trim(s, "0. ms") == "":
		return s
	case ms < 0:
		return "-" + s
	}
	return "+" + s
}

// Elapsed writes a time.Duration by the rule of Duration.
func Elapsed(d time.Duration) string { return Duration(float64(d) / float64(time.Millisecond)) }

// Date writes a moment in local time: "2026-12-02 15:16:52".
func Date(t time.Time) string { return t.Local().Format(time.DateTime) }

// Setting writes a number a user configured (a threshold, a tolerance) as
// they would have written it: the shortest decimal that is that float64,
// "0.75" and not a rounded "0.8" that hides what a mean is measured against.
func Setting(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// Fixed writes x with the given number of decimals, rounding the exact value
// half away from zero, as JavaScript's toFixed does.
func Fixed(x float64, decimals int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Dash
	}
	neg := x < 0 // -0.0001 to 3 decimals is "-0.000", as toFixed writes it
	digits := scaledDigits(math.Abs(x), decimals)
	if len(digits) <= decimals {
		digits = strings.Repeat("0", decimals-len(digits)+1) + digits
	}
	out := digits
	if decimals > 0 {
		cut := len(digits) - decimals
		out = digits[:cut] + "." + digits[cut:]
	}
	if neg {
		out = "-" + out
	}
	return out
}

// scaledDigits is the decimal digits of round(x·10^decimals), x ≥ 0, with
// the product taken exactly and ties rounded up.
func scaledDigits(x float64, decimals int) string {
	f := new(big.Float).SetPrec(2048).SetFloat64(x)
	ten := new(big.Float).SetPrec(2048).SetInt64(10)
	for i := 0; i < decimals; i++ {
		f.Mul(f, ten)
	}
	for i := 0; i > decimals; i-- {
		f.Quo(f, ten)
	}
	f.Add(f, new(big.Float).SetFloat64(0.5))
	n, _ := f.Int(nil) // truncates toward zero: floor for x ≥ 0
	return n.String()
}

// precision writes x (0 < |x|, in plain-decimal range) with sig significant
// digits, trailing zeros kept, as toPrecision does.
func precision(x float64, sig int) string {
	e := exponent(math.Abs(x), sig)
	decimals := sig - 1 - e
	if decimals < 0 {
		decimals = 0
	}
	return Fixed(x, decimals)
}

// exponential writes x as d.de-N with the given decimals and no padding of
// the exponent, as toExponential does: "6.1e-7".
func exponential(x float64, decimals int) string {
	sign := ""
	if x < 0 {
		sign, x = "-", -x
	}
	e := exponent(x, decimals+1)
	digits := scaledDigits(x, decimals-e)
	mant := digits[:1]
	if decimals > 0 {
		mant += "." + digits[1:]
	}
	exp := strconv.Itoa(e)
	if e >= 0 {
		exp = "+" + exp
	}
	return sign + mant + "e" + exp
}

// exponent is the decimal exponent of x > 0 once rounded to sig significant
// digits (9.96 to two digits is 10, exponent 1).
func exponent(x float64, sig int) int {
	e := int(math.Floor(math.Log10(x)))
	// Log10 may be off by one near powers of ten; settle it exactly.
	for len(scaledDigits(x, sig-1-e)) > sig {
		e++
	}
	for e > -400 && len(scaledDigits(x, sig-1-e)) < sig {
		e--
	}
	return e
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

func isZero(s string) bool { return strings.Trim(s, "-0.") == "" }

// USD writes an amount of dollars: four significant digits below a cent
// ("$0.0001235"), cents above ("$12.35"), rounded as Fixed rounds.
func USD(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return Dash
	case x == 0:
		return "$0"
	case math.Abs(x) < 0.01:
		d := 3 - int(math.Floor(math.Log10(math.Abs(x))))
		s := strings.TrimRight(strings.TrimRight(Fixed(x, d), "0"), ".")
		return "$" + s
	}
	return "$" + Fixed(x, 2)
}

// Count writes a count that may be a mean: whole, with thousands separated
// ("12,345").
func Count(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Dash
	}
	n := int64(math.Round(x))
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// SignedUSD writes a change of dollars with its sign before the dollar sign:
// "+$0.0012", "-$1.50"; no change is "$0".
func SignedUSD(x float64) string {
	s := USD(math.Abs(x))
	switch {
	case s == Dash || s == "$0":
		return s
	case x < 0:
		return "-" + s
	}
	return "+" + s
}

// SignedCount writes a change of a count with its sign: "+1,200", "-35"; one
// that rounds to zero is "0".
func SignedCount(x float64) string {
	s := Count(x)
	if s == Dash || s == "0" || strings.HasPrefix(s, "-") {
		return s
	}
	return "+" + s
}
