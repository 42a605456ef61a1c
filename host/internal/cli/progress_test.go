package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A command that runs two batches (parity) reuses one progress: the second
// batch's lines must count only its own executions.
func TestProgressStartsEachBatchFromZero(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, false, time.Hour)
	for batch := 0; batch < 2; batch++ {
		p.Start(4)
		p.Add(3, 1)
		p.Finish()
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one final line per batch, got %q", out.String())
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, "progress: 4/4 executions (100%), 1 failed,") {
			t.Errorf("batch %d: %q", i, l)
		}
	}
}
