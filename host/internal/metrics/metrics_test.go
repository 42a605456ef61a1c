package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

type fakePlugin struct {
	name string
	n    float64
}

func (p *fakePlugin) Name() string { return p.name }
func (p *fakePlugin) Metrics(context.Context) ([]sdk.Metric, error) {
	p.n++
	return []sdk.Metric{
		{Name: "wtb_fake_runs_total", Help: "Runs.", Kind: sdk.MetricCounter, Labels: map[string]string{"kind": "command"}, Value: p.n},
		{Name: "bad name", Kind: sdk.MetricGauge, Value: 1},
		{Name: "wtb_fake_clash", Kind: sdk.MetricGauge, Labels: map[string]string{"plugin": "spoof"}, Value: 1},
	}, nil
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d\n%s", rec.Code, body)
	}
	return string(body)
}

// The events and observer calls of a batch become bounded series; plugins'
// figures are labelled with the plugin, invalid ones dropped, a stopped
// plugin's last figures kept and replaced when it starts again.
func TestBatchMetricsAndPlugins(t *testing.T) {
	m := New()
	bus := events.New(100)
	bus.Publish(events.Event{Type: events.PluginStarted, Plugin: "wtb-runner-pool"})
	b := m.Batch(bus, BatchInfo{ID: "b1", Name: "qa", Runner: "pool", Planned: 4, Combinations: 1})
	p := &fakePlugin{name: "wtb-runner-pool"}
	m.AddPlugin(p)
	for i := 0; i < 3; i++ {
		b.ExecutionStarted("a=x")
		b.NodeRun("prep", "", 10*time.Millisecond, 2)
	}
	b.NodeCached("answer", "x", 1)
	bus.Publish(events.Event{Type: events.ExecutionFinished, BatchID: "b1", Combination: "a=x", Data: map[string]any{"overall_score": 0.75, "duration_ms": 20.0}})
	bus.Publish(events.Event{Type: events.ExecutionFailed, BatchID: "b1", Combination: "a=x", Data: map[string]any{"overall_score": 0.0}})
	bus.Publish(events.Event{Type: events.ExecutionRetried, BatchID: "b1", Data: map[string]any{"kind": "infrastructure"}})
	bus.Publish(events.Event{Type: events.ExecutionFinished, BatchID: "other", Combination: "a=x"})
	bus.Publish(events.Event{Type: events.StoreStalled, BatchID: "b1", Data: map[string]any{"waited_ms": 1500.0}})
	b.Load(3, 7)
	b.StoreWrite(40, 5*time.Millisecond, 2, nil)
	b.ModelCall(&store.ModelCall{Upstream: "openai", Model: "gpt", Source: "live", Attempts: 3, QueueMs: 2500, InputTokens: 7})
	b.ModelCall(&store.ModelCall{Upstream: "openai", Model: "gpt", Source: "live", Attempts: 1, QueueMs: 500})
	body := scrape(t, m)
	for _, want := range []string{
		`wtb_executions_started_total{batch="b1",combination="a=x"} 3`,
		`wtb_executions_finished_total{batch="b1",combination="a=x",outcome="succeeded"} 1`,
		`wtb_executions_finished_total{batch="b1",combination="a=x",outcome="failed"} 1`,
		`wtb_node_runs_total{batch="b1",node="prep",source="executed",variant=""} 3`,
		`wtb_node_runs_total{batch="b1",node="prep",source="shared",variant=""} 3`,
		`wtb_node_runs_total{batch="b1",node="answer",source="cached",variant="x"} 1`,
		`wtb_execution_retries_total{batch="b1",kind="infrastructure"} 1`,
		`wtb_runner_requests_queued{batch="b1"} 7`,
		`wtb_store_write_retries_total{batch="b1"} 1`,
		`wtb_store_stall_seconds_total{batch="b1"} 1.5`,
		`wtb_plugin_events_total{event="started",plugin="wtb-runner-pool"} 1`,
		`wtb_fake_runs_total{kind="command",plugin="wtb-runner-pool"} 1`,
		`wtb_execution_score_bucket{batch="b1",combination="a=x",le="0.8"} 2`,
		`wtb_llm_requests_total{batch="b1",model="gpt",source="live",upstream="openai"} 2`,
		`wtb_llm_tokens_total{batch="b1",kind="input",model="gpt",upstream="openai"} 7`,
		`wtb_llm_queue_seconds_total{batch="b1",upstream="openai"} 3`,
		`wtb_llm_retries_total{batch="b1",upstream="openai"} 2`,
		`wtb_llm_unpriced_requests_total{batch="b1",model="gpt",upstream="openai"} 2`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(body, "bad name") || strings.Contains(body, "spoof") {
		t.Errorf("an invalid plugin metric got through:\n%s", body)
	}
	m.RemovePlugin(p) // its last figures: 2
	if body := scrape(t, m); !strings.Contains(body, `wtb_fake_runs_total{kind="command",plugin="wtb-runner-pool"} 2`) {
		t.Errorf("a stopped plugin's last figures are gone")
	}
	m.AddPlugin(&fakePlugin{name: "wtb-runner-pool", n: 10})
	if body := scrape(t, m); !strings.Contains(body, `wtb_fake_runs_total{kind="command",plugin="wtb-runner-pool"} 11`) {
		t.Errorf("a restarted plugin does not replace its predecessor's figures:\n%s", body)
	}
	b.Finish(true, time.Second)
	body = scrape(t, m)
	if !strings.Contains(body, `wtb_batch_thresholds_met{batch="b1"} 1`) || !strings.Contains(body, `wtb_runner_requests_in_flight{batch="b1"} 0`) {
		t.Errorf("finish: %s", body)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
}

// The example Grafana dashboard asks only for series wtb exposes, in valid
// PromQL (promtool checks the expressions as recording rules).
func TestExampleDashboardMatchesTheMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../../examples/grafana/wtb-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	m := New()
	bus := events.New(10)
	b := m.Batch(bus, BatchInfo{ID: "b", Name: "n", Runner: "r", Planned: 1, Combinations: 1})
	b.ExecutionStarted("c")
	b.NodeRun("n", "v", time.Millisecond, 1)
	b.RoundTrip(time.Millisecond)
	b.StoreWrite(1, time.Millisecond, 2, nil)
	bus.Publish(events.Event{Type: events.ExecutionFinished, Combination: "c", Data: map[string]any{"overall_score": 1.0}})
	bus.Publish(events.Event{Type: events.ExecutionRetried, Data: map[string]any{"kind": "exit"}})
	bus.Publish(events.Event{Type: events.StoreStalled, Data: map[string]any{"waited_ms": 1.0}})
	bus.Publish(events.Event{Type: events.PluginStarted, Plugin: "p"})
	m.AddPlugin(staticPlugin{"wtb_pool_workers", "wtb_pool_busy_workers"})
	families, err := prometheus.Gatherers{m.batch}.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range families {
		known[f.GetName()] = true
	}
	series := regexp.MustCompile(`wtb_[a-z0-9_]+`)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, p := range dash.Panels {
		for j, tg := range p.Targets {
			for _, name := range series.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !known[name] && !known[base] {
					t.Errorf("panel %q asks for %s, which wtb does not expose", p.Title, name)
				}
			}
			expr := strings.ReplaceAll(tg.Expr, "$batch", ".*")
			fmt.Fprintf(&rules, "      - record: dashboard:panel%d_%d\n        expr: %q\n", i, j, expr)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("no promtool to check the expressions")
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

type staticPlugin []string

func (s staticPlugin) Name() string { return "p" }
func (s staticPlugin) Metrics(context.Context) ([]sdk.Metric, error) {
	var out []sdk.Metric
	for _, n := range s {
		out = append(out, sdk.Metric{Name: n, Kind: sdk.MetricGauge, Value: 1})
	}
	return out, nil
}

// auto labels by combination up to AutoCombinations combinations and counts
// per batch past them; an explicit level holds whatever the matrix.
func TestDetailResolves(t *testing.T) {
	for _, c := range []struct {
		d    Detail
		n    int
		want Detail
	}{
		{DetailAuto, 1, DetailCombination}, {DetailAuto, AutoCombinations, DetailCombination},
		{DetailAuto, AutoCombinations + 1, DetailBatch}, {DetailCombination, 10000, DetailCombination},
		{DetailBatch, 1, DetailBatch}, {"", 1000, DetailBatch},
	} {
		if got := c.d.Resolve(c.n); got != c.want {
			t.Errorf("%q with %d combinations: %s, want %s", c.d, c.n, got, c.want)
		}
	}
	if _, err := ParseDetail("fine"); err == nil {
		t.Error("an unknown level parses")
	}
}

// At the batch level an execution updates one set of series whatever its
// combination, under the same names; what a push gathers has them too.
func TestBatchDetailDropsTheCombination(t *testing.T) {
	m := New()
	m.SetDetail(DetailBatch)
	bus := events.New(10)
	b := m.Batch(bus, BatchInfo{ID: "b1", Name: "n", Runner: "r", Planned: 3, Combinations: 3})
	for _, c := range []string{"a=x", "a=y", "a=z"} {
		b.ExecutionStarted(c)
		bus.Publish(events.Event{Type: events.ExecutionFinished, BatchID: "b1", Combination: c, Data: map[string]any{"overall_score": 1.0, "duration_ms": 5.0}})
	}
	body := scrape(t, m)
	for _, want := range []string{
		`wtb_executions_started_total{batch="b1"} 3`,
		`wtb_executions_finished_total{batch="b1",outcome="succeeded"} 3`,
		`wtb_execution_score_count{batch="b1"} 3`,
		`wtb_batch_info{batch="b1",detail="batch",name="n",runner="r"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "combination=") {
		t.Errorf("a series carries the combination at the batch level:\n%s", body)
	}
	families, err := m.batchGatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	pushed := false
	for _, f := range families {
		pushed = pushed || f.GetName() == "wtb_execution_score"
	}
	if !pushed {
		t.Error("a push would leave out the batch-level execution series")
	}
}
