package sdk

import (
	"math"
	"testing"
)

func TestPriceTable(t *testing.T) {
	p := NewPriceTable([]Price{
		{Model: "gpt-4o*", Input: 2.5, Output: 10},
		{Model: "gpt-4o-mini*", Input: 0.15, Output: 0.6, CacheRead: 0.075},
		{Model: "gpt-4o-mini-exact", Input: 1},
		{Model: "gemini", Input: 1, Output: 2, Tiers: []PriceTier{{Above: 100, Input: 3, Output: 4}, {Above: 1000, Input: 5, Output: 6}}},
	})
	u := func(in, out, cr int64) Usage { return Usage{Input: in, Output: out, CacheRead: cr, Reported: true} }
	for _, c := range []struct {
		model string
		usage Usage
		want  float64
		ok    bool
	}{
		{"gpt-4o-2024-08-06", u(1e6, 1e6, 0), 12.5, true},
		{"gpt-4o-mini-2024", u(1e6, 0, 1e6), 0.225, true}, // the longest prefix wins
		{"gpt-4o-mini-exact", u(1e6, 1e6, 0), 1, true},    // an exact name over any prefix
		{"gemini", u(100, 0, 0), 100e-6, true},            // at a tier's bound: not above it
		{"gemini", u(101, 10, 0), (101*3 + 10*4) * 1e-6, true},
		{"gemini", u(500, 0, 600), 500 * 5e-6, true}, // cache reads count towards the prompt's size
		{"claude", u(1, 1, 0), 0, false},             // no price
		{"gpt-4o", Usage{}, 0, false},                // no usage reported
		{"", u(1, 1, 0), 0, false},
	} {
		got, ok := p.Cost(c.model, c.usage)
		if ok != c.ok || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s %+v: %g, %v; want %g, %v", c.model, c.usage, got, ok, c.want, c.ok)
		}
	}
	var none *PriceTable
	if _, ok := none.Cost("gpt-4o", u(1, 1, 0)); ok {
		t.Error("a nil table priced a call")
	}
}
