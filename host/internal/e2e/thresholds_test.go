package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// With applies_to = "best" only the first-ranked combination is judged: the
// others are "not required" — in the command line and in the viewer — not ✗
// or "missed" in a batch that passed; and when two combinations tie on mean
// score, the leaderboard says how it ranked them.
func TestOnlyTheBestIsRequiredAndTiesAreExplained(t *testing.T) {
	e := newEnv(t)
	e.write("score.sh", scoreScript)
	e.write("bench.hcl", strings.Replace(deterministicBench("best"), `variant "bad" { params = { value = 0 } }`,
		`variant "bad" { params = { value = 0 } }
    variant "also" { params = { value = 1, also = true } }`, 1))
	r := e.run("run", "bench.hcl", "--no-progress", "--junit", "junit.xml")
	if r.code != 0 {
		t.Fatalf("the best combination meets the threshold: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^3\s+score=bad\s.*\s+not required$`).MatchString(r.stdout) || strings.Contains(r.stdout, "✗") {
		t.Errorf("score=bad misses a threshold only the best must meet: not required, not ✗:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`(?m)^2\s+score=(good|also)\s.*\s+not required$`).MatchString(r.stdout) {
		t.Errorf("the second-ranked combination is not judged either:\n%s", r.stdout)
	}
	for _, want := range []string{
		"Ranked by mean score before rounding; ties on mean score are ranked by pass rate, then p50 latency (lower first), then name.",
		"Verdict: thresholds met (overall_score ≥ 0.5, for the best combination (rank 1) only)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the leaderboard should say %q:\n%s", want, r.stdout)
		}
	}
	junit, err := os.ReadFile(filepath.Join(e.dir, "junit.xml"))
	if err != nil || !regexp.MustCompile(`<testsuite name="thresholds" tests="3" failures="0" skipped="2"`).Match(junit) ||
		!regexp.MustCompile(`<testcase name="score=bad" classname="thresholds" time="0">\s*<skipped message="not required`).Match(junit) {
		t.Errorf("JUnit: the combinations not judged are skipped, not passed (%v):\n%s", err, junit)
	}
	id := batchID(t, r.stderr)
	lb := e.mustRun("results", id, "--format", "json").stdout
	checkDoc(t, "results", lb)
	if strings.Count(lb, `"thresholds_apply": true`) != 1 || strings.Count(lb, `"thresholds_apply": false`) != 2 {
		t.Errorf("results --format json should mark the one judged combination:\n%s", lb)
	}

	// The viewer labels them alike.
	url := startViewer(t, e)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/batch/"+id), chromedp.WaitVisible(`[data-testid=combo-row]`)); err != nil {
		t.Fatal(err)
	}
	cells, err := texts(ctx, `[data-testid=combo-row] td:last-child`)
	if err != nil || strings.Join(cells, ",") != "met,not required,not required" {
		t.Errorf("the viewer's threshold cells: %q %v", cells, err)
	}
}
