package sdk

// Metric is one figure a runner reports about itself: the host exposes it on
// its Prometheus endpoint with a plugin="NAME" label (see MetricsReporter).
type Metric struct {
	// Name follows Prometheus naming: "wtb_pool_busy_workers",
	// "wtb_pool_node_processes_started_total".
	Name string
	Help string
	Kind MetricKind
	// Labels must stay few in values (node kinds, outcomes), never one per
	// execution.
	Labels map[string]string
	Value  float64
}

// MetricKind says how a Metric behaves.
type MetricKind int

// Metric kinds.
const (
	MetricCounter MetricKind = iota + 1 // only goes up
	MetricGauge                         // goes up and down
)

// MetricsReporter is implemented by a runner that reports figures of its own
// (busy workers, processes started, ...). The host asks when its metrics
// endpoint is scraped; Metrics must be cheap and safe for concurrent use.
type MetricsReporter interface {
	Metrics() []Metric
}
