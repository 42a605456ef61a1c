package e2e

// The node cache keeps what must stay apart apart: repeats of a
// non-deterministic node are not served from one another. Each runs the built binaries.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

const repeatNode = `import json, random, sys
inp = json.load(sys.stdin)
print(json.dumps({"a": inp["execution"]["repeat"], "noise": random.random()}))
`

const seeNode = `import json, sys
inp = json.load(sys.stdin)
print(json.dumps({"seen": {"case": inp["case"], "execution": inp["execution"]}}))
`

func cacheBench(extra string) string {
	return `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "a" {
    command = ["python3", "repeat.py"]
    variant "x" { params = { v = 1 } }
    variant "y" { params = { v = 2 } }
  }
  node "b" {
    depends_on = ["a"]
    command    = ["python3", "see.py"]
  }
  node "c" {
    depends_on = ["b"]
    kind       = "merge"
    variant "p" { params = { c = "p" } }
    variant "q" { params = { c = "q" } }
  }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.pool
  repeat   = 3
  cache    = true
  ` + extra + `
  case "c1" {
    input    = { q = 1 }
    expected = { answer = "secret" }
  }
  evaluator "repeat_is_one" {
    type   = "equals"
    path   = "$.a"
    expect = 1
  }
}
`
}

var fromCacheRE = regexp.MustCompile(`(\d+) from cache`)

// Repeats are separate samples: the node cache must never serve one repeat's
// node run to another, in the batch that fills it or in a later one, and
// `wtb plan` must predict exactly what the run then takes from the cache.
func TestNodeCacheKeepsRepeatsApart(t *testing.T) {
	e := newEnv(t)
	e.write("repeat.py", repeatNode)
	e.write("see.py", seeNode)
	e.write("bench.hcl", cacheBench(""))
	st := e.store()

	first := e.run("run", "bench.hcl")
	if first.code != 1 && first.code != 0 {
		t.Fatalf("run exited %d:\n%s", first.code, first.stderr)
	}
	id1 := batchID(t, first.stderr)
	states1 := outcomes(t, st, id1)
	checkRepeatStates(t, states1)

	plan := e.mustRun("plan", "bench.hcl").stdout
	second := e.run("run", "bench.hcl")
	id2 := batchID(t, second.stderr)
	states2 := outcomes(t, st, id2)
	checkRepeatStates(t, states2)
	for key, o := range states1 {
		if states2[key].state != o.state {
			t.Errorf("%s: the cached run gives %s, the original %s", key, states2[key].state, o.state)
		}
	}
	m := fromCacheRE.FindStringSubmatch(second.stderr)
	if m == nil {
		t.Fatalf("the second run took nothing from the cache:\n%s", second.stderr)
	}
	planTotal := regexp.MustCompile(`(?m)^total\s+(\d+)\s+(\d+)\s+(\d+)`).FindStringSubmatch(plan)
	if planTotal == nil || planTotal[3] != m[1] {
		t.Errorf("wtb plan predicted %v node runs from the cache, the run took %s:\n%s", planTotal, m[1], plan)
	}
	if m[1] != "24" { // every node run of the 12 executions' 2×3 + 2×3 + 4×3 steps
		t.Errorf("%s node runs from the cache, want 24 (all of them):\n%s", m[1], second.stderr)
	}
	sum1 := e.mustRunOK("results", id1, "--format", "json")
	sum2 := e.mustRunOK("results", id2, "--format", "json")
	if leaderboard(t, sum1) != leaderboard(t, sum2) {
		t.Errorf("the cached batch scores differently:\n%s\n%s", leaderboard(t, sum1), leaderboard(t, sum2))
	}
}

// checkRepeatStates checks each execution's state came from its own repeat and
// that node b saw only what identifies its run.
func checkRepeatStates(t *testing.T, states map[string]outcome) {
	t.Helper()
	if len(states) != 12 {
		t.Fatalf("%d executions stored, want 12", len(states))
	}
	for key, o := range states {
		var s struct {
			A    int `json:"a"`
			Seen struct {
				Case      map[string]any `json:"case"`
				Execution struct {
					Key      string            `json:"key"`
					Repeat   int               `json:"repeat"`
					Variants map[string]string `json:"variants"`
				} `json:"execution"`
			} `json:"seen"`
		}
		if err := json.Unmarshal([]byte(o.state), &s); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		parts := strings.Split(key, "/")
		repeat := parts[len(parts)-1]
		if fmt.Sprint(s.A) != repeat || fmt.Sprint(s.Seen.Execution.Repeat) != repeat {
			t.Errorf("%s carries repeat %d's output (node b saw repeat %d)", key, s.A, s.Seen.Execution.Repeat)
		}
		if _, leaked := s.Seen.Case["expected"]; leaked {
			t.Errorf("%s: a node saw the case's expected values: %v", key, s.Seen.Case)
		}
		if _, later := s.Seen.Execution.Variants["c"]; later || s.Seen.Execution.Variants["a"] == "" {
			t.Errorf("%s: node b saw variants %v; want exactly those of a and b", key, s.Seen.Execution.Variants)
		}
		if want := "c1/" + repeat + "/a=" + s.Seen.Execution.Variants["a"]; s.Seen.Execution.Key != want {
			t.Errorf("%s: node b's run key is %q, want %q", key, s.Seen.Execution.Key, want)
		}
	}
}
