package e2e

import (
	"bytes"
	"fmt"
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

// BenchmarkTraceExportCost measures what a live trace export costs the 10k
// trivial batch: the same batch without and with --otlp-endpoint (a real
// Jaeger, WTB_TEST_JAEGER_OTLP_URL), interleaved WTB_BENCH_ROUNDS times (5;
// the order alternates each round), reporting the ratios with/without of
// the medians of wall time, executions/s and the host's CPU time.
// make bench runs it (scripts/bench.sh, "Trace export cost").
func BenchmarkTraceExportCost(b *testing.B) {
	jaegerURL := os.Getenv("WTB_TEST_JAEGER_OTLP_URL")
	if jaegerURL == "" {
		b.Skip("no Jaeger (WTB_TEST_JAEGER_OTLP_URL: scripts/services.sh starts it)")
	}
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
	wtb := filepath.Join(testbin.Dir(b), "wtb")
	run := func(i int, on bool) exportRun {
		db := fmt.Sprintf("sqlite://%s/run-%d-%v.db", dir, i, on)
		args := []string{"--db", db, "run", file, "--no-progress", "--format", "csv"}
		if on {
			args = append(args, "--otlp-endpoint", jaegerURL)
		}
		cmd := osexec.Command(wtb, args...)
		cmd.Env = append(os.Environ(), "WTB_PLUGIN_PATH="+testbin.PluginDir(b), "NO_COLOR=1", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("wtb %v: %v\n%s", args, err, stderr.String())
		}
		wall := time.Since(start)
		if on && !strings.Contains(stderr.String(), fmt.Sprintf("of %d executions sent", size)) {
			b.Fatalf("the export did not send every execution:\n%s", stderr.String())
		}
		m := ratePattern.FindStringSubmatch(stderr.String())
		if m == nil {
			b.Fatalf("no rate in:\n%s", stderr.String())
		}
		rate, _ := strconv.ParseFloat(m[1], 64)
		ps := cmd.ProcessState
		return exportRun{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), rate: rate}
	}
	for n := 0; n < b.N; n++ {
		var wall, cpu, rate [2][]float64 // [off, on]
		for i := 0; i < rounds; i++ {
			order := []bool{false, true}
			if i%2 == 1 {
				order = []bool{true, false}
			}
			for _, on := range order {
				r := run(i, on)
				k := 0
				if on {
					k = 1
				}
				wall[k] = append(wall[k], r.wall.Seconds())
				cpu[k] = append(cpu[k], r.cpu.Seconds())
				rate[k] = append(rate[k], r.rate)
			}
		}
		ratio := func(xs [2][]float64) float64 { return median(xs[1]) / median(xs[0]) }
		b.Logf("%d executions, %d rounds; medians without / with export: wall %.2f / %.2f s, host CPU %.2f / %.2f s, %.0f / %.0f executions/s",
			size, rounds, median(wall[0]), median(wall[1]), median(cpu[0]), median(cpu[1]), median(rate[0]), median(rate[1]))
		b.Logf("host CPU each run (s): without %v, with %v", cpu[0], cpu[1])
		b.ReportMetric(ratio(wall), "wall-with/without")
		b.ReportMetric(ratio(cpu), "cpu-with/without")
		b.ReportMetric(median(rate[1])/median(rate[0]), "rate-with/without")
	}
}
