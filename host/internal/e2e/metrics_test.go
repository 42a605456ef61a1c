package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tool finds a binary Debian's prometheus packages install, or skips (fails
// under CI, which installs them).
func tool(t *testing.T, name string) string {
	t.Helper()
	if path, err := osexec.LookPath(name); err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed: CI installs it (scripts/install-deps.sh)", name)
	}
	t.Skipf("%s is not installed (apt-get install prometheus prometheus-pushgateway)", name)
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startService runs a server for the test and waits until url answers.
func startService(t *testing.T, probe string, name string, args ...string) {
	t.Helper()
	cmd := osexec.Command(name, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 30*time.Second, func() string { return filepath.Base(name) + " did not start:\n" + out.String() }, func() bool {
		resp, err := http.Get(probe)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
}

// metricsBench runs long enough for a few scrapes: 2 variants × 2 cases ×
// 16 repeats of a 250 ms node behind a shared merge node, 4 at a time, and
// one case that always fails.
const metricsBench = `
runner "pool" {
  plugin      = "pool"
  max_workers = 4
}
workflow "w" {
  node "prep" {
    kind   = "merge"
    params = { ready = true }
  }
  node "work" {
    depends_on = ["prep"]
    command    = ["sh", "-c", "in=$(cat); sleep 0.25; case \"$in\" in *boom*) exit 3;; esac; echo '{\"answer\": \"ok\"}'"]
    variant "fast" {}
    variant "slow" { params = { extra = 1 } }
  }
}
batch_test "m" {
  workflow    = workflow.w
  runner      = runner.pool
  repeat      = 16
  max_retries = 0
  case "fine" { input = { q = "fine" } }
  case "bad" { input = { q = "boom" } }
  evaluator "e" {
    type   = "equals"
    path   = "$.answer"
    expect = "ok"
  }
}
`

// A real Prometheus scrapes `wtb run --metrics-addr` during a batch; what it
// scraped agrees with what the store holds, and promtool accepts the endpoint.
func TestPrometheusScrapesARun(t *testing.T) {
	prom := tool(t, "prometheus")
	promtool := tool(t, "promtool")
	e := newEnv(t)
	e.write("m.hcl", metricsBench)
	run := e.cmd("run", "m.hcl", "--metrics-addr", "127.0.0.1:0", "--metrics-linger", "6s", "--progress-every", "1s")
	var stderr syncBuffer
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill() })
	addrRE := regexp.MustCompile(`metrics on http://([0-9.:]+)/metrics`)
	waitFor(t, 20*time.Second, func() string { return "no metrics address:\n" + stderr.String() }, func() bool {
		return addrRE.MatchString(stderr.String())
	})
	target := addrRE.FindStringSubmatch(stderr.String())[1]

	// The endpoint passes Prometheus's own linter mid-run.
	body := httpGet(t, "http://"+target+"/metrics")
	check := osexec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	promAddr := freePort(t)
	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: wtb\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	startService(t, "http://"+promAddr+"/-/ready", prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)

	if err := run.Wait(); err != nil && run.ProcessState.ExitCode() != 1 {
		t.Fatalf("wtb run: %v\n%s", err, stderr.String())
	}
	id := batchID(t, stderr.String())
	if !strings.Contains(stderr.String(), "progress: ") {
		t.Errorf("no heartbeat lines:\n%s", stderr.String())
	}
	st := e.store()
	var succeeded, failed int
	for _, r := range e.results(st, id) {
		if r.Success {
			succeeded++
		} else {
			failed++
		}
	}
	cps, err := st.Checkpoints().ListByBatch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	executed, inPlugin := 0, 0
	for _, c := range cps {
		if c.Source == "ran" {
			executed++
			if c.WorkerID != "host" { // merge-only segments run in the host, not the plugin
				inPlugin++
			}
		}
	}
	if inPlugin == executed {
		t.Errorf("no node ran in the host: the merge-only prefix should (worker id host)")
	}
	// Once wtb has exited its series are stale; their largest value in the
	// last minutes is the last one scraped (they are counters).
	last := func(selector string) string { return "sum(max_over_time(" + selector + "[5m]))" }
	want := map[string]float64{
		last(`wtb_executions_finished_total{outcome="succeeded"}`): float64(succeeded),
		last(`wtb_executions_finished_total{outcome="failed"}`):    float64(failed),
		last(`wtb_executions_started_total`):                       float64(succeeded + failed),
		last(`wtb_node_runs_total{source="executed"}`):             float64(executed),
		// Every execution needs prep (run once per case and repeat, shared by
		// the two variants); work is stored only where it succeeded.
		last(`wtb_node_runs_total{node="prep"}`):                                       float64(succeeded + failed),
		last(`wtb_node_runs_total{node="prep",source="shared"}`):                       float64((succeeded + failed) / 2),
		last(`wtb_node_runs_total{node="work"}`):                                       float64(succeeded),
		last(`wtb_executor_node_runs_total{plugin="runner-pool",outcome="succeeded"}`): float64(inPlugin),
		last(`wtb_executor_node_runs_total{plugin="runner-pool",outcome="exit"}`):      float64(failed),
	}
	if succeeded != 32 || failed != 32 {
		t.Fatalf("store holds %d succeeded and %d failed, want 32 and 32", succeeded, failed)
	}
	for q, v := range want {
		var got float64
		waitFor(t, 20*time.Second, func() string { return fmt.Sprintf("Prometheus says %s = %v, the store %v", q, got, v) }, func() bool {
			got = promQuery(t, promAddr, q)
			return got == v
		})
	}
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// promQuery returns a query's single value (-1 when there is none).
func promQuery(t *testing.T, addr, q string) float64 {
	t.Helper()
	var res struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q))), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Data.Result) != 1 {
		return -1
	}
	s, _ := res.Data.Result[0].Value[1].(string)
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// A batch pushes its final figures to a real Pushgateway.
func TestPushgatewayGetsTheFinalFigures(t *testing.T) {
	gw := tool(t, "prometheus-pushgateway")
	addr := freePort(t)
	startService(t, "http://"+addr+"/-/ready", gw, "--web.listen-address="+addr)
	e := newEnv(t)
	e.write("m.hcl", strings.Replace(metricsBench, "repeat      = 16", "repeat      = 2", 1))
	r := e.run("run", "m.hcl", "--no-progress", "--pushgateway", "http://"+addr)
	if r.code != 0 || !strings.Contains(r.stderr, "pushed the batch's metrics") {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	id := batchID(t, r.stderr)
	body := httpGet(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`wtb_executions_finished_total{batch=%q,combination="work=fast",instance="",job="wtb",outcome="succeeded",wtb_batch=%q} 2`, id, id),
		fmt.Sprintf(`wtb_executions_finished_total{batch=%q,combination="work=slow",instance="",job="wtb",outcome="failed",wtb_batch=%q} 2`, id, id),
		fmt.Sprintf(`wtb_batch_thresholds_met{batch=%q,instance="",job="wtb",wtb_batch=%q} 1`, id, id),
		`wtb_batch_last_finished_timestamp_seconds{batch="` + id + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the gateway lacks %s", want)
		}
	}
	if strings.Contains(body, `go_goroutines{batch=`) {
		t.Error("a push carries the Go runtime's metrics; a batch job should push its own figures only")
	}
}

