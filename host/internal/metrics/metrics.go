// Package metrics exposes what wtb does as Prometheus metrics: a running
// batch's executions, node runs, latencies, retries, load and store writes,
// plugin lifecycles, and the figures local plugins report through the
// contract. It hangs off the application layer: the event bus for what events
// carry, the scheduler's Observer for the rest.
//
// Labels stay bounded: batch (one per process), combination, node, variant,
// plugin, outcome, source, failure kind, and a model call's upstream, model
// and token kind — never an execution key or a case.
// The combination label is the one that grows with the matrix (a product of
// the nodes' variants, where node and variant grow with their sum), so it has
// a detail level: a large sweep counts its executions per batch instead.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/wtbench/wtb/host/internal/events"
	"github.com/wtbench/wtb/host/internal/sched"
	"github.com/wtbench/wtb/host/internal/store"
)

// Buckets of the histograms, in seconds (durations) or score units.
var (
	nodeBuckets      = []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	roundTripBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	storeBuckets     = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15, 60}
	rowBuckets       = []float64{1, 4, 16, 64, 256, 1024, 4096}
	scoreBuckets     = []float64{0, .1, .2, .3, .4, .5, .6, .7, .8, .9, 1}
)

// Detail is how finely a batch's execution series (executions started and
// finished, the score and duration histograms) are labelled.
type Detail string

// Detail levels.
const (
	// DetailCombination labels them by combination: 35 series a combination.
	DetailCombination Detail = "combination"
	// DetailBatch counts them per batch: 35 series whatever the matrix.
	DetailBatch Detail = "batch"
	// DetailAuto is DetailCombination up to AutoCombinations combinations
	// and DetailBatch past them.
	DetailAuto Detail = "auto"
)

// AutoCombinations is the most combinations DetailAuto labels one by one:
// 3,500 series and about 370 KB a scrape. Past it the series would grow
// with the matrix (1,000 combinations: 35,000 series, 3.8 MB a scrape), and
// a panel of more than a hundred lines is unreadable anyway; the leaderboard
// (wtb results, wtb view) ranks any number of combinations.
const AutoCombinations = 100

// ParseDetail reads a detail level as a user writes it.
func ParseDetail(s string) (Detail, error) {
	switch d := Detail(s); d {
	case DetailAuto, DetailBatch, DetailCombination:
		return d, nil
	}
	return "", fmt.Errorf("want auto, batch or combination, got %q", s)
}

// Resolve is the level a batch of n combinations gets.
func (d Detail) Resolve(n int) Detail {
	switch d {
	case DetailBatch, DetailCombination:
		return d
	}
	if n > AutoCombinations {
		return DetailBatch
	}
	return DetailCombination
}

// Metrics is one process's registry. The batch metrics are registered apart
// from the Go runtime's, so a push sends a batch's figures only.
type Metrics struct {
	batch *prometheus.Registry
	// coarse holds the execution series of batches counted per batch: the
	// same names as their per-combination twins in batch, without the
	// combination label (one registry refuses two label sets for a name).
	coarse  *prometheus.Registry
	runtime *prometheus.Registry
	detail  Detail

	perCombination, perBatch executionVecs
	nodeRuns                 *prometheus.CounterVec
	nodeDuration             *prometheus.HistogramVec
	roundTrip                *prometheus.HistogramVec
	retries                  *prometheus.CounterVec
	inFlight                 *prometheus.GaugeVec
	queued                   *prometheus.GaugeVec
	planned                  *prometheus.GaugeVec
	storeWrite               *prometheus.HistogramVec
	storeRows                *prometheus.HistogramVec
	storeRetries             *prometheus.CounterVec
	storeStalls              *prometheus.CounterVec
	storeStallSeconds        *prometheus.CounterVec
	pluginEvents             *prometheus.CounterVec
	batchInfo                *prometheus.GaugeVec
	batchFinished            *prometheus.GaugeVec
	batchDuration            *prometheus.GaugeVec
	thresholdsMet            *prometheus.GaugeVec
	llmRequests              *prometheus.CounterVec
	llmQueue                 *prometheus.CounterVec
	llmRetries               *prometheus.CounterVec
	llmTokens                *prometheus.CounterVec
	llmCost                  *prometheus.CounterVec
	llmUnpriced              *prometheus.CounterVec

	mu      sync.Mutex
	plugins []PluginSource
}

