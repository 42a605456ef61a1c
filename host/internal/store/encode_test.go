package store

import (
	"encoding/json"
	"math"
	"testing"

	"pgregory.net/rapid"
)

// The hand-written encoders must produce JSON that decodes to the same map.
func TestEncodeMapsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sm := rapid.MapOf(rapid.String(), rapid.String()).Draw(t, "strings")
		var back map[string]string
		if err := json.Unmarshal([]byte(EncodeStringMap(sm)), &back); err != nil {
			t.Fatalf("invalid JSON %q: %v", EncodeStringMap(sm), err)
		}
		if len(back) != len(sm) {
			t.Fatalf("got %v want %v", back, sm)
		}
		for k, v := range sm {
			if back[k] != v {
				t.Fatalf("key %q: got %q want %q", k, back[k], v)
			}
		}
		fm := rapid.MapOf(rapid.String(), rapid.Float64()).Draw(t, "floats")
		var fb map[string]*float64
		if err := json.Unmarshal([]byte(EncodeFloatMap(fm)), &fb); err != nil {
			t.Fatalf("invalid JSON %q: %v", EncodeFloatMap(fm), err)
		}
		for k, v := range fm {
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				if fb[k] != nil {
					t.Fatalf("non-finite %v must encode as null", v)
				}
			case fb[k] == nil || *fb[k] != v:
				t.Fatalf("key %q: got %v want %v", k, fb[k], v)
			}
		}
	})
}
