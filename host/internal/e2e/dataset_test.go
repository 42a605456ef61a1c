package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// datasetBench reads its cases from cases.jsonl: an answer node that echoes
// the capital the case asks for, scored against the expected one.
const datasetBench = `
runner "pool" { plugin = "pool" }
workflow "w" {
  node "answer" {
    command = ["sh", "-c", "in=$(cat); case \"$in\" in *France*) echo '{\"answer\": \"Paris\"}';; *Japan*) echo '{\"answer\": \"Tokyo\"}';; *) echo '{\"answer\": \"Nairobi\"}';; esac"]
    variant "a" { params = { v = 1 } }
    variant "b" { params = { v = 2 } }
  }
}
batch_test "capitals" {
  workflow = workflow.w
  runner   = runner.pool
  cases    = "cases.jsonl"
  evaluator "correct" {
    type   = "equals"
    path   = "$.answer"
    expect = "$.expected.capital"
  }
}
`

const datasetCases = `{"id": "france", "input": {"q": "capital of France?"}, "expected": {"capital": "Paris"}}
{"id": "japan", "input": {"q": "capital of Japan?"}, "expected": {"capital": "Tokyo"}}
{"id": "kenya", "input": {"q": "capital of Kenya?"}, "expected": {"capital": "Nairobi"}}
`

// gitIn runs git in dir as a user with no configuration of their own.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := osexec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// datasetOf is the dataset of a batch as `results --format json` says.
type datasetDoc struct {
	CasesHash string `json:"cases_hash"`
	Git       *struct {
		Commit, Branch string
		Dirty          bool
	} `json:"git"`
}

