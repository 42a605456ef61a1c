package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/metrics"
	"github.com/wtbench/wtb/host/internal/numfmt"
)

// DefaultMetricsLinger bounds how long --metrics-addr keeps serving after the
// batch ends, by default, waiting for a scraper to read the final figures:
// Prometheus's scrape intervals are usually 15 s or less. When the run saw a
// scraper come back more slowly than that, it waits one of its intervals
// and a half instead (at most maxMetricsLinger).
const (
	DefaultMetricsLinger = 15 * time.Second
	maxMetricsLinger     = 2 * time.Minute
)

// lingerFlag is --metrics-linger: "auto" (nil: until a scrape after the end,
// see DefaultMetricsLinger), or a fixed duration (0: stop at once).
type lingerFlag struct{ d *time.Duration }

func (f *lingerFlag) String() string {
	if f.d == nil {
		return "auto"
	}
	return f.d.String()
}

func (f *lingerFlag) Set(s string) error {
	if s == "auto" {
		f.d = nil
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want auto or a duration such as 30s, got %q", s)
	}
	f.d = &d
	return nil
}

func (f *lingerFlag) Type() string { return "auto|duration" }

// detailFlag is --metrics-detail; its zero value is auto.
type detailFlag struct{ d metrics.Detail }

func (f *detailFlag) String() string {
	if f.d == "" {
		return string(metrics.DetailAuto)
	}
	return string(f.d)
}

func (f *detailFlag) Set(s string) error {
	d, err := metrics.ParseDetail(s)
	if err != nil {
		return err
	}
	f.d = d
	return nil
}

func (f *detailFlag) Type() string { return "auto|batch|combination" }

func (f *detailFlag) detail() metrics.Detail {
	if f.d == "" {
		return metrics.DetailAuto
	}
	return f.d
}

// runMetrics is the Prometheus side of a run: an endpoint while it runs
// (--metrics-addr) and a push when it ends (--pushgateway).
type runMetrics struct {
	m       *metrics.Metrics
	srv     *http.Server
	addr    string
	gateway string
	linger  lingerFlag
	scrapes scrapes
}

// scrapes remembers when /metrics was read, so the end of a run can wait for
// a scraper to read the final figures, and knows how often it comes.
type scrapes struct {
	mu      sync.Mutex
	last    time.Time     // start of the latest scrape
	longest time.Duration // longest gap between two scrapes' starts
	served  chan struct{} // closed when a scrape that started after end is served
	end     time.Time
}

func (s *scrapes) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.mu.Lock()
		if !s.last.IsZero() {
			s.longest = max(s.longest, start.Sub(s.last))
		}
		s.last = start
		s.mu.Unlock()
		h.ServeHTTP(w, r)
		s.mu.Lock()
		if s.served != nil && !s.end.IsZero() && start.After(s.end) {
			close(s.served)
			s.served = nil
		}
		s.mu.Unlock()
	})
}

// ended marks the end of the batch and returns a channel closed once a
// scrape that started afterwards is served, and how long to wait for one.
func (s *scrapes) ended() (<-chan struct{}, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end = time.Now()
	ch := make(chan struct{})
	s.served = ch
	wait := DefaultMetricsLinger
	if slow := s.longest * 3 / 2; slow > wait {
		wait = min(slow, maxMetricsLinger)
	}
	return ch, wait
}

// startMetrics serves the run's metrics when asked to; nil when not.
func (a *app) startMetrics(f *runFlags) (*runMetrics, error) {
	if f.metricsAddr == "" && f.pushgateway == "" {
		return nil, nil
	}
	rm := &runMetrics{m: metrics.New(), gateway: f.pushgateway, linger: f.metricsLinger}
	rm.m.SetDetail(f.metricsDetail.detail())
	if f.metricsAddr != "" {
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return nil, exitf(ExitConfig, "--metrics-addr %s: %v", f.metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", rm.scrapes.wrap(rm.m.Handler()))
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/metrics", http.StatusFound) })
		rm.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		rm.addr = ln.Addr().String()
		go func() {
			if err := rm.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Warn("the metrics endpoint stopped", "error", err)
			}
		}()
		fmt.Fprintf(a.stderr, "metrics on http://%s/metrics\n", rm.addr)
	}
	return rm, nil
}

// done pushes the batch's final figures (a failed push is a warning: the
// results are stored either way), keeps the endpoint up until a scraper has
// read them (--metrics-linger), and stops it.
func (a *app) metricsDone(rm *runMetrics, out *application.Outcome) {
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
	if rm.srv == nil {
		return
	}
	served, wait := rm.scrapes.ended()
	switch {
	case a.ctx.Err() != nil:
		// Interrupted: the user wants out, not a wait.
	case rm.linger.d != nil && *rm.linger.d > 0:
		fmt.Fprintf(a.stderr, "serving the final metrics at http://%s/metrics for %s more (--metrics-linger)\n", rm.addr, numfmt.Elapsed(*rm.linger.d))
		sleepCtx(a.ctx, *rm.linger.d)
	case rm.linger.d == nil:
		fmt.Fprintf(a.stderr, "serving the final metrics at http://%s/metrics until a scraper reads them, at most %s more (--metrics-linger sets it; 0 stops at once)\n",
			rm.addr, numfmt.Elapsed(wait))
		timer := time.NewTimer(wait)
		select {
		case <-served:
			fmt.Fprintln(a.stderr, "the final metrics were scraped")
		case <-timer.C:
			fmt.Fprintln(a.stderr, "no scraper read the final metrics")
		case <-a.ctx.Done():
		}
		timer.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = rm.srv.Shutdown(ctx)
	cancel()
}
