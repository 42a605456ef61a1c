package numfmt

import "testing"

func TestUSDAndCount(t *testing.T) {
	for x, want := range map[float64]string{0: "$0", 0.000123456: "$0.0001235", 0.0099999: "$0.01", 0.00001: "$0.00001", 0.5: "$0.50", 12.345: "$12.35", 1234.5: "$1234.50"} {
		if got := USD(x); got != want {
			t.Errorf("USD(%v) = %q, want %q", x, got, want)
		}
	}
	for x, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -1234: "-1,234", 12.5: "13"} {
		if got := Count(x); got != want {
			t.Errorf("Count(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestSignedUSDAndCount(t *testing.T) {
	for x, want := range map[float64]string{0: "$0", 0.00123: "+$0.00123", -0.00123: "-$0.00123", 1.5: "+$1.50", -12.345: "-$12.35"} {
		if got := SignedUSD(x); got != want {
			t.Errorf("SignedUSD(%v) = %q, want %q", x, got, want)
		}
	}
	for x, want := range map[float64]string{0: "0", 0.4: "0", -0.4: "0", 1200: "+1,200", -35: "-35"} {
		if got := SignedCount(x); got != want {
			t.Errorf("SignedCount(%v) = %q, want %q", x, got, want)
		}
	}
}