// executionVecs are the series an execution updates: by batch and
// combination, or by batch only.
type executionVecs struct {
	started  *prometheus.CounterVec
	finished *prometheus.CounterVec
	score    *prometheus.HistogramVec
	duration *prometheus.HistogramVec
}

func newExecutionVecs(f factory, labels ...string) executionVecs {
	return executionVecs{
		started:  f.counter("wtb_executions_started_total", "Executions whose first node was dispatched.", labels...),
		finished: f.counter("wtb_executions_finished_total", "Executions stored, by outcome (succeeded, failed).", slices.Concat(labels, []string{"outcome"})...),
		score:    f.histogram("wtb_execution_score", "Overall score of stored executions (0 to 1).", scoreBuckets, labels...),
		duration: f.histogram("wtb_execution_duration_seconds", "Sum of an execution's node durations.", nodeBuckets, labels...),
	}
}

// New makes the registry, with the execution series at DetailAuto.
func New() *Metrics {
	m := &Metrics{batch: prometheus.NewRegistry(), coarse: prometheus.NewRegistry(), runtime: prometheus.NewRegistry(), detail: DetailAuto}
	m.runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{m.batch}
	m.perCombination = newExecutionVecs(f, "batch", "combination")
	m.perBatch = newExecutionVecs(factory{m.coarse}, "batch")
	m.nodeRuns = f.counter("wtb_node_runs_total", "Node runs an execution needed, by source: executed (ran), shared (one run served several executions through prefix sharing) or cached (the node cache).", "batch", "node", "variant", "source")
	m.nodeDuration = f.histogram("wtb_node_duration_seconds", "Duration of executed node runs.", nodeBuckets, "batch", "node", "variant")
	m.roundTrip = f.histogram("wtb_runner_round_trip_seconds", "Runner requests, dispatch to outcome.", roundTripBuckets, "batch")
	m.retries = f.counter("wtb_execution_retries_total", "Attempts retried, by failure kind.", "batch", "kind")
	m.inFlight = f.gauge("wtb_runner_requests_in_flight", "Runner requests sent and not answered.", "batch")
	m.queued = f.gauge("wtb_runner_requests_queued", "Runner requests ready to send, waiting for a slot (max_pending, runner capacity).", "batch")
	m.planned = f.gauge("wtb_batch_executions_planned", "Executions the batch will run in this process.", "batch")
	m.storeWrite = f.histogram("wtb_store_write_duration_seconds", "Result-writer transactions, retries included.", storeBuckets, "batch")
	m.storeRows = f.histogram("wtb_store_write_rows", "Rows (results and checkpoints) per result-writer transaction.", rowBuckets, "batch")
	m.storeRetries = f.counter("wtb_store_write_retries_total", "Result-writer transactions tried again after an error.", "batch")
	m.storeStalls = f.counter("wtb_store_stalls_total", "Waits on the database (operations retried after transient errors).", "batch")
	m.storeStallSeconds = f.counter("wtb_store_stall_seconds_total", "Time spent waiting on the database.", "batch")
	m.pluginEvents = f.counter("wtb_plugin_events_total", "Plugin lifecycle events: started, crashed, restarted, stopped, gave_up.", "plugin", "event")
	m.batchInfo = f.gauge("wtb_batch_info", "A batch this process runs (always 1); detail says whether its execution series are per combination or per batch.", "batch", "name", "runner", "detail")
	m.batchFinished = f.gauge("wtb_batch_last_finished_timestamp_seconds", "When the batch ended (Unix time).", "batch")
	m.batchDuration = f.gauge("wtb_batch_duration_seconds", "How long the batch ran in this process.", "batch")
	m.thresholdsMet = f.gauge("wtb_batch_thresholds_met", "1 when the batch met its thresholds, else 0.", "batch")
	// Model calls are labelled by upstream and model, which grow with the
	// bench file's gateway block, not with the matrix: the same series at
	// every detail level.
	m.llmRequests = f.counter("wtb_llm_requests_total", "Model calls node runs made through the gateway, by source: live, recorded or replayed (a replayed call was not sent).", "batch", "upstream", "model", "source")
	m.llmTokens = f.counter("wtb_llm_tokens_total", "Tokens the model calls' responses reported, by kind: input (not read from a cache), output (without reasoning), cache_read, cache_write, reasoning. Replayed calls count what they recorded.", "batch", "upstream", "model", "kind")
	m.llmCost = f.counter("wtb_llm_cost_usd_total", "What the priced model calls cost by the bench file's prices, in US dollars (replayed calls: what they would cost live).", "batch", "upstream", "model")
	m.llmQueue = f.counter("wtb_llm_queue_seconds_total", "Time model calls waited in the gateway (the upstream's limits, the waits before retries after a push back), kept apart from their latency.", "batch", "upstream")
	m.llmRetries = f.counter("wtb_llm_retries_total", "Model calls the gateway sent again after the upstream pushed back (429, 503, 529): the attempts past each call's first.", "batch", "upstream")
	m.llmUnpriced = f.counter("wtb_llm_unpriced_requests_total", "Model calls with no known cost: their model has no price, or their response reported no usage (never counted as $0).", "batch", "upstream", "model")
	m.batch.MustRegister(pluginCollector{m})
	return m
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// SetDetail sets the detail level of the batches counted from now on.
func (m *Metrics) SetDetail(d Detail) { m.detail = d }

// Detail is the detail level batches get (before DetailAuto resolves).
func (m *Metrics) Detail() Detail { return m.detail }

// batchGatherer gathers a batch's figures: what is served beside the
// runtime's, and all that a push sends.
func (m *Metrics) batchGatherer() prometheus.Gatherer { return prometheus.Gatherers{m.batch, m.coarse} }

// Handler serves the batch, plugin and runtime metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{m.batchGatherer(), m.runtime}, promhttp.HandlerOpts{EnableOpenMetrics: false})
}

