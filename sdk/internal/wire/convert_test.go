package wire

// Round-trip property tests (rapid) and reflection tests for the runner.v1
// mappings: every message the converters handle goes SDK → wire → bytes →
// wire → SDK unchanged, and a field added to the contract or to an SDK type
// without a mapping fails a test here without anyone naming it (see
// proto/prototest).

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/wtbench/wtb/proto/prototest"
	pluginv1 "github.com/wtbench/wtb/proto/wtb/plugin/v1"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

func anyOf[T any](g *rapid.Generator[T]) *rapid.Generator[any] {
	return rapid.Map(g, func(v T) any { return v })
}

// sdkValues draws SDK values over what the contract can say: ints within
// int32 (the wire's width), durations that are not negative (a negative
// timeout means nothing and is not sent), times within a Timestamp's range,
// enums among their values.
var sdkValues = rapid.MakeConfig{Types: map[reflect.Type]*rapid.Generator[any]{
	reflect.TypeOf(0): anyOf(rapid.Map(rapid.Int32(), func(n int32) int { return int(n) })),
	reflect.TypeOf(time.Duration(0)): anyOf(rapid.Map(rapid.Int64Range(0, 1<<62), func(n int64) time.Duration {
		return time.Duration(n)
	})),
	reflect.TypeOf(time.Time{}): anyOf(rapid.OneOf(rapid.Just(time.Time{}), rapid.Custom(func(t *rapid.T) time.Time {
		return time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "seconds"),
			rapid.Int64Range(0, 999999999).Draw(t, "nanos")).UTC()
	}))),
	reflect.TypeOf(sdk.Status(0)):      anyOf(rapid.Map(rapid.IntRange(0, 3), func(n int) sdk.Status { return sdk.Status(n) })),
	reflect.TypeOf(sdk.FailureKind(0)): anyOf(rapid.Map(rapid.IntRange(0, 8), func(n int) sdk.FailureKind { return sdk.FailureKind(n) })),
	reflect.TypeOf(sdk.Severity(0)):    anyOf(rapid.Map(rapid.IntRange(0, 2), func(n int) sdk.Severity { return sdk.Severity(n) })),
	reflect.TypeOf(sdk.MetricKind(0)):  anyOf(rapid.SampledFrom([]sdk.MetricKind{sdk.MetricCounter, sdk.MetricGauge})),
}}

