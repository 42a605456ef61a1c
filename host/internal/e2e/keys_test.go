package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	osexec "os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/testbin"
)

// keysBench: every node writes the key it was given ($WTB_EXECUTION_KEY, the
// node-run key) into the state.
const keysBench = `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "retrieve" {
    command = ["sh", "-c", "cat >/dev/null; printf '{\"key_retrieve\": \"%s\"}' \"$WTB_EXECUTION_KEY\""]
    variant "bm25" {}
    variant "dense" { params = { dense = true } }
  }
  node "answer" {
    depends_on = ["retrieve"]
    command    = ["sh", "-c", "cat >/dev/null; printf '{\"key_answer\": \"%s\"}' \"$WTB_EXECUTION_KEY\""]
    variant "t0" {}
    variant "t1" { params = { t = 1 } }
  }
}
batch_test "k" {
  workflow = workflow.w
  runner   = runner.pool
  repeat   = 2
  case "c1" { input = { q = 1 } }
  case "c2" { input = { q = 2 } }
}
`

// pasted runs a command line wtb printed, as a user pasting it into a shell
// would (wtb on the PATH, in the bench directory, no --db added).
func pasted(t *testing.T, e *env, line string) result {
	t.Helper()
	cmd := osexec.Command("sh", "-c", line)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "PATH="+testbin.Dir(t)+":"+os.Getenv("PATH"), "WTB_PLUGIN_PATH="+testbin.PluginDir(t), "NO_COLOR=1")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*osexec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// The key a node sees ($WTB_EXECUTION_KEY, case/repeat/variants) and the key
// show lists (combination/case/repeat) both name an execution: show and the
// viewer's API take either. The last node's names one execution; an earlier
// node's is shared by several, which the error lists as commands that work
// when pasted (with --batch and --db).
func TestShowTakesBothKeyForms(t *testing.T) {
	for _, kind := range []string{sqliteStore, postgresStore} {
		t.Run(kind, func(t *testing.T) { showTakesBothKeyForms(t, newEnvOn(t, kind)) })
	}
}

