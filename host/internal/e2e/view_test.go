package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/jsondoc"
)

// A bench whose nodes write to stderr (one of them a sensitive value), whose
// second node fails for one case, and whose evaluator explains its scores.
const logsBench = `
variable "api_key" {
  type      = string
  default   = "sk-test-0123456789"
  sensitive = true
}
runner "pool" { plugin = "pool" }
workflow "w" {
  node "fetch" {
    command = ["sh", "-c", "cat >/dev/null; for i in $(seq 1 30); do echo \"line $i\" >&2; done; echo \"using key $API_KEY\" >&2; echo '{\"doc\": {\"title\": \"T\", \"tags\": [\"a\"]}}'"]
    env     = { API_KEY = var.api_key }
  }
  node "answer" {
    depends_on = ["fetch"]
    command    = ["sh", "-c", "in=$(cat); case \"$in\" in *bad*) echo \"cannot answer with $API_KEY\" >&2; exit 75;; esac; echo '{\"doc\": {\"tags\": [\"a\", \"b\"]}, \"answer\": \"Paris\"}'"]
    env        = { API_KEY = var.api_key }
    variant "x" {}
    variant "y" { params = { style = "long" } }
  }
}
batch_test "logs" {
  workflow    = workflow.w
  runner      = runner.pool
  max_retries = 1
  retry_backoff = "10ms"
  case "good" {
    input    = { q = "capital" }
    expected = { answer = "Lyon" }
  }
  case "bad" { input = { q = "bad" } }
  evaluator "correct" {
    type   = "equals"
    path   = "$.answer"
    expect = "$.expected.answer"
  }
}
`

// Every --format json output is one document that matches its schema, and
// what a user needs to debug — node stderr, the failed node's lines, why an
// evaluator scored low — is stored and shown, with sensitive values masked.
func TestJSONOutputsAndStoredLogs(t *testing.T) {
	e := newEnv(t)
	e.write("bench.hcl", logsBench)
	r := e.run("run", "bench.hcl", "--no-progress", "--format", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	checkDoc(t, "run", r.stdout)
	id := batchID(t, r.stderr)
	second := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)

	show := e.mustRunOK("show", "answer=x/good/0", "--format", "json")
	checkDoc(t, "show", show)
	var ex jsondoc.ExecutionDetail
	if err := json.Unmarshal([]byte(show), &ex); err != nil {
		t.Fatal(err)
	}
	fetch, answer := ex.Nodes[0], ex.Nodes[1]
	if len(fetch.Logs) != 31 || fetch.Logs[0].Line != "line 1" || fetch.Logs[0].Stream != "stderr" ||
		!strings.Contains(fetch.Logs[30].Line, "(sensitive)") {
		t.Errorf("fetch's stored stderr: %+v", fetch.Logs)
	}
	if len(answer.Diff) != 2 || answer.Diff[0].Path != "$.answer" || answer.Diff[1].Path != "$.doc.tags[1]" {
		t.Errorf("answer's diff is not nested: %+v", answer.Diff)
	}
	if fetch.Source != "shared" || answer.Source != "ran" {
		t.Errorf("sources: fetch %s, answer %s", fetch.Source, answer.Source)
	}
	if !strings.Contains(ex.Execution.Notes["correct"], "Lyon") {
		t.Errorf("the evaluator's note is not stored: %+v", ex.Execution.Notes)
	}
	bad := e.mustRunOK("show", "answer=y/bad/0", "--format", "json")
	var failed jsondoc.ExecutionDetail
	_ = json.Unmarshal([]byte(bad), &failed)
	if failed.Nodes[1].Status != jsondoc.NodeFailed || len(failed.Logs) == 0 || failed.Logs[len(failed.Logs)-1].Line != "cannot answer with (sensitive)" {
		t.Errorf("the failed node's lines: %+v (node %+v)", failed.Logs, failed.Nodes[1].Status)
	}
	text := e.mustRunOK("show", "answer=y/bad/0")
	for _, want := range []string{"+ $.doc = ", "stderr | line 30", "… 26 earlier log lines", "stderr | cannot answer with (sensitive)", "[failed]", "(after 2 attempts)"} {
		if !strings.Contains(text, want) {
			t.Errorf("show lacks %q:\n%s", want, text)
		}
	}

	for name, args := range map[string][]string{
		"version":              {"version", "--format", "json"},
		"plugins":              {"plugins", "--format", "json"},
		"plugins describe":     {"plugins", "describe", "pool", "--format", "json"},
		"validate":             {"validate", "bench.hcl", "--format", "json"},
		"plan":                 {"plan", "bench.hcl", "--format", "json"},
		"results":              {"results", id, "--format", "json"},
		"results --list":       {"results", "--list", "--format", "json"},
		"results --executions": {"results", id, "--executions", "--format", "json"},
		"results --failed":     {"results", id, "--failed", "--format", "json"},
		"audit":                {"audit", id, "--level", "DEBUG", "--format", "json"},
		"compare":              {"compare", id, second, "--cases", "--format", "json"},
	} {
		out := e.mustRunOK(args...)
		checkDoc(t, name, out)
		if strings.Contains(out, "sk-test-0123456789") {
			t.Errorf("%s shows the sensitive value:\n%s", name, out)
		}
	}
	for _, args := range [][]string{{"show", "answer=x/good/0", "--logs", "--state"}, {"results", id}, {"audit", id, "--level", "DEBUG"}} {
		if out := e.mustRunOK(args...); strings.Contains(out, "sk-test-0123456789") {
			t.Errorf("wtb %v shows the sensitive value:\n%s", args, out)
		}
	}

	// An invalid file: exit 2, and the diagnostics as a document on stdout.
	e.write("broken.hcl", "runner \"r\" {\n  plugin = \"pool\"\n}\nworkflow \"w\" {\n  node \"a\" { comand = [\"true\"] }\n}\n")
	r = e.run("validate", "broken.hcl", "--format", "json")
	checkDoc(t, "validate broken", r.stdout)
	var v jsondoc.Validate
	_ = json.Unmarshal([]byte(r.stdout), &v)
	if r.code != 2 || v.Valid || v.ErrorCount == 0 || v.Diagnostics[0].Range == nil || v.Diagnostics[0].Range.Start.Line == 0 {
		t.Errorf("validate --format json of a broken file: exit %d\n%s", r.code, r.stdout)
	}
	if r := e.run("validate", "missing.hcl", "--format", "json"); r.code != 2 || jsondoc.Check([]byte(r.stdout)) != nil {
		t.Errorf("validate --format json of a missing file: exit %d\n%s", r.code, r.stdout)
	}
	for _, kind := range jsondoc.Kinds {
		var schema map[string]any
		if err := json.Unmarshal([]byte(e.mustRunOK("schema", kind)), &schema); err != nil || schema["$id"] == nil {
			t.Errorf("wtb schema %s: %v", kind, err)
		}
	}
}

func checkDoc(t *testing.T, what, out string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil || dec.More() {
		t.Errorf("%s: not one JSON document (%v):\n%s", what, err, out)
		return
	}
	if err := jsondoc.Check(raw); err != nil {
		t.Errorf("%s: %v\n%s", what, err, out)
	}
}
