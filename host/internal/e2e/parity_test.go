package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/testbin"
)

// oddRunner installs a runner plugin "odd" beside the bench file: the real
// pool runner, started with PARITY_PLANT=1 in its environment, which its
// nodes inherit. A node that reads it behaves differently on that runner
// only, as a node may on a cluster whose machines differ from a laptop.
func oddRunner(t *testing.T, e *env) {
	t.Helper()
	path := e.write("plugins/wtb-runner-odd", "#!/bin/sh\nPARITY_PLANT=1 exec "+filepath.Join(testbin.PluginDir(t), testbin.RunnerPool)+" \"$@\"\n")
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

// plantedBench runs four cases on two variants. On runner odd, case drift
// answers "no" instead of "yes" (its state and its score differ), and case
// flaky prints something that is not JSON instead of exiting 4 (it fails on
// both, of another kind). Case broken fails on both runners alike, with
// error texts that name the runner and the process: not a difference. The
// node cache and fail_fast are on, as a bench file may have them.
const plantedBench = `
wtb { plugin_dir = "plugins" }
runner "pool" { plugin = "pool" }
runner "odd" { plugin = "odd" }
workflow "w" {
  node "answer" {
    command = ["python3", "-c", <<-PY
      import json, os, sys
      req = json.load(sys.stdin)
      case, odd = req["case"]["id"], os.environ.get("PARITY_PLANT") == "1"
      where = "odd" if odd else "pool"
      if case == "broken":
          sys.stderr.write("broken on %s, pid %d\n" % (where, os.getpid()))
          sys.exit(3)
      if case == "flaky":
          if odd:
              print("not json")
              sys.exit(0)
          sys.exit(4)
      print(json.dumps({"answer": "no" if case == "drift" and odd else "yes"}))
    PY
    ]
    cache = true
    variant "x" {}
    variant "y" { params = { style = "y" } }
  }
}
batch_test "planted" {
  workflow    = workflow.w
  runner      = runner.pool
  max_retries = 0
  fail_fast   = true
  case "fine" { input = { q = 1 } }
  case "drift" { input = { q = 2 } }
  case "broken" { input = { q = 3 } }
  case "flaky" { input = { q = 4 } }
  evaluator "correct" {
    type   = "equals"
    path   = "$.answer"
    expect = "yes"
  }
}
`

type parityDoc struct {
	Mode              string    `json:"mode"`
	Runners           [2]string `json:"runners"`
	Batches           [2]string `json:"batches"`
	Tolerance         float64   `json:"tolerance"`
	StateTolerance    float64   `json:"state_tolerance"`
	IgnoredEvaluators []string  `json:"ignored_evaluators"`
	Compared          int       `json:"compared"`
	FailedAlike       int       `json:"failed_alike"`
	Tolerated         int       `json:"tolerated"`
	IgnoredOnly       int       `json:"ignored_only"`
	Agree             bool      `json:"agree"`
	Notes             []string  `json:"notes"`
	Recorded          bool      `json:"recorded"`
	Differences       []struct {
		ExecutionKey string `json:"execution_key"`
		Kind         string `json:"kind"`
		Detail       string `json:"detail"`
		Scores       []struct {
			Evaluator     string
			First, Second *float64
		} `json:"scores"`
		Outcomes []struct {
			Status      string `json:"status"`
			FailureKind string `json:"failure_kind"`
			FailedNode  string `json:"failed_node"`
			Error       string `json:"error"`
		} `json:"outcomes"`
		State []struct {
			Path string `json:"path"`
		} `json:"state"`
	} `json:"differences"`
}

func parseParity(t *testing.T, r result) parityDoc {
	t.Helper()
	checkDoc(t, "parity", r.stdout)
	var d parityDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("parity --format json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	return d
}

// kinds lists a parity document's differences as "key kind", sorted.
func (d parityDoc) kinds() []string {
	var out []string
	for _, x := range d.Differences {
		out = append(out, x.ExecutionKey+" "+x.Kind)
	}
	sort.Strings(out)
	return out
}

// parityEntries are a batch's parity.checked audit entries.
func parityEntries(t *testing.T, e *env, batch string) []map[string]any {
	t.Helper()
	r := e.mustRun("audit", batch, "--type", "parity.checked", "--format", "json")
	var a struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("audit --format json: %v\n%s", err, r.stdout)
	}
	return a.Entries
}

// Parity finds what it is told is different: an output that differs on one
// runner (state and score), a failure of another kind, and not the failure
// both runners share with different words. Both runs run every node of
// every execution though the bench file caches them and stops at the first
// failure (before, the second run was served the first run's outputs from
// the node cache and parity compared a runner with itself). The verdict is in both batches' audit trails, and comparing the
// two stored batches gives the same verdict. On SQLite and PostgreSQL.
func TestParityFindsThePlantedDifferences(t *testing.T) {
	for _, kind := range []string{sqliteStore, postgresStore} {
		t.Run(kind, func(t *testing.T) { parityFindsThePlantedDifferences(t, newEnvOn(t, kind)) })
	}
}

func parityFindsThePlantedDifferences(t *testing.T, e *env) {
	oddRunner(t, e)
	e.write("bench.hcl", plantedBench)
	e.run("run", "bench.hcl", "--no-progress") // fills the node cache (up to its first failure), as earlier runs would have
	r := e.run("parity", "bench.hcl", "--runners", "pool,odd", "--no-progress", "--format", "json")
	d := parseParity(t, r)
	if r.code != 1 || d.Agree || d.Mode != "runners" || d.Compared != 8 || d.FailedAlike != 2 || !d.Recorded {
		t.Errorf("parity pool vs odd: exit %d, %+v\n%s", r.code, d, r.stderr)
	}
	want := []string{
		"answer=x/drift/0 scores", "answer=x/drift/0 state", "answer=x/flaky/0 failure",
		"answer=y/drift/0 scores", "answer=y/drift/0 state", "answer=y/flaky/0 failure",
	}
	if got := d.kinds(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("differences:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.stdout)
	}
	if !strings.Contains(r.stderr, "parity: the node cache, fail_fast off for both runs, so each runner runs every node of every execution") {
		t.Errorf("parity should say the node cache and fail_fast are off:\n%s", r.stderr)
	}
	for _, x := range d.Differences {
		switch x.Kind {
		case "failure":
			if len(x.Outcomes) != 2 || x.Outcomes[0].FailureKind != "exit" || x.Outcomes[1].FailureKind != "invalid_output" ||
				x.Outcomes[0].FailedNode != "answer" || !strings.Contains(x.Detail, "failed differently: failed (exit at node answer) on pool: ") {
				t.Errorf("the failure difference: %+v", x)
			}
		case "scores":
			if len(x.Scores) != 1 || x.Scores[0].Evaluator != "correct" || *x.Scores[0].First != 1 || *x.Scores[0].Second != 0 {
				t.Errorf("the score difference: %+v", x)
			}
		case "state":
			if len(x.State) != 1 || x.State[0].Path != "$.answer" || !strings.Contains(x.Detail, `"yes" → "no"`) {
				t.Errorf("the state difference: %+v", x)
			}
		}
	}
	for i, id := range d.Batches {
		entries := parityEntries(t, e, id)
		if len(entries) != 1 {
			t.Fatalf("batch %s: %d parity entries, want 1", id, len(entries))
		}
		msg, _ := entries[0]["message"].(string)
		if entries[0]["severity"] != "WARNING" || !strings.Contains(msg, "parity with batch "+d.Batches[1-i]) ||
			!strings.Contains(msg, "4 of 8 executions differ (2 failure, 2 scores, 2 state); first: answer=x/drift/0: scores differ: correct 1.000 vs 0.000") {
			t.Errorf("batch %s's audit entry: %v", id, entries[0])
		}
	}

	// The stored batches, compared again: the same differences, in words.
	r = e.run("parity", "--batches", d.Batches[0], d.Batches[1])
	if r.code != 1 || !strings.Contains(r.stdout, "parity pool vs odd: 8 executions compared (2 failed on both, alike)") ||
		!strings.Contains(r.stdout, "6 differences in 4 executions:") ||
		!strings.Contains(r.stdout, "answer=x/flaky/0: failed differently: failed (exit at node answer) on pool") ||
		!strings.Contains(r.stdout, "answer=y/drift/0: scores differ: correct 1.000 vs 0.000") ||
		strings.Contains(r.stdout, "broken") || strings.Contains(r.stdout, "differ besides") {
		t.Errorf("parity --batches: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(parityEntries(t, e, d.Batches[1])); n != 2 {
		t.Errorf("the second check is not in the audit trail: %d entries", n)
	}
}

// toleranceBench: on runner odd the node reports a confidence of 0.81
// instead of 0.80 — in its state and, through a command evaluator, in its
// score — and takes half a second longer, past a latency evaluator's limit.
// Real differences, which the tolerances and --ignore-evaluator allow.
const toleranceBench = `
wtb { plugin_dir = "plugins" }
runner "pool" { plugin = "pool" }
runner "odd" { plugin = "odd" }
workflow "w" {
  node "score" {
    command = ["sh", "-c", <<-SH
      cat >/dev/null
      if [ -n "$PARITY_PLANT" ]; then sleep 0.5; echo '{"answer": "yes", "confidence": 0.81}'
      else echo '{"answer": "yes", "confidence": 0.8}'; fi
    SH
    ]
  }
}
batch_test "tolerant" {
  workflow = workflow.w
  runner   = runner.pool
  case "a" { input = { q = 1 } }
  case "b" { input = { q = 2 } }
  evaluator "correct" {
    type   = "equals"
    path   = "$.answer"
    expect = "yes"
  }
  evaluator "confidence" {
    type    = "command"
    command = ["python3", "-c", "import json, sys; print(json.load(sys.stdin)['state']['confidence'])"]
  }
  evaluator "fast" {
    type   = "latency"
    max_ms = 300
  }
}
`

// A real difference that the user allows passes — and only that: the score
// and state tolerances let 0.80 against 0.81 through, --ignore-evaluator the
// latency, each one alone is not enough, and a tolerance smaller than the
// difference does not let it through. Bad flags are one clear error each.
func TestParityToleratesWhatItIsTold(t *testing.T) {
	e := newEnv(t)
	oddRunner(t, e)
	e.write("bench.hcl", toleranceBench)
	r := e.run("parity", "bench.hcl", "--runners", "pool,odd", "--no-progress", "--format", "json")
	d := parseParity(t, r)
	want := []string{"default/a/0 scores", "default/a/0 state", "default/b/0 scores", "default/b/0 state"}
	if r.code != 1 || strings.Join(d.kinds(), ",") != strings.Join(want, ",") {
		t.Fatalf("parity without tolerance: exit %d %v\n%s%s", r.code, d.kinds(), r.stdout, r.stderr)
	}
	for _, x := range d.Differences {
		if x.Kind == "scores" && (len(x.Scores) != 2 || x.Scores[0].Evaluator != "confidence" || x.Scores[1].Evaluator != "fast") {
			t.Errorf("%s: scores %+v, want confidence and fast", x.ExecutionKey, x.Scores)
		}
	}
	a, b := d.Batches[0], d.Batches[1]
	for _, c := range []struct {
		args []string
		code int
		kind []string
	}{
		// Each allowance alone leaves the other difference.
		{[]string{"--tolerance", "0.02", "--state-tolerance", "0.02"}, 1, []string{"default/a/0 scores", "default/b/0 scores"}},
		{[]string{"--ignore-evaluator", "fast"}, 1, want},
		// Smaller than the difference: still a difference.
		{[]string{"--tolerance", "0.005", "--state-tolerance", "0.005", "--ignore-evaluator", "fast"}, 1, want},
		{[]string{"--tolerance", "0.02", "--state-tolerance", "0.02", "--ignore-evaluator", "fast"}, 0, nil},
	} {
		r := e.run(append([]string{"parity", "--batches", a, b, "--format", "json"}, c.args...)...)
		got := parseParity(t, r)
		if r.code != c.code || strings.Join(got.kinds(), ",") != strings.Join(c.kind, ",") || got.Mode != "batches" {
			t.Errorf("parity %v: exit %d %v, want %d %v\n%s", c.args, r.code, got.kinds(), c.code, c.kind, r.stderr)
		}
		if c.code == 0 && (!got.Agree || got.Tolerated != 2 || got.IgnoredOnly != 2 || got.Tolerance != 0.02 ||
			strings.Join(got.IgnoredEvaluators, ",") != "fast" || len(got.Notes) != 0) {
			t.Errorf("the tolerant verdict: %+v", got)
		}
	}
	// The same allowances when parity runs the batch itself, in words, and
	// in the audit trail.
	r = e.run("parity", "bench.hcl", "--runners", "pool,odd", "--no-progress", "--tolerance", "0.02", "--state-tolerance", "0.02", "--ignore-evaluator", "fast")
	if r.code != 0 || !strings.Contains(r.stdout, "tolerated: score tolerance 0.02; state tolerance 0.02; ignoring fast — 2 executions differ only within the tolerances; 2 executions differ only in ignored evaluators") ||
		!strings.Contains(r.stdout, "no differences") || !strings.Contains(r.stdout, "verdict recorded in the audit trail of both batches") {
		t.Errorf("tolerant parity run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	entries := parityEntries(t, e, batchID(t, r.stderr))
	if len(entries) != 1 || entries[0]["severity"] != "SUCCESS" ||
		!strings.Contains(entries[0]["message"].(string), "they agree on 2 executions (score tolerance 0.02; state tolerance 0.02; ignoring fast)") {
		t.Errorf("the agreeing verdict in the audit trail: %v", entries)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"parity", "--batches", a, b, "--ignore-evaluator", "fats"}, `cannot ignore evaluator "fats"`},
		{[]string{"parity", "--batches", a, b, "--ignore-evaluator", "fats"}, `neither batch ` + a + ` nor batch ` + b + ` has an evaluator of that name (they have: confidence, correct, fast). Did you mean "fast"?`},
		{[]string{"parity", "bench.hcl", "--runners", "pool,odd", "--ignore-evaluator", "fats"}, `batch_test tolerant has no evaluator of that name (it has: confidence, correct, fast)`},
		{[]string{"parity", "--batches", a, b, "--tolerance", "-0.1"}, "a score tolerance of -0.1 is out of range"},
		{[]string{"parity", "--batches", a, b, "--state-tolerance", "-1"}, "a state tolerance of -1 is out of range"},
		{[]string{"parity", "--batches", a}, "--batches needs two batch ids"},
		{[]string{"parity", "--batches", a, a}, "parity compares two batches; both are " + a},
		{[]string{"parity", "--batches", a, b, "--runners", "pool,odd"}, "--runners applies to running a batch on two runners; with --batches nothing runs"},
		{[]string{"parity", "--batches", a, "20990101-000000-00000000"}, "no such batch"},
		{[]string{"parity", "bench.hcl"}, "wtb parity FILE needs --runners A,B"},
	} {
		r := e.run(c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("wtb %v: exit %d, want 2 and %q\n%s%s", c.args, r.code, c.want, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "parity: running") {
			t.Errorf("wtb %v ran a batch before refusing", c.args)
		}
	}
}

// Ctrl-C during parity's first run stops it there: nothing is compared,
// nothing recorded, no second run starts, and parity says how to finish.
func TestParityInterruptedComparesNothing(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", `
runner "a" {
  plugin      = "pool"
  max_workers = 1
}
runner "b" { plugin = "pool" }
workflow "w" {
  node "slow" { command = ["sh", "-c", "cat >/dev/null; sleep 0.2; echo '{}'"] }
}
batch_test "slow" {
  workflow = workflow.w
  runner   = runner.a
  repeat   = 50
  case "c" { input = {} }
}
`)
	cmd := e.cmd("parity", "bench.hcl", "--runners", "a,b", "--no-progress")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, time.Minute, func() string { return "the first run did not start:\n" + stderr.String() }, func() bool {
		return strings.Contains(stderr.String(), "node runs: 50 to run")
	})
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	id := batchID(t, stderr.String())
	if code != 130 || !strings.Contains(stderr.String(), "parity stopped: batch "+id+" (runner a) was interrupted with ") ||
		!strings.Contains(stderr.String(), "so nothing was compared; runner b did not run") || strings.Contains(stderr.String(), "running slow on runner b") {
		t.Errorf("interrupted parity: exit %d (%v)\n%s%s", code, err, stdout.String(), stderr.String())
	}
	if n := len(parityEntries(t, e, id)); n != 0 {
		t.Errorf("an interrupted parity recorded %d verdicts", n)
	}
}