// Register adds collectors to the served metrics (wtb view's own).
func (m *Metrics) Register(cs ...prometheus.Collector) {
	m.batch.MustRegister(cs...)
}

// Registerer is where Register puts collectors.
func (m *Metrics) Registerer() prometheus.Registerer { return m.batch }

// BatchInfo describes a batch about to be counted.
type BatchInfo struct {
	ID, Name, Runner string
	// Planned is the executions it will run in this process; Combinations,
	// how many combinations it has (what DetailAuto decides on).
	Planned, Combinations int
}

// Batch starts counting one batch: it subscribes to the bus and is the
// scheduler's Observer.
func (m *Metrics) Batch(bus *events.Bus, info BatchInfo) *Batch {
	id := info.ID
	b := &Batch{m: m, id: id, detail: m.detail.Resolve(info.Combinations), inFlight: m.inFlight.WithLabelValues(id), queued: m.queued.WithLabelValues(id),
		roundTrip: m.roundTrip.WithLabelValues(id), storeWrite: m.storeWrite.WithLabelValues(id),
		storeRows: m.storeRows.WithLabelValues(id), combos: map[string]*comboMetrics{}, nodes: map[[2]string]*nodeMetrics{}}
	if b.detail == DetailBatch {
		b.whole = m.perBatch.of(id)
	}
	m.batchInfo.WithLabelValues(id, info.Name, info.Runner, string(b.detail)).Set(1)
	m.planned.WithLabelValues(id).Set(float64(info.Planned))
	pluginEvents := []events.Type{events.PluginStarted, events.PluginCrashed, events.PluginRestarted, events.PluginStopped, events.PluginGaveUp}
	since := time.Now()
	b.unsub = bus.Subscribe(b.event, append([]events.Type{events.ExecutionFinished, events.ExecutionFailed,
		events.ExecutionRetried, events.StoreStalled}, pluginEvents...)...)
	// Plugins start before the batch exists; their events wait in the bus's
	// history.
	for _, e := range bus.History(events.Filter{Types: pluginEvents}) {
		if e.Time.Before(since) {
			b.event(e)
		}
	}
	return b
}

