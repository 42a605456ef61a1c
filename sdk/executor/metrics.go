package executor

import (
	"encoding/json"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/wtbench/wtb/sdk"
)

// counters are the executor's own figures, reported through Metrics.
type counters struct {
	running  atomic.Int64
	segments atomic.Int64

	mu    sync.Mutex
	nodes map[[2]string]float64 // kind, outcome → node runs
}

func (c *counters) nodeDone(kind, outcome string) {
	c.mu.Lock()
	if c.nodes == nil {
		c.nodes = map[[2]string]float64{}
	}
	c.nodes[[2]string{kind, outcome}]++
	c.mu.Unlock()
}

// Metrics reports what this executor has run: node runs by kind and outcome
// (succeeded, or the failure kind), nodes running now, segments run. A runner
// built on the executor returns these from its own Metrics (see
// sdk.MetricsReporter), adding figures of its own.
func (e *Executor) Metrics() []sdk.Metric {
	c := &e.counters
	out := []sdk.Metric{
		{Name: "wtb_executor_nodes_running", Help: "Nodes running now.", Kind: sdk.MetricGauge, Value: float64(c.running.Load())},
		{Name: "wtb_executor_segments_total", Help: "Execution segments (runner requests) run.", Kind: sdk.MetricCounter, Value: float64(c.segments.Load())},
		{Name: "wtb_executor_worker_processes", Help: "Persistent worker processes running.", Kind: sdk.MetricGauge, Value: float64(e.workers.count())},
	}
	c.mu.Lock()
	keys := make([][2]string, 0, len(c.nodes))
	for k := range c.nodes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		out = append(out, sdk.Metric{Name: "wtb_executor_node_runs_total", Help: "Node runs, by kind and outcome (succeeded or the failure kind).",
			Kind: sdk.MetricCounter, Labels: map[string]string{"kind": k[0], "outcome": k[1]}, Value: c.nodes[k]})
	}
	c.mu.Unlock()
	return out
}

// extractMetrics takes the numeric "_metrics" object out of a node's output.
func extractMetrics(patch map[string]json.RawMessage) map[string]float64 {
	raw, ok := patch[MetricsKey]
	if !ok {
		return nil
	}
	delete(patch, MetricsKey)
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil
	}
	out := make(map[string]float64, len(obj))
	for k, v := range obj {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}
