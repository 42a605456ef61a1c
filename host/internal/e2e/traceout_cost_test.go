package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/testbin"
)

// trivialBench is make bench's trivial batch: one merge node with 10
// variants, 100 cases, n/1000 repeats (n executions), 64 at a time.
func trivialBench(n int) string {
	var b strings.Builder
	b.WriteString("runner \"pool\" {\n  plugin      = \"pool\"\n  max_workers = 64\n}\nworkflow \"trivial\" {\n  node \"only\" {\n    kind   = \"merge\"\n    params = { answer = \"42\" }\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "    variant \"v%d\" { params = { v = %d } }\n", i, i)
	}
	fmt.Fprintf(&b, "  }\n}\nbatch_test \"trivial\" {\n  workflow    = workflow.trivial\n  runner      = runner.pool\n  repeat      = %d\n  max_pending = 256\n", n/1000)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "  case \"c%d\" { input = { q = %d } }\n", i, i)
	}
	b.WriteString("  evaluator \"answer\" {\n    type   = \"equals\"\n    path   = \"$.answer\"\n    expect = \"42\"\n  }\n}\n")
	return b.String()
}

var ratePattern = regexp.MustCompile(`(\d+) executions/s`)

// exportRun is one run of the trivial batch: its wall time, the CPU time of
// the wtb process and the plugins it reaped (user + system, from the
// kernel's accounting of the child: far less noisy than wall time on a
// shared machine) and the rate it printed.
type exportRun struct {
	wall, cpu time.Duration
	rate      float64
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// processCPU is the CPU time (user + system) a process has used so far,
// from /proc (0 when it cannot be read).
func processCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command (which may hold spaces) start after ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// readingCollector is an OTLP/HTTP collector that reads each request and
// answers success, doing nothing else: what the export costs the batch,
// without a collector's own work on the same cores.
func readingCollector(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkTraceExportCost measures what a live trace export costs the 10k
// trivial batch: the same batch without --otlp-endpoint, with it to a
// collector that only reads the requests (in this process), and with it to
// a real Jaeger (WTB_TEST_JAEGER_OTLP_URL, when set), interleaved
// WTB_BENCH_ROUNDS times (5; the order reverses every other round). It
// reports, for each collector, the ratios with/without of the medians of
// wall time, executions/s and the host's CPU time; and Jaeger's own CPU
// while it ingests the batch (WTB_TEST_JAEGER_PID, from
// scripts/services.sh), which on a machine of 2 cores is taken from the
// batch's wall time. make bench runs it (scripts/bench.sh, "Trace export
// cost").
func BenchmarkTraceExportCost(b *testing.B) {
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("WTB_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	size := 10000
	if v, err := strconv.Atoi(os.Getenv("WTB_BENCH_EXECUTIONS")); err == nil && v >= 1000 {
		size = v
	}
	testbin.BuildAll(b)
	dir := b.TempDir()
	file := filepath.Join(dir, "trivial.hcl")
	if err := os.WriteFile(file, []byte(trivialBench(size)), 0o644); err != nil {
		b.Fatal(err)
	}
	reader := readingCollector(b)
	type mode struct{ name, url, pid string }
	modes := []mode{{name: "without"}, {name: "reader", url: reader}}
	if u := os.Getenv("WTB_TEST_JAEGER_OTLP_URL"); u != "" {
		modes = append(modes, mode{name: "jaeger", url: u, pid: os.Getenv("WTB_TEST_JAEGER_PID")})
	} else {
		b.Log("no Jaeger (WTB_TEST_JAEGER_OTLP_URL: scripts/services.sh starts it): the reading collector only")
	}
	wtb := filepath.Join(testbin.Dir(b), "wtb")
	run := func(i int, m mode) (exportRun, time.Duration) {
		db := fmt.Sprintf("sqlite://%s/run-%d-%s.db", dir, i, m.name)
		args := []string{"--db", db, "run", file, "--no-progress", "--format", "csv"}
		if m.url != "" {
			args = append(args, "--otlp-endpoint", m.url)
		}
		cmd := osexec.Command(wtb, args...)
		cmd.Env = append(os.Environ(), "WTB_PLUGIN_PATH="+testbin.PluginDir(b), "NO_COLOR=1", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		collector := time.Duration(0)
		if m.pid != "" {
			collector = processCPU(m.pid)
		}
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("wtb %v: %v\n%s", args, err, stderr.String())
		}
		wall := time.Since(start)
		if m.pid != "" {
			// What Jaeger's batch processor (100 ms) still had to store.
			time.Sleep(300 * time.Millisecond)
			collector = processCPU(m.pid) - collector
		}
		if m.url != "" && !strings.Contains(stderr.String(), fmt.Sprintf("of %d executions sent", size)) {
			b.Fatalf("the export did not send every execution:\n%s", stderr.String())
		}
		r := ratePattern.FindStringSubmatch(stderr.String())
		if r == nil {
			b.Fatalf("no rate in:\n%s", stderr.String())
		}
		rate, _ := strconv.ParseFloat(r[1], 64)
		ps := cmd.ProcessState
		return exportRun{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), rate: rate}, collector
	}
	for n := 0; n < b.N; n++ {
		wall, cpu, rate := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
		var jaegerCPU []float64
		for i := 0; i < rounds; i++ {
			order := slices.Clone(modes)
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, m := range order {
				r, collector := run(i, m)
				wall[m.name] = append(wall[m.name], r.wall.Seconds())
				cpu[m.name] = append(cpu[m.name], r.cpu.Seconds())
				rate[m.name] = append(rate[m.name], r.rate)
				if m.pid != "" {
					jaegerCPU = append(jaegerCPU, collector.Seconds())
				}
			}
		}
		ratio := func(xs map[string][]float64, name string) float64 { return median(xs[name]) / median(xs["without"]) }
		b.Logf("%d executions, %d rounds; medians: wall, host CPU, executions/s", size, rounds)
		for _, m := range modes {
			b.Logf("  %-8s %.2f s  %.2f s  %.0f/s  host CPU each run (s) %v", m.name, median(wall[m.name]), median(cpu[m.name]), median(rate[m.name]), cpu[m.name])
		}
		if len(jaegerCPU) > 0 {
			b.Logf("Jaeger's own CPU ingesting each batch (s): median %.2f, %v", median(jaegerCPU), jaegerCPU)
			b.ReportMetric(median(jaegerCPU), "jaeger-cpu-s")
		}
		for _, m := range modes[1:] {
			b.ReportMetric(ratio(wall, m.name), m.name+"-wall-with/without")
			b.ReportMetric(ratio(cpu, m.name), m.name+"-cpu-with/without")
			b.ReportMetric(ratio(rate, m.name), m.name+"-rate-with/without")
		}
	}
}