// overWire sends a message through its binary encoding, as the plugin
// connection does.
func overWire[M proto.Message](t interface{ Fatalf(string, ...any) }, m M) M {
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	back := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(raw, back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return back
}

// roundTrip checks that every value gen draws comes back unchanged from its
// wire form.
func roundTrip[T any, M proto.Message](t *testing.T, to func(T) M, from func(M) T) {
	t.Helper()
	gen := rapid.MakeCustom[T](sdkValues)
	rapid.Check(t, func(t *rapid.T) {
		v := gen.Draw(t, "value")
		if d := prototest.Compare(v, from(overWire(t, to(v)))); d != "" {
			t.Fatalf("changed on the wire: %s", d)
		}
	})
}

func TestRoundTrips(t *testing.T) {
	t.Run("ExecuteRequest", func(t *testing.T) {
		roundTrip(t, func(r sdk.ExecuteRequest) *runnerv1.ExecuteRequest { return ExecuteRequestToProto(&r) },
			func(p *runnerv1.ExecuteRequest) sdk.ExecuteRequest { return *ExecuteRequestFromProto(p) })
	})
	t.Run("NodeFinished", func(t *testing.T) { roundTrip(t, NodeResultToProto, NodeResultFromProto) })
	t.Run("NodeFailed", func(t *testing.T) { roundTrip(t, NodeFailureToProto, NodeFailureFromProto) })
	t.Run("ExecutionFinished", func(t *testing.T) { roundTrip(t, OutcomeToProto, OutcomeFromProto) })
	t.Run("RuntimeEnv", func(t *testing.T) { roundTrip(t, RuntimeEnvToProto, RuntimeEnvFromProto) })
	t.Run("Diagnostics", func(t *testing.T) {
		roundTrip(t, func(ds sdk.Diagnostics) *runnerv1.ConfigureResponse {
			return &runnerv1.ConfigureResponse{Diagnostics: DiagnosticsToProto(ds)}
		}, func(p *runnerv1.ConfigureResponse) sdk.Diagnostics { return DiagnosticsFromProto(p.GetDiagnostics()) })
	})
	t.Run("Metrics", func(t *testing.T) {
		roundTrip(t, func(ms []sdk.Metric) *runnerv1.GetMetricsResponse {
			return &runnerv1.GetMetricsResponse{Metrics: MetricsToProto(ms)}
		},
			func(p *runnerv1.GetMetricsResponse) []sdk.Metric { return MetricsFromProto(p.GetMetrics()) })
	})
}

// Plugin info gains the SDK's version and protocol on its way out, and an
// attribute's default travels as JSON: what comes back is the info as the
// host sees it.
func TestInfoRoundTrip(t *testing.T) {
	defaults := rapid.OneOf(rapid.Just[any](nil), anyOf(rapid.SampledFrom([]json.RawMessage{
		json.RawMessage(`1`), json.RawMessage(`"x"`), json.RawMessage(`[1,2]`), json.RawMessage(`{"a":true}`), json.RawMessage(`null`)})))
	cfg := sdkValues
	cfg.Fields = map[reflect.Type]map[string]*rapid.Generator[any]{
		reflect.TypeOf(sdk.Attribute{}): {"Default": defaults, "Type": anyOf(rapid.StringN(1, 10, -1))},
	}
	gen := rapid.MakeCustom[sdk.Info](cfg)
	rapid.Check(t, func(t *rapid.T) {
		info := gen.Draw(t, "info")
		p, err := InfoToProto(info, pluginv1.PluginKind_PLUGIN_KIND_RUNNER)
		if err != nil {
			t.Fatal(err)
		}
		want := info
		want.SDKVersion, want.ProtocolVersions = sdk.Version, []int{sdk.ProtocolVersion}
		if d := prototest.Compare(want, InfoFromProto(overWire(t, p))); d != "" {
			t.Fatalf("changed on the wire: %s", d)
		}
	})
}

// full is an SDK value with every field set and enums at a value that means
// something.
func full[T any]() T {
	return prototest.Full[T](map[reflect.Type]any{
		reflect.TypeOf(sdk.Status(0)): sdk.StatusFailed, reflect.TypeOf(sdk.FailureKind(0)): sdk.FailureReplayMiss,
	})
}

// checkMapsEveryField converts an SDK value with every field set: the wire
// message must have every field set, and must convert back to the value.
func checkMapsEveryField[T any, M proto.Message](t *testing.T, v T, to func(T) M, from func(M) T) {
	t.Helper()
	if z := prototest.Zero(v); z != nil {
		t.Fatalf("the full value leaves %v unset", z)
	}
	p := to(v)
	if u := prototest.Unset(p); u != nil {
		t.Errorf("%T: no SDK field sets %v", p, u)
	}
	if d := prototest.Compare(v, from(overWire(t, p))); d != "" {
		t.Errorf("%T: lost on the way back: %s", p, d)
	}
}

// checkReadsEveryField converts a wire message with every field set to the
// SDK type and back: a field the SDK side does not read comes back unset.
func checkReadsEveryField[T any, M proto.Message](t *testing.T, empty M, with map[string]any, from func(M) T, to func(T) M) {
	t.Helper()
	prototest.Fill(empty, with)
	if d := prototest.Diff(empty, to(from(empty))); d != nil {
		t.Errorf("%T: fields not carried to the SDK type and back: %v", empty, d)
	}
}

// Every field of every runner.v1 message the host and plugins exchange about
// an execution is mapped both ways.
func TestEveryFieldIsMapped(t *testing.T) {
	t.Run("ExecuteRequest", func(t *testing.T) {
		to := func(r sdk.ExecuteRequest) *runnerv1.ExecuteRequest { return ExecuteRequestToProto(&r) }
		from := func(p *runnerv1.ExecuteRequest) sdk.ExecuteRequest { return *ExecuteRequestFromProto(p) }
		checkMapsEveryField(t, full[sdk.ExecuteRequest](), to, from)
		checkReadsEveryField(t, &runnerv1.ExecuteRequest{}, nil, from, to)
	})
	t.Run("NodeFinished", func(t *testing.T) {
		checkMapsEveryField(t, full[sdk.NodeResult](), NodeResultToProto, NodeResultFromProto)
		checkReadsEveryField(t, &runnerv1.NodeFinished{}, nil, NodeResultFromProto, NodeResultToProto)
	})
	t.Run("NodeFailed", func(t *testing.T) {
		checkMapsEveryField(t, full[sdk.NodeFailure](), NodeFailureToProto, NodeFailureFromProto)
		checkReadsEveryField(t, &runnerv1.NodeFailed{}, nil, NodeFailureFromProto, NodeFailureToProto)
	})
	t.Run("ExecutionFinished", func(t *testing.T) {
		checkMapsEveryField(t, full[sdk.Outcome](), OutcomeToProto, OutcomeFromProto)
		checkReadsEveryField(t, &runnerv1.ExecutionFinished{}, nil, OutcomeFromProto, OutcomeToProto)
	})
	t.Run("RuntimeEnv", func(t *testing.T) {
		checkMapsEveryField(t, full[sdk.RuntimeEnv](), RuntimeEnvToProto, RuntimeEnvFromProto)
		checkReadsEveryField(t, &pluginv1.RuntimeEnv{}, nil, RuntimeEnvFromProto, RuntimeEnvToProto)
	})
}

// The reflection tests see what they claim to: a message with a field the
// mapping leaves out is reported by its path.
func TestTheCheckSeesAMissingField(t *testing.T) {
	v := full[sdk.ExecuteRequest]()
	p := ExecuteRequestToProto(&v)
	p.Nodes[1].RunKey = "" // as if ExecuteRequestToProto forgot it
	if u := prototest.Unset(p); !slices.Equal(u, []string{"nodes[].run_key"}) {
		t.Errorf("Unset = %v", u)
	}
	back := ExecuteRequestFromProto(p)
	if d := prototest.Compare(v, *back); d == "" {
		t.Error("Compare misses the lost run key")
	}
}
