package traceout

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// drawExecutions draws executions with every kind of span WTB writes:
// succeeded and failed ones, node runs that ran, were cached, forked or
// shared (with a link), failed attempts, metrics (token counts among them),
// dropped-span counts, the nodes' own spans and stand-ins with their calls'
// sources, and attribute values of every kind (NaN and infinities
// included, and strings long enough to need more than two bytes of length).
func drawExecutions(t *rapid.T, label string) []Execution {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	n := rapid.IntRange(0, 60).Draw(t, label+" executions")
	double := rapid.OneOf(rapid.Float64(), rapid.SampledFrom([]float64{0, math.NaN(), math.Inf(1), math.Inf(-1), -1.5}))
	text := rapid.OneOf(rapid.StringMatching(`[a-z0-9 ]{0,12}`), rapid.Map(rapid.IntRange(100, 20000), func(n int) string { return strings.Repeat("x", n) }))
	out := make([]Execution, n)
	for i := range out {
		res := &store.Result{
			ExecutionKey: rapid.StringMatching(`c[0-9]/k[0-9]{1,3}/[0-9]`).Draw(t, "key"),
			Combination:  rapid.StringMatching(`c[0-9]`).Draw(t, "combination"),
			CaseID:       rapid.StringMatching(`k[0-9]{1,3}`).Draw(t, "case"),
			Repeat:       rapid.IntRange(0, 9).Draw(t, "repeat"),
			OverallScore: double.Draw(t, "score"),
			Passed:       rapid.Bool().Draw(t, "passed"),
			Attempts:     rapid.IntRange(0, 3).Draw(t, "attempts"),
			DurationMs:   float64(rapid.IntRange(0, 5000).Draw(t, "ms")),
			CreatedAt:    t0.Add(time.Duration(i) * time.Second),
			WorkerID:     rapid.StringMatching(`(w[0-9])?`).Draw(t, "worker"),
			Variants:     rapid.MapOf(rapid.StringMatching(`n[0-9]`), rapid.StringMatching(`v[0-9]`)).Draw(t, "variants"),
			Scores:       rapid.MapOf(rapid.StringMatching(`e[0-9]`), double).Draw(t, "scores"),
		}
		res.Success = rapid.Bool().Draw(t, "success")
		res.Status = store.ResultSucceeded
		if !res.Success {
			res.Status = store.ResultFailed
			res.Error = text.Draw(t, "error")
			res.FailureKind = rapid.SampledFrom([]string{"", "exit", "timeout"}).Draw(t, "failure kind")
			res.FailedNode = rapid.SampledFrom([]string{"", "a", "b"}).Draw(t, "failed node")
		}
		ex := Execution{Result: res, Chain: []*store.Checkpoint{{ID: "root", Source: store.SourceRoot}}, Owner: map[string]string{},
			Calls: map[string][]string{}}
		for k, node := range []string{"a", "b"}[:rapid.IntRange(0, 2).Draw(t, "nodes")] {
			cp := &store.Checkpoint{ID: fmt.Sprintf("cp%d-%s", i, node), ParentID: ex.Chain[len(ex.Chain)-1].ID, Node: node,
				Variant:  rapid.StringMatching(`(v[0-9])?`).Draw(t, "variant"),
				Source:   rapid.SampledFrom([]string{store.SourceRan, store.SourceCached, store.SourceForked}).Draw(t, "source"),
				WorkerID: rapid.StringMatching(`(w[0-9])?`).Draw(t, "node worker"), DurationMs: float64(k * 10),
				Metrics: rapid.MapOf(rapid.SampledFrom([]string{"wtb.llm.input_tokens", "wtb.llm.output_tokens", "wtb.cost", "rows", "é"}), double).Draw(t, "metrics")}
			if rapid.Bool().Draw(t, "has time") {
				cp.CreatedAt = res.CreatedAt
			}
			ex.Chain = append(ex.Chain, cp)
			if rapid.IntRange(0, 3).Draw(t, "shared") == 0 {
				ex.Owner[cp.ID] = "other/" + res.ExecutionKey
			}
			for a := range rapid.IntRange(0, 2).Draw(t, "failed attempts") {
				ex.Spans = append(ex.Spans, store.NodeSpans{RunID: fmt.Sprintf("%s#a%d", cp.ID, a+1), Node: node, CreatedAt: res.CreatedAt,
					Spans: drawNodeSpans(t, fmt.Sprintf("%02x%02x%02x", i%256, k, a+1))})
			}
			if rapid.Bool().Draw(t, "spans") {
				ex.Spans = append(ex.Spans, store.NodeSpans{RunID: cp.ID, Node: node, Dropped: rapid.IntRange(0, 3).Draw(t, "dropped"),
					Spans: drawNodeSpans(t, fmt.Sprintf("%02x%02x00", i%256, k))})
				ex.Calls[cp.ID] = rapid.SliceOfN(rapid.SampledFrom([]string{sdk.SourceLive, sdk.SourceReplayed, sdk.SourceRecorded, ""}), 0, 3).Draw(t, "calls")
			}
		}
		out[i] = ex
	}
	return out
}