// Batch counts one batch. Its per-combination and per-node series are looked
// up once and kept: an execution costs a few atomic adds.
type Batch struct {
	m      *Metrics
	id     string
	detail Detail
	// whole is the batch's only execution series at DetailBatch.
	whole *comboMetrics
	unsub func()
	start time.Time

	inFlight, queued                 prometheus.Gauge
	roundTrip, storeWrite, storeRows prometheus.Observer

	mu     sync.Mutex
	combos map[string]*comboMetrics
	nodes  map[[2]string]*nodeMetrics
}

var _ sched.Observer = (*Batch)(nil)

type comboMetrics struct {
	started, succeeded, failed prometheus.Counter
	score, duration            prometheus.Observer
}

type nodeMetrics struct {
	executed, shared, cached prometheus.Counter
	duration                 prometheus.Observer
}

// of makes the execution series of one label set.
func (v executionVecs) of(labels ...string) *comboMetrics {
	return &comboMetrics{started: v.started.WithLabelValues(labels...),
		succeeded: v.finished.WithLabelValues(slices.Concat(labels, []string{"succeeded"})...),
		failed:    v.finished.WithLabelValues(slices.Concat(labels, []string{"failed"})...),
		score:     v.score.WithLabelValues(labels...), duration: v.duration.WithLabelValues(labels...)}
}

// Detail is the level the batch is counted at (never DetailAuto).
func (b *Batch) Detail() Detail { return b.detail }