// By default --metrics-addr keeps serving after the batch ends until a
// scraper has read the final figures (batch_duration_seconds and the verdict
// exist only then) and says so; --metrics-linger 0 stops at once.
func TestMetricsEndpointWaitsForTheFinalScrape(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", tenOfSixteen())
	run := e.cmd("run", "bench.hcl", "--no-progress", "--metrics-addr", "127.0.0.1:0")
	var stderr syncBuffer
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill() })
	waiting := regexp.MustCompile(`serving the final metrics at (http://[0-9.:]+/metrics) until a scraper reads them, at most 15\.00 s more`)
	waitFor(t, 30*time.Second, func() string { return "no word of serving the final metrics:\n" + stderr.String() }, func() bool {
		return waiting.MatchString(stderr.String())
	})
	body := httpGet(t, waiting.FindStringSubmatch(stderr.String())[1])
	for _, final := range []string{"wtb_batch_duration_seconds", "wtb_batch_thresholds_met", `combination="default",outcome="succeeded"} 16`} {
		if !strings.Contains(body, final) {
			t.Errorf("the scrape after the end lacks %s:\n%s", final, body)
		}
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("wtb run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "the final metrics were scraped") {
		t.Errorf("the run should say its final figures were read:\n%s", stderr.String())
	}
	if r := e.mustRun("run", "bench.hcl", "--no-progress", "--metrics-addr", "127.0.0.1:0", "--metrics-linger", "0"); strings.Contains(r.stderr, "serving the final metrics") {
		t.Errorf("--metrics-linger 0 stops at once:\n%s", r.stderr)
	}
}

// matrixBench is 1,000 combinations (three nodes of ten variants each) of one
// case. The nodes are merge nodes, which run in the host: the batch takes a
// second or two, and its series are what a large sweep exposes.
func matrixBench() string {
	var b strings.Builder
	b.WriteString("runner \"pool\" { plugin = \"pool\" }\nworkflow \"w\" {\n")
	for i, n := range []string{"a", "b", "c"} {
		fmt.Fprintf(&b, "  node %q {\n    kind   = \"merge\"\n    params = { %s = 0 }\n", n, n)
		if i > 0 {
			fmt.Fprintf(&b, "    depends_on = [%q]\n", []string{"a", "b"}[i-1])
		}
		for v := 0; v < 10; v++ {
			fmt.Fprintf(&b, "    variant \"v%d\" { params = { %s = %d } }\n", v, n, v)
		}
		b.WriteString("  }\n")
	}
	b.WriteString(`}
batch_test "sweep" {
  workflow = workflow.w
  runner   = runner.pool
  case "one" { input = { q = 1 } }
  evaluator "e" {
    type   = "equals"
    path   = "$.a"
    expect = 0
  }
}
`)
	return b.String()
}

