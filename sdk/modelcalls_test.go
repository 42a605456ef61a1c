package sdk

import "testing"

func TestUsagePlusAddsEveryKindOfToken(t *testing.T) {
	a := Usage{Input: 1, Output: 2, CacheRead: 3, CacheWrite: 4, Reasoning: 5}
	b := Usage{Input: 10, Output: 20, CacheRead: 30, CacheWrite: 40, Reasoning: 50, Reported: true}
	got := a.Plus(b)
	want := Usage{Input: 11, Output: 22, CacheRead: 33, CacheWrite: 44, Reasoning: 55, Reported: true}
	if got != want {
		t.Fatalf("Plus = %+v, want %+v", got, want)
	}
	if got.Total() != a.Total()+b.Total() {
		t.Fatalf("Total of the sum %d, sum of the totals %d", got.Total(), a.Total()+b.Total())
	}
	if (Usage{}).Plus(Usage{}).Reported {
		t.Fatal("two unreported usages add up to a reported one")
	}
}