// drawNodeSpans draws a node run's stored spans: perhaps WTB's own for the
// run, the node's (one a child of another), and a stand-in of a model call.
func drawNodeSpans(t *rapid.T, idPrefix string) json.RawMessage {
	var spans []sdk.Span
	id := func(k int) string { return fmt.Sprintf("%s%010x", idPrefix, k) }
	if rapid.Bool().Draw(t, "run span") {
		spans = append(spans, sdk.Span{SpanID: id(0), Name: "run", Source: sdk.SpanSourceWTB, Status: rapid.SampledFrom([]string{"", "ok", "error"}).Draw(t, "run status"),
			StatusMessage: "failed here"})
	}
	for k := 1; k <= rapid.IntRange(0, 3).Draw(t, "node spans"); k++ {
		sp := sdk.Span{SpanID: id(k), Name: "step", Source: sdk.SpanSourceNode, Service: rapid.SampledFrom([]string{"", "agent"}).Draw(t, "service"),
			Scope: rapid.SampledFrom([]string{"", "openai"}).Draw(t, "scope"), Kind: rapid.SampledFrom([]string{"", "client", "server"}).Draw(t, "kind"),
			Status: rapid.SampledFrom([]string{"", "ok", "error"}).Draw(t, "status")}
		if k > 1 && rapid.Bool().Draw(t, "child") {
			sp.ParentID = id(k - 1)
		}
		attrs, _ := json.Marshal(map[string]any{"n": k, "f": 0.5, "s": "x", "b": true, "list": []any{1, "y"}, "map": map[string]any{"k": "v"}})
		sp.Attributes = attrs
		spans = append(spans, sp)
	}
	if rapid.Bool().Draw(t, "stand-in") {
		attrs, _ := json.Marshal(map[string]any{"gen_ai.operation.name": "chat", "wtb.call.ordinal": rapid.IntRange(0, 3).Draw(t, "ordinal")})
		spans = append(spans, sdk.Span{SpanID: id(9), Name: "chat m", Kind: "client", Source: sdk.SpanSourceGateway, Scope: "wtb.gateway", Attributes: attrs})
	}
	b, _ := json.Marshal(spans)
	return b
}

func requestBytes(t *rapid.T, tr *Trace) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: tr.ResourceSpans()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A trace reset and filled again (the live exporter's, request after
// request, in the memory of the last) sends exactly what a new trace of the
// same executions sends: nothing of the earlier request is left in it.
func TestAResetTraceSendsWhatANewOneWould(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		reused := NewTrace("B", "v", nil)
		for round := range rapid.IntRange(1, 4).Draw(t, "rounds") {
			exs := drawExecutions(t, "round")
			batch := round == 0 && rapid.Bool().Draw(t, "batch span")
			fresh := NewTrace("B", "v", nil)
			reused.Reset()
			for _, tr := range []*Trace{fresh, reused} {
				if batch {
					tr.AddBatch(Batch{ID: "B", Name: "b", Status: store.StatusCompleted})
				}
				for _, ex := range exs {
					tr.AddExecution(ex)
				}
			}
			if reused.Len() != fresh.Len() {
				t.Fatalf("round %d: %d spans after a reset, %d in a new trace", round, reused.Len(), fresh.Len())
			}
			if got, want := requestBytes(t, reused), requestBytes(t, fresh); string(got) != string(want) {
				t.Fatalf("round %d: the reset trace's request (%d bytes) differs from a new one's (%d bytes)", round, len(got), len(want))
			}
		}
	})
}
