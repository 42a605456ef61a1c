package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// tenOfSixteen is a batch of one combination over 16 cases of which 10 pass:
// a pass rate of 62.5 %, a mean of 0.625. The first node runs a process (so
// the run has runner round trips to report); the state is the case's input.
func tenOfSixteen() string {
	var cases strings.Builder
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&cases, "  case \"c%02d\" { input = { ok = %v } }\n", i, i < 10)
	}
	return `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "touch" {
    command = ["sh", "-c", "cat >/dev/null; echo '{}'"]
  }
}
batch_test "ten" {
  workflow = workflow.w
  runner   = runner.pool
` + cases.String() + `
  evaluator "ok" {
    type   = "equals"
    path   = "$.ok"
    expect = true
  }
}
`
}

// Every figure the command line prints follows one rule (package numfmt,
// shared with the viewer): 10/16 is "63%" (half away from zero, as the viewer
// rounds it; it was "62%"), scores have three decimals, durations carry their
// unit after a space and never Go's "1.17956s" or "54.79ms", dates are
// "2006-01-02 15:04:05".
func TestNumbersAreWrittenOneWay(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", tenOfSixteen())
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	id := batchID(t, r.stderr)
	if !regexp.MustCompile(`(?m)^1\s+default\s+0\.625\s.*\s63%\s`).MatchString(r.stdout) {
		t.Errorf("the leaderboard should show a pass rate of 63%% for 10 of 16:\n%s", r.stdout)
	}
	dur := `(\d\.\d ms|\d+ ms|\d+\.\d\d s|\d+m\d\ds)`
	runLine := regexp.MustCompile(`runner round trip p50 ` + dur + ` p95 ` + dur + `, in ` + dur + `,`)
	if !runLine.MatchString(r.stderr) {
		t.Errorf("the run line's durations are not written by the rule:\n%s", r.stderr)
	}
	if regexp.MustCompile(`\d(µs|ms|s)\b`).MatchString(r.stderr + r.stdout) {
		t.Errorf("a Go duration (no space before its unit) is printed:\n%s%s", r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^1\s+default\s.*\s` + dur + `\s+` + dur + `\s+16/0`).MatchString(r.stdout) {
		t.Errorf("the leaderboard's p50 and p95 should be durations with their unit:\n%s", r.stdout)
	}
	show := e.mustRun("show", "default/c00/0", "--batch", id).stdout
	if !regexp.MustCompile(`score 1\.000, passed true, `+dur+`,`).MatchString(show) ||
		!regexp.MustCompile(`1\. touch  \[ran, `+dur+`, worker`).MatchString(show) {
		t.Errorf("show:\n%s", show)
	}
	list := e.mustRun("results", "--list").stdout
	if !regexp.MustCompile(id + `\s+ten\s+completed\s+16\s+.*\s\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`).MatchString(list) {
		t.Errorf("results --list:\n%s", list)
	}
	aud := e.mustRun("audit", id).stdout
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO`).MatchString(aud) {
		t.Errorf("audit lines should start with the date as results --list writes it:\n%s", aud)
	}
	ex := e.mustRun("results", id, "--executions").stdout
	if !regexp.MustCompile(`default/c00/0\s+succeeded\s+1\.000\s+` + dur + `\s+1`).MatchString(ex) {
		t.Errorf("results --executions:\n%s", ex)
	}
}

// Every command that prints data prints it as one JSON document with
// --format json: cache stats (it refused the flag), cache clear, and parity
// (it took the flag and printed text).
func TestCacheAndParityPrintJSON(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", `
runner "a" { plugin = "pool" }
runner "b" {
  plugin      = "pool"
  max_workers = 2
}
workflow "w" {
  node "n" {
    command = ["sh", "-c", "cat >/dev/null; echo '{\"v\": 1}'"]
    cache   = true
    variant "x" {}
    variant "y" { params = { y = 1 } }
  }
}
batch_test "p" {
  workflow = workflow.w
  runner   = runner.a
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
}
`)
	e.mustRun("run", "bench.hcl", "--no-progress")
	var stats struct{ Entries, Batches int }
	out := e.mustRun("cache", "stats", "--format", "json").stdout
	checkDoc(t, "cache stats", out)
	if err := json.Unmarshal([]byte(out), &stats); err != nil || stats.Entries != 4 || stats.Batches != 1 {
		t.Errorf("cache stats --format json: %+v %v\n%s", stats, err, out)
	}
	r := e.run("parity", "bench.hcl", "--runners", "a,b", "--format", "json", "--no-progress")
	checkDoc(t, "parity", r.stdout)
	var parity struct {
		Compared int  `json:"compared"`
		Agree    bool `json:"agree"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &parity); err != nil || r.code != 0 || parity.Compared != 4 || !parity.Agree {
		t.Errorf("parity --format json: exit %d %+v %v\n%s%s", r.code, parity, err, r.stdout, r.stderr)
	}
	out = e.mustRun("cache", "clear", "--format", "json").stdout
	checkDoc(t, "cache clear", out)
	if !regexp.MustCompile(`"cleared": [1-9]`).MatchString(out) {
		t.Errorf("cache clear --format json:\n%s", out)
	}
	if r := e.run("cache", "stats", "--format", "yaml"); r.code != 2 {
		t.Errorf("an unknown format is a usage error: exit %d", r.code)
	}
}
