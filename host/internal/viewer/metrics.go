package viewer

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/store"
)

// storeCollector shows what the database holds at scrape time: batches by
// status, and each running batch's progress — so a dashboard can follow
// batches run by other processes (CI jobs, other hosts) through one wtb view.
type storeCollector struct {
	st      store.Store
	batches *prometheus.Desc
	stored  *prometheus.Desc
	total   *prometheus.Desc
}

func newStoreCollector(st store.Store) *storeCollector {
	return &storeCollector{st: st,
		batches: prometheus.NewDesc("wtb_store_batches", "Batches among the latest 200 in the database, by status.", []string{"status"}, nil),
		stored:  prometheus.NewDesc("wtb_store_batch_executions_stored", "Executions stored so far by each unfinished (running or interrupted) batch.", []string{"batch", "name"}, nil),
		total:   prometheus.NewDesc("wtb_store_batch_executions_total", "Executions each unfinished batch will run in all.", []string{"batch", "name"}, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.batches
	ch <- c.stored
	ch <- c.total
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := application.Batches(ctx, c.st, MaxListedBatches)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.batches, err)
		return
	}
	counts := map[string]float64{}
	for i := range recs {
		rec := &recs[i]
		counts[application.DisplayStatus(rec)]++
		if rec.Status != store.StatusRunning { // running, or interrupted: unfinished
			continue
		}
		if n, err := c.st.Results().Count(ctx, rec.ID); err == nil {
			ch <- prometheus.MustNewConstMetric(c.stored, prometheus.GaugeValue, float64(n), rec.ID, rec.Name)
			ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(rec.Total), rec.ID, rec.Name)
		}
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.batches, prometheus.GaugeValue, n, status)
	}
}

// instrumented counts and times the viewer's requests by route.
func instrumented(reg prometheus.Registerer, route string, h http.HandlerFunc) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wtb_view_requests_total",
		Help: "Requests the viewer answered, by route and status code.", ConstLabels: prometheus.Labels{"route": route}}, []string{"code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wtb_view_request_duration_seconds",
		Help: "How long the viewer took to answer, by route.", ConstLabels: prometheus.Labels{"route": route},
		Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"code"})
	reg.MustRegister(requests, duration)
	return promhttp.InstrumentHandlerCounter(requests, promhttp.InstrumentHandlerDuration(duration, h))
}
