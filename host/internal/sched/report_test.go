package sched

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// The latency histogram answers percentiles within its 2 % buckets, in a
// fixed size whatever the number of samples.
func TestHistogramPercentiles(t *testing.T) {
	var h histogram
	if h.percentile(0.5) != 0 {
		t.Error("an empty histogram has no percentile")
	}
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	h.add(0)                // below the first bucket
	h.add(1000 * time.Hour) // past the last one
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}} {
		got := h.percentile(c.p)
		if d := float64(got-c.want) / float64(c.want); d < -0.03 || d > 0.03 {
			t.Errorf("p%.0f = %s; want %s within 2 %%", c.p*100, got, c.want)
		}
	}
	if got := h.percentile(0); got != time.Microsecond {
		t.Errorf("p0 = %s", got)
	}
	// A sample past the last bucket counts in it (about 47 minutes).
	if got, last := h.percentile(1), time.Duration(histBase*math.Pow(histGrowth, histSize-1)); got != last {
		t.Errorf("p100 = %s; want the last bucket, %s", got, last)
	}
	if len(h.counts) != histSize {
		t.Errorf("%d buckets", len(h.counts))
	}
}

// A node run's log keeps its last lines within the budget, the tail of a
// line longer than the budget, and nothing when the budget is 0.
func TestRunLogBudget(t *testing.T) {
	now := time.Now()
	l := &runLog{max: 10}
	l.add(sdk.LogStderr, "0123456789abcdef", now)
	l.add(sdk.LogRunner, "xyz", now)
	got := l.entries()
	if len(got) != 2 || got[1].Line != "xyz" || got[1].Stream != store.StreamRunner || !strings.Contains(got[0].Line, "1 earlier lines not kept") {
		t.Errorf("%+v", got)
	}
	l = &runLog{max: 10}
	l.add(sdk.LogStderr, "0123456789abcdef", now)
	if got := l.entries(); len(got) != 1 || got[0].Line != "6789abcdef" || got[0].Stream != store.StreamStderr {
		t.Errorf("%+v", got)
	}
	l = &runLog{}
	l.add(sdk.LogStderr, "kept nowhere", now)
	if got := l.entries(); got != nil {
		t.Errorf("%+v", got)
	}
	var none *runLog
	if none.entries() != nil {
		t.Error("a node with no log has no entries")
	}
}
