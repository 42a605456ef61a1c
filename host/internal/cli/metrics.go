package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wtbench/wtb/host/internal/bench"
	"github.com/wtbench/wtb/host/internal/metrics"
)

// runMetrics is the Prometheus side of a run: an endpoint while it runs
// (--metrics-addr) and a push when it ends (--pushgateway).
type runMetrics struct {
	m       *metrics.Metrics
	srv     *http.Server
	gateway string
	linger  time.Duration
}

// startMetrics serves the run's metrics when asked to; nil when not.
func (a *app) startMetrics(f *runFlags) (*runMetrics, error) {
	if f.metricsAddr == "" && f.pushgateway == "" {
		return nil, nil
	}
	rm := &runMetrics{m: metrics.New(), gateway: f.pushgateway, linger: f.metricsLinger}
	if f.metricsAddr != "" {
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return nil, exitf(ExitConfig, "--metrics-addr %s: %v", f.metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", rm.m.Handler())
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/metrics", http.StatusFound) })
		rm.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := rm.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Warn("the metrics endpoint stopped", "error", err)
			}
		}()
		fmt.Fprintf(a.stderr, "metrics on http://%s/metrics\n", ln.Addr())
	}
	return rm, nil
}

// done pushes the batch's final figures (a failed push is a warning: the
// results are stored either way) and stops the endpoint.
func (a *app) metricsDone(rm *runMetrics, out *bench.Outcome) {
	if rm == nil {
		return
	}
	if rm.gateway != "" && out != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := rm.m.Push(ctx, rm.gateway, out.Batch.ID); err != nil {
			fmt.Fprintf(a.stderr, "warning: %v\n", err)
		} else {
			fmt.Fprintf(a.stderr, "pushed the batch's metrics to %s\n", rm.gateway)
		}
		cancel()
	}
	if rm.srv != nil {
		if rm.linger > 0 {
			fmt.Fprintf(a.stderr, "serving the final metrics for %s more\n", rm.linger)
			sleepCtx(a.ctx, rm.linger)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = rm.srv.Shutdown(ctx)
		cancel()
	}
}
