package sdk_test

import (
	"testing"

	"github.com/wtbench/wtb/sdk"
)

// Every failure kind survives the round trip through its name (stored in
// results, sent by wtb.remote.v1 services), and unknown names are unspecified.
func TestFailureKindNamesRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for k := sdk.FailureExit; k <= sdk.FailureInfrastructure; k++ {
		name := k.String()
		if name == "unspecified" || seen[name] {
			t.Errorf("kind %d has name %q, which is not its own", k, name)
		}
		seen[name] = true
		if got := sdk.ParseFailureKind(name); got != k {
			t.Errorf("ParseFailureKind(%q) = %v, want %v", name, got, k)
		}
	}
	for _, name := range []string{"", "unspecified", "EXIT", "crash"} {
		if got := sdk.ParseFailureKind(name); got != sdk.FailureUnspecified {
			t.Errorf("ParseFailureKind(%q) = %v, want unspecified", name, got)
		}
	}
}
