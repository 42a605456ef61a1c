package sdk

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WriteMetrics writes figures in the Prometheus text exposition format
// (version 0.0.4): what a worker on its own machine serves for Prometheus to
// scrape. Samples of one name are written together, names in order.
func WriteMetrics(w io.Writer, ms []Metric) error {
	byName := map[string][]Metric{}
	var names []string
	for _, m := range ms {
		if _, ok := byName[m.Name]; !ok {
			names = append(names, m.Name)
		}
		byName[m.Name] = append(byName[m.Name], m)
	}
	sort.Strings(names)
	bw := bufio.NewWriter(w)
	for _, name := range names {
		samples := byName[name]
		typ := "gauge"
		if samples[0].Kind == MetricCounter {
			typ = "counter"
		}
		if help := samples[0].Help; help != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n", name, strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help))
		}
		fmt.Fprintf(bw, "# TYPE %s %s\n", name, typ)
		for _, s := range samples {
			bw.WriteString(name)
			writeLabels(bw, s.Labels)
			bw.WriteByte(' ')
			bw.WriteString(formatValue(s.Value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func writeLabels(w *bufio.Writer, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, `%s="%s"`, k, labelEscaper.Replace(labels[k]))
	}
	w.WriteByte('}')
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// MetricsHandler serves the figures figures returns at each scrape, in the
// Prometheus text format: mount it at /metrics of a worker that runs on its
// own machine (a local plugin's figures reach the host through the contract
// instead, see MetricsReporter).
func MetricsHandler(figures func() []Metric) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = WriteMetrics(w, figures())
	})
}

// ListenMetrics serves figures at http://addr/metrics (port 0 picks one; the
// address is returned) until stop is called.
func ListenMetrics(addr string, figures func() []Metric) (bound net.Addr, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", MetricsHandler(figures))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), func() { _ = srv.Close() }, nil
}