func (b *Batch) combo(name string) *comboMetrics {
	if b.whole != nil {
		return b.whole
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.combos[name]
	if c == nil {
		c = b.m.perCombination.of(b.id, name)
		b.combos[name] = c
	}
	return c
}

func (b *Batch) node(name, variant string) *nodeMetrics {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := [2]string{name, variant}
	n := b.nodes[k]
	if n == nil {
		m := b.m
		n = &nodeMetrics{executed: m.nodeRuns.WithLabelValues(b.id, name, variant, "executed"),
			shared: m.nodeRuns.WithLabelValues(b.id, name, variant, "shared"), cached: m.nodeRuns.WithLabelValues(b.id, name, variant, "cached"),
			duration: m.nodeDuration.WithLabelValues(b.id, name, variant)}
		b.nodes[k] = n
	}
	return n
}

func (b *Batch) event(e events.Event) {
	if e.BatchID != "" && e.BatchID != b.id {
		return
	}
	switch e.Type {
	case events.ExecutionFinished, events.ExecutionFailed:
		c := b.combo(e.Combination)
		if e.Type == events.ExecutionFinished {
			c.succeeded.Inc()
		} else {
			c.failed.Inc()
		}
		if v, ok := e.Data["overall_score"].(float64); ok {
			c.score.Observe(v)
		}
		if v, ok := e.Data["duration_ms"].(float64); ok {
			c.duration.Observe(v / 1000)
		}
	case events.ExecutionRetried:
		kind, _ := e.Data["kind"].(string)
		b.m.retries.WithLabelValues(b.id, kind).Inc()
	case events.StoreStalled:
		b.m.storeStalls.WithLabelValues(b.id).Inc()
		if v, ok := e.Data["waited_ms"].(float64); ok {
			b.m.storeStallSeconds.WithLabelValues(b.id).Add(v / 1000)
		}
	default: // plugin lifecycle
		b.m.pluginEvents.WithLabelValues(e.Plugin, pluginEvent(e.Type)).Inc()
	}
}

func pluginEvent(t events.Type) string {
	switch t {
	case events.PluginStarted:
		return "started"
	case events.PluginCrashed:
		return "crashed"
	case events.PluginRestarted:
		return "restarted"
	case events.PluginStopped:
		return "stopped"
	}
	return "gave_up"
}

// ExecutionStarted implements sched.Observer.
func (b *Batch) ExecutionStarted(combination string) {
	if b.start.IsZero() {
		b.mu.Lock()
		if b.start.IsZero() {
			b.start = time.Now()
		}
		b.mu.Unlock()
	}
	b.combo(combination).started.Inc()
}

// Load implements sched.Observer.
func (b *Batch) Load(inFlight, queued int) {
	b.inFlight.Set(float64(inFlight))
	b.queued.Set(float64(queued))
}

// RoundTrip implements sched.Observer.
func (b *Batch) RoundTrip(d time.Duration) { b.roundTrip.Observe(d.Seconds()) }

// NodeRun implements sched.Observer.
func (b *Batch) NodeRun(node, variant string, d time.Duration, executions int) {
	n := b.node(node, variant)
	n.executed.Inc()
	if executions > 1 {
		n.shared.Add(float64(executions - 1))
	}
	n.duration.Observe(d.Seconds())
}

// NodeCached implements sched.Observer.
func (b *Batch) NodeCached(node, variant string, executions int) {
	b.node(node, variant).cached.Add(float64(executions))
}

// StoreWrite implements sched.Observer.
func (b *Batch) StoreWrite(rows int, d time.Duration, attempts int, _ error) {
	b.storeWrite.Observe(d.Seconds())
	b.storeRows.Observe(float64(rows))
	if attempts > 1 {
		b.m.storeRetries.WithLabelValues(b.id).Add(float64(attempts - 1))
	}
}

// ModelCall implements sched.Observer: one model call, by upstream and
// model.
func (b *Batch) ModelCall(c *store.ModelCall) {
	m := b.m
	m.llmRequests.WithLabelValues(b.id, c.Upstream, c.Model, c.Source).Inc()
	for _, k := range []struct {
		kind string
		n    int
	}{{"input", c.InputTokens}, {"output", c.OutputTokens}, {"cache_read", c.CacheReadTokens},
		{"cache_write", c.CacheWriteTokens}, {"reasoning", c.ReasoningTokens}} {
		// Every kind's series exists once the model is seen, so a rate
		// over it starts at 0 rather than appearing mid-batch.
		m.llmTokens.WithLabelValues(b.id, c.Upstream, c.Model, k.kind).Add(float64(k.n))
	}
	m.llmQueue.WithLabelValues(b.id, c.Upstream).Add(c.QueueMs / 1000)
	if c.Attempts > 1 {
		m.llmRetries.WithLabelValues(b.id, c.Upstream).Add(float64(c.Attempts - 1))
	}
	cost := m.llmCost.WithLabelValues(b.id, c.Upstream, c.Model)
	unpriced := m.llmUnpriced.WithLabelValues(b.id, c.Upstream, c.Model)
	if c.Priced {
		cost.Add(c.CostUSD)
	} else {
		unpriced.Inc()
	}
}

// Finish records how the batch ended and stops listening to the bus.
func (b *Batch) Finish(thresholdsMet bool, elapsed time.Duration) {
	b.unsub()
	b.inFlight.Set(0)
	b.queued.Set(0)
	b.m.batchFinished.WithLabelValues(b.id).Set(float64(time.Now().UnixNano()) / 1e9)
	b.m.batchDuration.WithLabelValues(b.id).Set(elapsed.Seconds())
	met := 0.0
	if thresholdsMet {
		met = 1
	}
	b.m.thresholdsMet.WithLabelValues(b.id).Set(met)
}

// Push sends the batch's figures to a Prometheus Pushgateway (job "wtb",
// grouped by batch), the way Prometheus documents for batch jobs: the last
// figures of a batch stay there after the process has gone. The grouping key
// is wtb_batch (the pushed series carry batch themselves, which a grouping
// label may not repeat).
func (m *Metrics) Push(ctx context.Context, gateway, batchID string) error {
	p := push.New(gateway, "wtb").Gatherer(m.batchGatherer()).Grouping("wtb_batch", batchID)
	done := make(chan error, 1)
	go func() { done <- p.PushContext(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("pushing metrics to %s: %w", gateway, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pushing metrics to %s: %w", gateway, ctx.Err())
	}
}