// finalScrape runs wtb with --metrics-addr and reads the endpoint once the
// batch has ended (the run waits for that scrape, then exits).
func finalScrape(t *testing.T, e *env, args ...string) (body, stderr string) {
	t.Helper()
	run := e.cmd(append(args, "--metrics-addr", "127.0.0.1:0")...)
	var errb syncBuffer
	run.Stderr = &errb
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	waiting := regexp.MustCompile(`serving the final metrics at (http://[0-9.:]+/metrics) until a scraper reads them`)
	var early error
	waitFor(t, 2*time.Minute, func() string { return "no word of serving the final metrics:\n" + errb.String() }, func() bool {
		select {
		case err := <-exited:
			early = fmt.Errorf("wtb exited before serving its final metrics (%v)", err)
			return true
		default:
			return waiting.MatchString(errb.String())
		}
	})
	if early != nil {
		t.Fatalf("wtb %v: %v\n%s", args, early, errb.String())
	}
	body = httpGet(t, waiting.FindStringSubmatch(errb.String())[1])
	if err := <-exited; err != nil {
		t.Fatalf("wtb %v: %v\n%s", args, err, errb.String())
	}
	return body, errb.String()
}

// seriesCount counts the samples of a scrape whose name starts with prefix.
func seriesCount(body, prefix string) int {
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}

// A sweep of 1,000 combinations stays scrapeable: --metrics-detail batch
// counts the executions per batch (35 series instead of 35 a combination),
// auto does so past 100 combinations and says so, combination keeps every
// combination's series; each level passes promtool. The counts are exact:
// they are what the README states.
func TestMetricsDetailScalesWithTheMatrix(t *testing.T) {
	promtool := tool(t, "promtool")
	e := newEnv(t)
	e.write("sweep.hcl", matrixBench())
	const (
		perCombination = 35 // started 1, finished 2, score 11+3, duration 15+3
		nodeVariants   = 30 // 21 series each
		fixed          = 60 // batch info, load, round trips, store writes, the plugin's own
	)
	want := map[string]int{
		"combination": perCombination*1000 + 21*nodeVariants + fixed,
		"batch":       perCombination + 21*nodeVariants + fixed,
		"auto":        perCombination + 21*nodeVariants + fixed,
	}
	for _, level := range []string{"combination", "batch", "auto"} {
		body, stderr := finalScrape(t, e, "run", "sweep.hcl", "--no-progress", "--metrics-detail", level)
		got := seriesCount(body, "wtb_")
		t.Logf("--metrics-detail %s: %d wtb_ series, %d in all, %d bytes a scrape", level, got, seriesCount(body, "wtb_")+seriesCount(body, "go_")+seriesCount(body, "process_"), len(body))
		if got != want[level] {
			t.Errorf("--metrics-detail %s: %d wtb_ series, want %d", level, got, want[level])
		}
		if !strings.Contains(body, `wtb_executions_finished_total{batch="`) || !strings.Contains(body, `outcome="succeeded"} `) {
			t.Errorf("--metrics-detail %s: no finished executions in the scrape", level)
		}
		byCombination := strings.Contains(body, `combination="a=v3,b=v4,c=v5"`)
		if byCombination != (level == "combination") {
			t.Errorf("--metrics-detail %s: series by combination: %v", level, byCombination)
		}
		resolved := level
		if level == "auto" {
			resolved = "batch"
		}
		if !strings.Contains(body, fmt.Sprintf(`detail=%q`, resolved)) {
			t.Errorf("--metrics-detail %s: wtb_batch_info does not say the level", level)
		}
		notice := strings.Contains(stderr, "metrics: 1000 combinations, more than 100: the execution series count the batch as a whole")
		if notice != (level == "auto") {
			t.Errorf("--metrics-detail %s: notice of the switch %v:\n%s", level, notice, stderr)
		}
		check := osexec.Command(promtool, "check", "metrics")
		check.Stdin = strings.NewReader(body)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("--metrics-detail %s: promtool check metrics: %v\n%s", level, err, out)
		}
	}
	if r := e.run("run", "sweep.hcl", "--metrics-detail", "fine"); r.code != 2 || !strings.Contains(r.stderr, `want auto, batch or combination, got "fine"`) {
		t.Errorf("an unknown level: exit %d\n%s", r.code, r.stderr)
	}
}
