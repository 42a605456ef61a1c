package application

import (
	"slices"
	"testing"

	"github.com/wtbench/wtb/host/internal/spec"
)

// A node-run key names the executions of its case and repeat whose
// combination picks the variants it lists; case ids may hold slashes.
func TestExecutionsOfNodeRun(t *testing.T) {
	b := &spec.Batch{Repeat: 2, Cases: []spec.Case{{ID: "q/1"}, {ID: "q"}}, Combinations: []spec.Combination{
		{Name: "r=a,s=x", Variants: map[string]string{"r": "a", "s": "x"}},
		{Name: "r=a,s=y", Variants: map[string]string{"r": "a", "s": "y"}},
		{Name: "r=b,s=x", Variants: map[string]string{"r": "b", "s": "x"}},
	}}
	for key, want := range map[string][]string{
		"q/1/0/r=a,s=y": {"r=a,s=y/q/1/0"},
		"q/1/1/r=a":     {"r=a,s=x/q/1/1", "r=a,s=y/q/1/1"},
		"q/0/s=x,r=b":   {"r=b,s=x/q/0"},
		"q/0":           {"r=a,s=x/q/0", "r=a,s=y/q/0", "r=b,s=x/q/0"},
		"q/0/p=-,r=b":   {"r=b,s=x/q/0"}, // a segment key: p has no variants
		"q/2/r=a":       nil,             // no repeat 2
		"q/00/r=a":      nil,
		"q/0/r=c":       nil,
		"q/0/r":         nil,
		"r=a,s=x/q/0":   nil, // an execution key is not a node-run key
		"nope":          nil,
	} {
		if got := ExecutionsOfNodeRun(b, key); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", key, got, want)
		}
	}
}