func batchDataset(t *testing.T, e *env, id string) datasetDoc {
	t.Helper()
	out := e.mustRun("results", id, "--format", "json").stdout
	checkDoc(t, "results", out)
	var d struct {
		Batch struct {
			Dataset datasetDoc `json:"dataset"`
		} `json:"batch"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	return d.Batch.Dataset
}

// Every batch records the content hash of its cases and, in a git
// repository, the commit, branch and whether tracked files had changes; the
// hash changes with one changed case and not with their order; results,
// results --list, show, compare, the documents and the viewer show them.
func TestDatasetVersionIsRecordedAndShown(t *testing.T) {
	if _, err := osexec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for _, k := range []string{"GITHUB_ACTIONS", "GITLAB_CI"} {
		t.Setenv(k, "")
	}
	e := newEnv(t)
	e.write("bench.hcl", datasetBench)
	e.write("cases.jsonl", datasetCases)
	gitIn(t, e.dir, "init", "-q", "-b", "main")
	gitIn(t, e.dir, "add", "bench.hcl", "cases.jsonl")
	gitIn(t, e.dir, "commit", "-q", "-m", "cases")
	head := gitIn(t, e.dir, "rev-parse", "HEAD")

	a := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
	da := batchDataset(t, e, a)
	// The database beside the bench file is untracked: no change to what ran.
	if !strings.HasPrefix(da.CasesHash, "sha256:") || da.Git == nil || da.Git.Commit != head || da.Git.Branch != "main" || da.Git.Dirty {
		t.Fatalf("batch A's dataset: %+v (HEAD %s)", da, head)
	}
	shortA := strings.TrimPrefix(da.CasesHash, "sha256:")[:12]
	want := fmt.Sprintf("Dataset: cases %s (3 cases) · git %s on main\n", shortA, head[:12])
	if out := e.mustRun("results", a).stdout; !strings.Contains(out, want) {
		t.Errorf("results should say %q:\n%s", want, out)
	}
	show := e.mustRun("show", "answer=a/france/0", "--batch", a)
	if !strings.Contains(show.stdout, "dataset: cases "+shortA+" · git "+head[:12]+" on main\n") {
		t.Errorf("show should say the dataset:\n%s", show.stdout)
	}
	showJSON := e.mustRun("show", "answer=a/france/0", "--batch", a, "--format", "json").stdout
	checkDoc(t, "show", showJSON)
	if !strings.Contains(showJSON, `"cases_hash": "`+da.CasesHash+`"`) {
		t.Errorf("show --format json lacks the dataset:\n%s", showJSON)
	}

	// The same cases in another order: the same dataset.
	lines := strings.Split(strings.TrimSpace(datasetCases), "\n")
	e.write("cases.jsonl", lines[2]+"\n"+lines[0]+"\n"+lines[1]+"\n")
	r := batchID(t, e.mustRun("run", "bench.hcl", "--no-progress").stderr)
	if dr := batchDataset(t, e, r); dr.CasesHash != da.CasesHash || dr.Git == nil || !dr.Git.Dirty {
		t.Errorf("reordered cases: %+v, want hash %s and a dirty tree (cases.jsonl is modified)", dr, da.CasesHash)
	}

	// One changed expected value: another dataset, and compare says so.
	e.write("cases.jsonl", strings.Replace(datasetCases, `"Nairobi"`, `"Mombasa"`, 1))
	b := batchID(t, e.run("run", "bench.hcl", "--no-progress").stderr)
	db := batchDataset(t, e, b)
	if db.CasesHash == da.CasesHash || db.Git == nil || db.Git.Commit != head || !db.Git.Dirty {
		t.Fatalf("batch B's dataset: %+v; A's hash %s", db, da.CasesHash)
	}
	shortB := strings.TrimPrefix(db.CasesHash, "sha256:")[:12]
	if out := e.mustRun("results", b).stdout; !strings.Contains(out, "Dataset: cases "+shortB+" (3 cases) · git "+head[:12]+" on main, uncommitted changes") {
		t.Errorf("results of B:\n%s", out)
	}
	cmp := e.mustRunOK("compare", a, b)
	for _, want := range []string{
		"  A: cases " + shortA + " · git " + head[:12] + " on main\n",
		"  B: cases " + shortB + " · git " + head[:12] + " on main, uncommitted changes\n",
		"A and B ran different cases: 0 only in A, 0 only in B, 1 changed",
	} {
		if !strings.Contains(cmp, want) {
			t.Errorf("compare should say %q:\n%s", want, cmp)
		}
	}
	cmpJSON := e.mustRunOK("compare", a, b, "--format", "json")
	checkDoc(t, "compare", cmpJSON)
	if !strings.Contains(cmpJSON, da.CasesHash) || !strings.Contains(cmpJSON, db.CasesHash) {
		t.Errorf("compare --format json lacks the datasets:\n%s", cmpJSON)
	}
	// The summary warns too, naming both datasets.
	md := renderMarkdown(t, []byte(e.mustRun("report", b, "--markdown", "-", "--baseline", a).stdout))
	warned := false
	for _, p := range md.paras {
		warned = warned || strings.Contains(p, "This batch ran other cases than the baseline (cases "+shortB+", the baseline's "+shortA+
			"): 0 only in the baseline, 0 only in this batch, 1 changed (same id, other input or expectations), 2 alike.")
	}
	if !warned {
		t.Errorf("the summary should warn that the batches ran different cases:\n%s", md.html)
	}
	list := e.mustRun("results", "--list").stdout
	if !strings.Contains(list, "CASES") || !strings.Contains(list, shortA) || !strings.Contains(list, shortB) ||
		!strings.Contains(list, head[:12]+"+") {
		t.Errorf("results --list should show each batch's cases and commit (+ when dirty):\n%s", list)
	}
	listJSON := e.mustRun("results", "--list", "--format", "json").stdout
	checkDoc(t, "results --list", listJSON)

	// Outside a git repository: the hash, and no git.
	o := newEnv(t)
	o.write("bench.hcl", datasetBench)
	o.write("cases.jsonl", datasetCases)
	c := batchID(t, o.mustRun("run", "bench.hcl", "--no-progress").stderr)
	if dc := batchDataset(t, o, c); dc.CasesHash != da.CasesHash || dc.Git != nil {
		t.Errorf("outside git: %+v, want hash %s and no git", dc, da.CasesHash)
	}
	if out := o.mustRun("results", c).stdout; !strings.Contains(out, "Dataset: cases "+shortA+" (3 cases) · not in a git repository") {
		t.Errorf("results outside git:\n%s", out)
	}

	// The viewer's batch page says it too.
	url := startViewer(t, e)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/#/batch/"+b), chromedp.WaitVisible(`[data-testid=dataset]`)); err != nil {
		t.Fatal(err)
	}
	got, _ := texts(ctx, `[data-testid=dataset]`)
	if len(got) != 1 || got[0] != "cases "+shortB+" · git "+head[:12]+" on main, uncommitted changes" {
		t.Errorf("the viewer's dataset line: %q", got)
	}
	screenshot(t, ctx, artifacts(t), "viewer-dataset.png")
}
