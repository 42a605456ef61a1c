package modelcallpb

// Round-trip property tests (rapid) and reflection tests for the
// wtb.modelcall.v1 mappings, which both runner.v1 and remote.v1 carry: a
// field added to the contract or to the SDK's model-call types without a
// mapping fails here (see proto/prototest).

import (
	"reflect"
	"testing"
	"time"

	"github.com/wtbench/wtb/proto/prototest"
	modelcallv1 "github.com/wtbench/wtb/proto/wtb/modelcall/v1"
	"github.com/wtbench/wtb/sdk"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

func anyOf[T any](g *rapid.Generator[T]) *rapid.Generator[any] {
	return rapid.Map(g, func(v T) any { return v })
}

// sdkValues draws values the contract can carry: ints within int32,
// durations not negative, times within a Timestamp's range (or zero: not
// sent).
var sdkValues = rapid.MakeConfig{Types: map[reflect.Type]*rapid.Generator[any]{
	reflect.TypeOf(0): anyOf(rapid.Map(rapid.Int32(), func(n int32) int { return int(n) })),
	reflect.TypeOf(time.Duration(0)): anyOf(rapid.Map(rapid.Int64Range(0, 1<<62), func(n int64) time.Duration {
		return time.Duration(n)
	})),
	reflect.TypeOf(time.Time{}): anyOf(rapid.OneOf(rapid.Just(time.Time{}), rapid.Custom(func(t *rapid.T) time.Time {
		return time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "seconds"),
			rapid.Int64Range(0, 999999999).Draw(t, "nanos")).UTC()
	}))),
}}

// overWire sends messages through their binary encoding.
func overWire[M proto.Message](t interface{ Fatalf(string, ...any) }, ms []M) []M {
	out := make([]M, len(ms))
	for i, m := range ms {
		raw, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		out[i] = m.ProtoReflect().New().Interface().(M)
		if err := proto.Unmarshal(raw, out[i]); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
	}
	return out
}

func check[T any](t *testing.T, through func(*rapid.T, T) T) {
	gen := rapid.MakeCustom[T](sdkValues)
	rapid.Check(t, func(t *rapid.T) {
		v := gen.Draw(t, "value")
		if d := prototest.Compare(v, through(t, v)); d != "" {
			t.Fatalf("changed on the wire: %s", d)
		}
	})
}

func TestRoundTrips(t *testing.T) {
	t.Run("Config", func(t *testing.T) {
		check(t, func(t *rapid.T, c sdk.ModelCalls) sdk.ModelCalls {
			return *ConfigFromProto(overWire(t, []*modelcallv1.Config{ConfigToProto(&c)})[0])
		})
		if ConfigToProto(nil) != nil || ConfigFromProto(nil) != nil {
			t.Error("no gateway must stay no gateway")
		}
	})
	t.Run("Recordings", func(t *testing.T) {
		check(t, func(t *rapid.T, rs []sdk.Recordings) []sdk.Recordings {
			return RecordingsFromProto(overWire(t, RecordingsToProto(rs)))
		})
	})
	t.Run("Interactions", func(t *testing.T) {
		check(t, func(t *rapid.T, xs []sdk.Interaction) []sdk.Interaction {
			return InteractionsFromProto(overWire(t, InteractionsToProto(xs)))
		})
	})
}

// Every field of every wtb.modelcall.v1 message (Config, Upstream,
// Recordings, Interaction, Chunk) is mapped both ways.
func TestEveryFieldIsMapped(t *testing.T) {
	t.Run("Config", func(t *testing.T) {
		c := prototest.Full[sdk.ModelCalls](nil)
		p := ConfigToProto(&c)
		if u := prototest.Unset(p); u != nil {
			t.Errorf("no SDK field sets %v", u)
		}
		if d := prototest.Compare(c, *ConfigFromProto(p)); d != "" {
			t.Errorf("lost on the way back: %s", d)
		}
		var filled modelcallv1.Config
		prototest.Fill(&filled, nil)
		if d := prototest.Diff(&filled, ConfigToProto(ConfigFromProto(&filled))); d != nil {
			t.Errorf("not carried to the SDK type and back: %v", d)
		}
	})
	t.Run("Recordings", func(t *testing.T) {
		rs := prototest.Full[[]sdk.Recordings](nil)
		ps := RecordingsToProto(rs)
		for _, p := range ps {
			if u := prototest.Unset(p); u != nil {
				t.Errorf("no SDK field sets %v", u)
			}
		}
		if d := prototest.Compare(rs, RecordingsFromProto(ps)); d != "" {
			t.Errorf("lost on the way back: %s", d)
		}
		var filled modelcallv1.Recordings
		prototest.Fill(&filled, nil)
		back := RecordingsToProto(RecordingsFromProto([]*modelcallv1.Recordings{&filled}))
		if d := prototest.Diff(&filled, back[0]); d != nil {
			t.Errorf("not carried to the SDK type and back: %v", d)
		}
	})
}
