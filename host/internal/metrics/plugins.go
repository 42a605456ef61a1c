package metrics

import (
	"context"
	"regexp"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wtbench/wtb/sdk"
)

// PluginSource is a local plugin whose own figures the endpoint shows:
// pluginhost.Runner.
type PluginSource interface {
	Name() string
	Metrics(ctx context.Context) ([]sdk.Metric, error)
}

// AddPlugin makes a plugin's figures part of every scrape, labelled
// plugin="NAME".
func (m *Metrics) AddPlugin(p PluginSource) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A plugin started again under the same name replaces the last figures
	// of its predecessor: two sources of the same series would fail a scrape.
	kept := m.plugins[:0]
	for _, q := range m.plugins {
		if _, old := q.(frozen); !old || q.Name() != p.Name() {
			kept = append(kept, q)
		}
	}
	m.plugins = append(kept, p)
}

// RemovePlugin stops asking p (it is about to stop) and keeps serving the
// figures it gave last, so a scrape after the batch still sees them.
func (m *Metrics) RemovePlugin(p PluginSource) {
	ctx, cancel := context.WithTimeout(context.Background(), pluginScrapeTimeout)
	last, err := p.Metrics(ctx)
	cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, q := range m.plugins {
		if q == p {
			m.plugins[i] = frozen{name: p.Name(), metrics: last, err: err}
			return
		}
	}
}

// frozen is a stopped plugin's last figures.
type frozen struct {
	name    string
	metrics []sdk.Metric
	err     error
}

func (f frozen) Name() string                                  { return f.name }
func (f frozen) Metrics(context.Context) ([]sdk.Metric, error) { return f.metrics, f.err }

// pluginScrapeTimeout bounds how long a scrape waits for a plugin.
const pluginScrapeTimeout = 2 * time.Second

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// pluginCollector asks the local plugins for their figures at scrape time. It
// is unchecked (its metrics are not known in advance); a plugin's metric that
// is not a valid Prometheus name, or that uses the plugin label, is skipped.
type pluginCollector struct{ m *Metrics }

func (pluginCollector) Describe(chan<- *prometheus.Desc) {}

func (c pluginCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	sources := append([]PluginSource(nil), c.m.plugins...)
	c.m.mu.Unlock()
	for _, p := range sources {
		ctx, cancel := context.WithTimeout(context.Background(), pluginScrapeTimeout)
		ms, err := p.Metrics(ctx)
		cancel()
		if err != nil {
			continue
		}
		for _, s := range ms {
			if m := toPrometheus(p.Name(), s); m != nil {
				ch <- m
			}
		}
	}
}

func toPrometheus(plugin string, s sdk.Metric) prometheus.Metric {
	if !metricName.MatchString(s.Name) {
		return nil
	}
	names := []string{"plugin"}
	values := []string{plugin}
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		if k == "plugin" || !labelName.MatchString(k) {
			return nil
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		names = append(names, k)
		values = append(values, s.Labels[k])
	}
	t := prometheus.GaugeValue
	if s.Kind == sdk.MetricCounter {
		t = prometheus.CounterValue
	}
	help := s.Help
	if help == "" {
		help = "Reported by the " + plugin + " plugin."
	}
	m, err := prometheus.NewConstMetric(prometheus.NewDesc(s.Name, help, names, nil), t, s.Value, values...)
	if err != nil {
		return nil
	}
	return m
}