func showTakesBothKeyForms(t *testing.T, e *env) {
	e.write("bench.hcl", keysBench)
	id := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
	const execKey = "retrieve=dense,answer=t1/c2/1"
	var detail jsondoc.ExecutionDetail
	if err := json.Unmarshal([]byte(e.mustRun("show", execKey, "--batch", id, "--format", "json").stdout), &detail); err != nil {
		t.Fatal(err)
	}
	var final struct {
		KeyRetrieve string `json:"key_retrieve"`
		KeyAnswer   string `json:"key_answer"`
	}
	state := detail.Nodes[len(detail.Nodes)-1].State
	if err := json.Unmarshal(state, &final); err != nil ||
		final.KeyAnswer != "c2/1/answer=t1,retrieve=dense" || final.KeyRetrieve != "c2/1/retrieve=dense" {
		t.Fatalf("the nodes' keys: %+v (%v) in %s", final, err, state)
	}

	// The last node's key is one execution.
	r := e.run("show", final.KeyAnswer, "--batch", id)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "execution "+execKey+" (batch "+id+")") {
		t.Errorf("show %s (what the answer node saw as $WTB_EXECUTION_KEY): exit %d\n%s%s", final.KeyAnswer, r.code, r.stdout, r.stderr)
	}
	// The first node's is shared by both answer variants: listed, each a
	// command that works as printed.
	r = e.run("show", final.KeyRetrieve, "--batch", id)
	cmds := regexp.MustCompile(`(?m)^\s+(wtb show \S+ --batch \S+ --db \S+)$`).FindAllStringSubmatch(r.stderr, -1)
	if r.code != 2 || len(cmds) != 2 || !strings.Contains(r.stderr, "2 executions") {
		t.Fatalf("show of a shared node run: exit %d, want 2 and both executions as commands\n%s", r.code, r.stderr)
	}
	for i, variant := range []string{"t0", "t1"} {
		want := "execution retrieve=dense,answer=" + variant + "/c2/1 (batch " + id + ")"
		if p := pasted(t, e, cmds[i][1]); p.code != 0 || !strings.HasPrefix(p.stdout, want) {
			t.Errorf("the printed command %q: exit %d\n%s%s", cmds[i][1], p.code, p.stdout, p.stderr)
		}
	}
	// A key that names nothing says so, with a hint that works when pasted.
	r = e.run("show", "c9/0/answer=t0", "--batch", id)
	m := regexp.MustCompile("`(wtb results [^`]*)`").FindStringSubmatch(r.stderr)
	if r.code != 2 || m == nil || !strings.Contains(m[1], "--db") {
		t.Fatalf("show of an unknown key: exit %d\n%s", r.code, r.stderr)
	}
	if p := pasted(t, e, m[1]); p.code != 0 || !strings.Contains(p.stdout, execKey) {
		t.Errorf("the hint %q: exit %d\n%s%s", m[1], p.code, p.stdout, p.stderr)
	}

	// The viewer's API takes both forms too.
	base := startViewer(t, e)
	get := func(key string) (int, string) {
		resp, err := http.Get(base + "/api/batches/" + id + "/executions/" + url.PathEscape(key))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get(final.KeyAnswer)
	var viewed jsondoc.ExecutionDetail
	if err := json.Unmarshal([]byte(body), &viewed); code != 200 || err != nil || viewed.Execution.ExecutionKey != execKey {
		t.Errorf("GET the execution by its node-run key: %d %v\n%s", code, err, body)
	}
	if code, body := get(final.KeyRetrieve); code != 400 || !strings.Contains(body, "retrieve=dense,answer=t0/c2/1") ||
		!strings.Contains(body, "retrieve=dense,answer=t1/c2/1") {
		t.Errorf("GET a shared node run: %d\n%s", code, body)
	}
}

// After failures, and after a missed threshold, the leaderboard suggests
// `wtb show KEY --batch ID --db …` and `wtb view --db …`; pasted as printed
// (the database not being the default one) they reach the same batch.
func TestFollowUpHintsWorkWhenPasted(t *testing.T) {
	e := newEnv(t)
	e.write("score.sh", scoreScript)
	e.write("fail.hcl", strings.Replace(deterministicBench("best"), `variant "bad" { params = { value = 0 } }`,
		`variant "bad" { command = ["sh", "-c", "echo 'model quota exceeded' >&2; exit 3"] }`, 1))
	e.write("miss.hcl", deterministicBench("all"))
	hint := regexp.MustCompile("Look closer: `(wtb show [^`]*)` \\(one execution node by node\\), `(wtb view[^`]*)`")
	for name, want := range map[string]string{"fail": "model quota exceeded", "miss": "score=bad"} {
		r := e.run("run", name+".hcl", "--no-progress")
		id := batchID(t, r.stderr)
		m := hint.FindStringSubmatch(r.stdout)
		if r.code == 0 && name == "miss" || m == nil || !strings.Contains(m[1], "--batch "+id) || !strings.Contains(m[1], " --db ") || !strings.Contains(m[2], " --db ") {
			t.Errorf("%s: exit %d, no show and view hints with --batch and --db:\n%s", name, r.code, r.stdout)
			continue
		}
		if p := pasted(t, e, m[1]); p.code != 0 || !strings.Contains(p.stdout, "(batch "+id+")") || !strings.Contains(p.stdout, want) {
			t.Errorf("%s: the printed %q: exit %d\n%s%s", name, m[1], p.code, p.stdout, p.stderr)
		}
		// The same hints from results, where --db came on the command line.
		if res := e.run("results", id); hint.FindStringSubmatch(res.stdout) == nil {
			t.Errorf("%s: results lacks the hints:\n%s", name, res.stdout)
		}
	}
}
