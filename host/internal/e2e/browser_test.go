package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromium finds a headless-capable Chromium, or skips (fails under CI,
// which installs one).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("WTB_TEST_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if path, err := osexec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium: CI installs Debian's chromium package (scripts/install-deps.sh)")
	}
	t.Skip("no Chromium on this machine (apt-get install chromium)")
	return ""
}

// browser starts a headless Chromium for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	// Chromium's own temporary files (a directory for its singleton socket,
	// which it removes only on a clean exit, and chromedp ends it with a
	// kill) go in a directory of the test's, removed after the browser has
	// ended: /tmp held one per browser test. Short: the socket's path must
	// fit a Unix socket's (t.TempDir() under a long test name does not).
	tmp, err := os.MkdirTemp("", "c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1400, 1200), chromedp.Env("TMPDIR="+tmp))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// artifacts is where screenshots go: $WTB_TEST_ARTIFACTS (CI keeps it) or a
// temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("WTB_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startViewer runs `wtb view` on a free port and returns its address.
func startViewer(t *testing.T, e *env) string {
	t.Helper()
	cmd := e.cmd("view", "--addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	m := regexp.MustCompile(`http://[0-9.:]+`).FindString(line)
	if err != nil || m == "" {
		t.Fatalf("wtb view did not say where it listens: %q %v\n%s", line, err, stderr.String())
	}
	return m
}

func texts(ctx context.Context, sel string) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent)`, sel)))
}

// The viewer, driven in a real browser over a real batch: the batches page,
// into the best combination, an execution's node graph and nested diff, a
// comparison with the diverging node's outputs side by side.
func TestViewerInABrowser(t *testing.T) {
	e := newEnv(t)
	bench := quickstart(e)
	// B answers tersely where A was verbose: scores change at node answer.
	e.write("changed.hcl", strings.Replace(bench, `variant "terse" { params = { style = "terse" } }`, `variant "terse" { params = { style = "verbose" } }`, 1))
	e.write("logs.hcl", logsBench)
	idA := batchID(t, e.mustRun("run", "quickstart.hcl", "--no-progress").stderr)
	idB := batchID(t, e.run("run", "changed.hcl", "--no-progress").stderr)
	idLogs := batchID(t, e.mustRun("run", "logs.hcl", "--no-progress").stderr)
	url := startViewer(t, e)
	ctx := browser(t)
	shots := artifacts(t)

	// Batches: three, newest first.
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/"), chromedp.WaitVisible(`[data-testid=batch-row]`)); err != nil {
		t.Fatal(err)
	}
	rows, _ := texts(ctx, `[data-testid=batch-row] td:nth-child(2)`)
	if len(rows) != 3 || rows[0] != idLogs {
		t.Errorf("batches page lists %v", rows)
	}
	screenshot(t, ctx, shots, "viewer-batches.png")

	// Into the quickstart's best combination.
	err := chromedp.Do(ctx,
		chromedp.Click(fmt.Sprintf(`[data-batch=%q] a`, idA)),
		chromedp.WaitVisible(`[data-testid=leaderboard]`))
	if err != nil {
		t.Fatal(err)
	}
	best, err := chromedp.Run(ctx, chromedp.Text(`[data-testid=combo-row]:first-child [data-testid=combo-link]`))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid=combo-row]:first-child [data-testid=combo-link]`),
		chromedp.WaitVisible(`[data-testid=execution-row]`))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the filtered page replaces the first one
	keys, _ := texts(ctx, `[data-testid=execution-row] td:first-child`)
	count, _ := texts(ctx, `[data-testid=execution-count]`)
	if len(keys) != 16 || !strings.HasPrefix(keys[0], best+"/") || len(count) != 1 || count[0] != "1–16 of 16" {
		t.Errorf("filtered by %q: %d rows (%v), count %v", best, len(keys), keys, count)
	}
	screenshot(t, ctx, shots, "viewer-batch.png")

	// An execution: the graph and a nested diff.
	err = chromedp.Do(ctx,
		chromedp.Navigate(url+"/#/execution/"+idLogs+"/answer%3Dx%2Fgood%2F0"),
		chromedp.WaitVisible(`[data-testid=node-graph] g.node`),
		chromedp.Click(`g.node[data-node=answer]`),
		chromedp.WaitVisible(`[data-testid=diff-row]`))
	if err != nil {
		t.Fatal(err)
	}
	nodes, _ := texts(ctx, `g.node[data-testid=node-box] text.name`)
	if strings.Join(nodes, ",") != "fetch,answer = x" {
		t.Errorf("graph nodes %v", nodes)
	}
	paths, _ := texts(ctx, `[data-testid=diff-row] td:nth-child(2)`)
	if strings.Join(paths, ",") != "$.answer,$.doc.tags[1]" {
		t.Errorf("answer's diff paths %v, want the nested $.doc.tags[1]", paths)
	}
	classes, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('g.node')].map(g => g.getAttribute('class'))`))
	if strings.Join(classes, "|") != "node succeeded|node succeeded selected" {
		t.Errorf("node classes %v", classes)
	}
	err = chromedp.Do(ctx, chromedp.Click(`g.node[data-node=fetch]`), chromedp.WaitVisible(`[data-testid=node-logs]`))
	logs, _ := texts(ctx, `[data-testid=node-logs]`)
	if err != nil || len(logs) != 1 || !strings.Contains(logs[0], "stderr | line 30") || strings.Contains(logs[0], "sk-test") {
		t.Errorf("fetch's logs: %v %v", err, logs)
	}
	screenshot(t, ctx, shots, "viewer-execution.png")

	// Compare A and B, chosen on the batches page.
	err = chromedp.Do(ctx,
		chromedp.Navigate(url+"/#/"),
		chromedp.WaitVisible(`[data-testid=batch-row]`),
		chromedp.Click(fmt.Sprintf(`[data-batch=%q] input`, idA)),
		chromedp.Click(fmt.Sprintf(`[data-batch=%q] input`, idB)),
		chromedp.Click(`[data-testid=compare-selected]`),
		chromedp.WaitVisible(`[data-testid=compare-combinations]`))
	if err != nil {
		t.Fatal(err)
	}
	cases, _ := texts(ctx, `[data-testid=diverging-node]`)
	outA, _ := texts(ctx, `[data-testid=output-a]`)
	outB, _ := texts(ctx, `[data-testid=output-b]`)
	if len(cases) == 0 || cases[0] != "answer" || len(outA) != len(cases) || len(outB) != len(cases) || outA[0] == outB[0] ||
		!strings.Contains(outA[0], `"answer"`) {
		t.Errorf("compare: diverging %v\nA %v\nB %v", cases, outA, outB)
	}
	screenshot(t, ctx, shots, "viewer-compare.png")
}

// The HTML report opens from disk with no network and shows the numbers
// `wtb results --format json` prints.
func TestReportOpensFromDiskWithTheSameNumbers(t *testing.T) {
	e := newEnv(t)
	quickstart(e)
	id := batchID(t, e.mustRun("run", "quickstart.hcl", "--no-progress").stderr)
	e.mustRun("report", id, "--html", "out/report.html")
	var board struct {
		Summary struct {
			Leaderboard []struct {
				Combination string  `json:"combination"`
				Mean        float64 `json:"mean_score"`
				PassRate    float64 `json:"pass_rate"`
			} `json:"leaderboard"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(e.mustRunOK("results", id, "--format", "json")), &board); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	var mu sync.Mutex
	var requests []string
	err := chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, r.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "out/report.html")
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(`[data-testid=combo-row]`)); err != nil {
		t.Fatal(err)
	}
	combos, _ := texts(ctx, `[data-testid=combo-row] [data-testid=combo-link]`)
	means, _ := texts(ctx, `[data-testid=combo-row] [data-testid=mean]`)
	passes, _ := texts(ctx, `[data-testid=combo-row] [data-testid=pass-rate]`)
	if len(combos) != len(board.Summary.Leaderboard) || len(combos) == 0 {
		t.Fatalf("report shows %d combinations, results %d", len(combos), len(board.Summary.Leaderboard))
	}
	for i, c := range board.Summary.Leaderboard {
		mean, err1 := strconv.ParseFloat(means[i], 64)
		pass, err2 := strconv.ParseFloat(strings.TrimSuffix(passes[i], "%"), 64)
		if combos[i] != c.Combination || err1 != nil || err2 != nil || math.Abs(mean-c.Mean) > 0.0005+1e-9 || math.Abs(pass-100*c.PassRate) > 0.5+1e-9 {
			t.Errorf("row %d: report %s %s %s, results %s %.4f %.2f%%", i, combos[i], means[i], passes[i], c.Combination, c.Mean, 100*c.PassRate)
		}
	}
	// An execution's page works from the embedded data too.
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=execution-row] a`), chromedp.WaitVisible(`[data-testid=node-graph] g.node`)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, artifacts(t), "report-execution.png")
	mu.Lock()
	defer mu.Unlock()
	for _, u := range requests {
		if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the report fetched %s", u)
		}
	}
}

// js evaluates an expression in the page.
func js[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitPage waits until a JavaScript condition holds in the page.
func waitPage(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('app').innerText.slice(0, 2000)`))
		t.Fatalf("waiting for %s: %v\nthe page says:\n%s", cond, err, body)
	}
}

// goTo sets the page's hash and waits until it is rendered.
func goTo(t *testing.T, ctx context.Context, hash string) {
	t.Helper()
	js[bool](t, ctx, fmt.Sprintf(`location.hash = %q, true`, hash))
	waitPage(t, ctx, fmt.Sprintf(`document.getElementById('app').dataset.rendered === location.hash && location.hash === %q`, hash))
}

// click clicks an element and waits for the page to render the hash it leads to.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	before := js[string](t, ctx, `location.hash`)
	if !js[bool](t, ctx, `document.querySelector('`+sel+`') !== null`) {
		t.Fatalf("click %s: no such element", sel)
	}
	if err := chromedp.Do(ctx, chromedp.Click(sel, chromedp.NodeVisible)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	waitPage(t, ctx, fmt.Sprintf(`location.hash !== %q && document.getElementById('app').dataset.rendered === location.hash`, before))
}
