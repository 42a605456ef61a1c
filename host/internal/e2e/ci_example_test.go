package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wtbench/wtb/host/internal/testbin"
)

// agentPython is a Python with the openai package, which the llm-agent
// example's nodes import: the tests' LiteLLM venv (scripts/services.sh
// exports it with the llm service).
func agentPython(t *testing.T) string {
	t.Helper()
	python := os.Getenv("WTB_TEST_LLM_PYTHON")
	if python == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("WTB_TEST_LLM_PYTHON is not set: CI must run the CI example (scripts/services.sh starts the llm service)")
		}
		t.Skip("WTB_TEST_LLM_PYTHON is not set; run `make test` (or eval \"$(WTB_SERVICES=llm scripts/services.sh start)\")")
	}
	return python
}

// checkout copies the repository as it is (tracked files and new ones not
// ignored: the work tree being tested, not the last commit) to a fresh
// directory and commits it there, checked out on a detached HEAD as CI
// systems check a commit out. It returns the directory and the commit.
func checkout(t *testing.T) (string, string) {
	t.Helper()
	root := testbin.Root()
	out, err := osexec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	ws := filepath.Join(t.TempDir(), "repo")
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or not a file
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(ws, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, ws, "init", "-q", "-b", "main")
	gitIn(t, ws, "add", "-A")
	gitIn(t, ws, "commit", "-q", "-m", "the tree under test")
	gitIn(t, ws, "checkout", "-q", "--detach")
	return ws, gitIn(t, ws, "rev-parse", "HEAD")
}

// ciEnv is the environment of a CI step: this machine's, without the CI
// variables of whatever runs the tests, with the agent's Python first on
// PATH and the variables the CI system sets.
func ciEnv(python string, vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "GITLAB_") || strings.HasPrefix(k, "CI_") || strings.HasPrefix(k, "RUNNER_") ||
			k == "WTB_DATABASE_URL" || k == "WTB_PLUGIN_PATH" || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+filepath.Dir(python)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// shell runs a CI script as GitHub's bash does (-e -o pipefail), bounded.
func shell(t *testing.T, dir string, env []string, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, 5*time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// workflow is what the test reads of a GitHub Actions workflow.
type workflow struct {
	Jobs map[string]struct {
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			If   string            `yaml:"if"`
			Env  map[string]string `yaml:"env"`
			Run  string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// condition evaluates a step's if: as GitHub would on a push to main with a
// cold cache, for the forms the example uses; anything else fails the test
// rather than be guessed.
func condition(t *testing.T, cond string) bool {
	t.Helper()
	cond = strings.TrimSpace(cond)
	cond = strings.TrimSuffix(strings.TrimPrefix(cond, "${{"), "}}")
	result := true
	for _, term := range strings.Split(cond, "&&") {
		term = strings.TrimSpace(term)
		switch {
		case term == "" || term == "!cancelled()" || term == "always()":
		case term == "github.event_name == 'pull_request'":
			result = false
		case regexp.MustCompile(`^steps\.[\w-]+\.outputs\.cache-hit != 'true'$`).MatchString(term):
		default:
			t.Fatalf("the test does not know how GitHub would evaluate %q: teach condition()", term)
		}
	}
	return result
}

// The CI example works: the run: steps of examples/ci/github-actions.yml and
// the GitLab job in examples/ci/README.md run here as their CI would run
// them, on a fresh checkout — building wtb, replaying the llm-agent
// example's committed cassettes (no model is called), comparing with the
// committed baseline (no regression: exit 0) and writing the summary and
// the HTML report where the next steps take them from.
func TestCIExample(t *testing.T) {
	python := agentPython(t)
	ws, head := checkout(t)
	short := head[:12]

	t.Run("github", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(ws, "examples/ci/github-actions.yml"))
		if err != nil {
			t.Fatal(err)
		}
		var wf workflow
		if err := yaml.Unmarshal(raw, &wf); err != nil {
			t.Fatalf("github-actions.yml: %v", err)
		}
		job, ok := wf.Jobs["bench"]
		if !ok || len(job.Steps) == 0 {
			t.Fatalf("no job bench with steps: %+v", wf)
		}
		temp := t.TempDir()
		stepSummary := filepath.Join(temp, "step-summary.md")
		vars := map[string]string{"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": ws, "GITHUB_SHA": head,
			"GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch", "GITHUB_EVENT_NAME": "push", "GITHUB_REPOSITORY": "example/wtb",
			"RUNNER_TEMP": temp, "RUNNER_OS": "Linux", "GITHUB_STEP_SUMMARY": stepSummary}
		var ran, skipped []string
		for _, st := range job.Steps {
			name := st.Name
			if name == "" {
				name = st.Uses
			}
			if st.Uses != "" || !condition(t, st.If) {
				skipped = append(skipped, name)
				continue
			}
			stepVars := map[string]string{}
			for k, v := range vars {
				stepVars[k] = v
			}
			for k, v := range st.Env {
				if strings.Contains(v, "${{") {
					t.Fatalf("step %q: env %s=%q is an expression the test cannot evaluate", name, k, v)
				}
				stepVars[k] = v
			}
			if strings.Contains(st.Run, "${{") {
				t.Fatalf("step %q runs an expression the test cannot evaluate:\n%s", name, st.Run)
			}
			start := time.Now()
			out, err := shell(t, ws, ciEnv(python, stepVars), st.Run)
			t.Logf("step %q: %s\n%s", name, time.Since(start).Round(time.Millisecond), out)
			if err != nil {
				t.Fatalf("step %q failed: %v\n%s", name, err, out)
			}
			if strings.HasPrefix(name, "Run the bench") && !strings.Contains(out, "24 model calls (24 replayed)") {
				t.Errorf("the bench should replay every model call:\n%s", out)
			}
			ran = append(ran, name)
		}
		wantRan := []string{"Build wtb and its plugins", "Install the agent's Python dependency", "Run the bench against the committed baseline",
			"Put the summary on the run's page", "Write the HTML report"}
		wantSkipped := []string{"actions/checkout@v4", "actions/setup-go@v5", "actions/setup-python@v5", "Cache the wtb binaries",
			"Upload the HTML report", "Post the summary on the pull request"}
		if strings.Join(ran, "|") != strings.Join(wantRan, "|") || strings.Join(skipped, "|") != strings.Join(wantSkipped, "|") {
			t.Errorf("ran %q\nskipped %q", ran, skipped)
		}
		summary, err := os.ReadFile(stepSummary)
		if err != nil {
			t.Fatal(err)
		}
		md := renderMarkdown(t, summary)
		for _, want := range []string{"✅ capitals — thresholds met", "Against the baseline: batch"} {
			if !strings.Contains(strings.Join(md.headings, "\n"), want) {
				t.Errorf("the step summary's headings %q lack %q", md.headings, want)
			}
		}
		for _, want := range []string{"git <code>" + short + "</code> on <code>main</code>", "<strong>✅ No regression</strong>",
			"(from <code>examples/ci/llm-agent.baseline.json</code>)"} {
			if !strings.Contains(md.html, want) {
				t.Errorf("the step summary lacks %q:\n%s", want, summary)
			}
		}
		for _, f := range []string{"wtb-report/index.html", "wtb-junit.xml"} {
			if fi, err := os.Stat(filepath.Join(temp, f)); err != nil || fi.Size() == 0 {
				t.Errorf("%s was not written for the upload step: %v", f, err)
			}
		}
	})

	t.Run("gitlab", func(t *testing.T) {
		readme, err := os.ReadFile(filepath.Join(ws, "examples/ci/README.md"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile("(?s)## GitLab CI\n.*?```yaml\n(.*?)```").FindSubmatch(readme)
		if m == nil {
			t.Fatal("examples/ci/README.md has no yaml block under ## GitLab CI")
		}
		var jobs map[string]struct {
			Variables    map[string]string `yaml:"variables"`
			BeforeScript []string          `yaml:"before_script"`
			Script       []string          `yaml:"script"`
			AfterScript  []string          `yaml:"after_script"`
		}
		if err := yaml.Unmarshal(m[1], &jobs); err != nil {
			t.Fatalf("the GitLab job: %v\n%s", err, m[1])
		}
		job, ok := jobs["wtb"]
		if !ok || len(job.Script) == 0 {
			t.Fatalf("no job wtb with a script: %s", m[1])
		}
		vars := map[string]string{"GITLAB_CI": "true", "CI": "true", "CI_PROJECT_DIR": ws, "CI_COMMIT_SHA": head, "CI_COMMIT_BRANCH": "main",
			"CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push", "CI_API_V4_URL": "http://127.0.0.1:1/api/v4", "CI_PROJECT_ID": "1"}
		for k, v := range job.Variables {
			vars[k] = strings.ReplaceAll(v, "$CI_PROJECT_DIR", ws)
		}
		// The job's cache holds Go's build cache: this machine's stands in
		// for it (a cold one would rebuild every dependency).
		for _, k := range []string{"GOCACHE", "GOMODCACHE"} {
			v, err := osexec.Command("go", "env", k).Output()
			if err != nil {
				t.Fatal(err)
			}
			vars[k] = strings.TrimSpace(string(v))
		}
		env := ciEnv(python, vars)
		// GitLab runs before_script and script in one shell, after_script in
		// another, whatever the script's outcome.
		out, err := shell(t, ws, env, strings.Join(append(append([]string{}, job.BeforeScript...), job.Script...), "\n"))
		t.Logf("before_script and script:\n%s", out)
		if err != nil {
			t.Fatalf("the job failed: %v\n%s", err, out)
		}
		if !strings.Contains(out, "24 model calls (24 replayed)") || !strings.Contains(out, "against the baseline examples/ci/llm-agent.baseline.json: no regression") {
			t.Errorf("the job should replay every call and find no regression:\n%s", out)
		}
		after, err := shell(t, ws, env, strings.Join(job.AfterScript, "\n"))
		t.Logf("after_script:\n%s", after)
		if err != nil {
			t.Fatalf("after_script failed: %v\n%s", err, after)
		}
		if !strings.Contains(after, "gitlab-note: not a merge request pipeline") {
			t.Errorf("outside a merge request the note is skipped, and says so:\n%s", after)
		}
		summary, err := os.ReadFile(filepath.Join(ws, "wtb-summary.md"))
		if err != nil {
			t.Fatal(err)
		}
		if md := renderMarkdown(t, summary); !strings.Contains(md.html, "git <code>"+short+"</code> on <code>main</code>") {
			t.Errorf("the summary's dataset:\n%s", summary)
		}
		for _, f := range []string{"wtb-report/index.html", "wtb-junit.xml"} {
			if fi, err := os.Stat(filepath.Join(ws, f)); err != nil || fi.Size() == 0 {
				t.Errorf("%s is not there for the artifacts: %v", f, err)
			}
		}
	})

	t.Run("gitlab-note", func(t *testing.T) { testGitLabNote(t, python, filepath.Join(ws, "examples/ci/gitlab-note.py")) })
}

// gitlab-note.py edits the merge request's summary note when there is one
// (found on any page of notes by its first line) and adds one otherwise.
func testGitLabNote(t *testing.T, python, script string) {
	var mu sync.Mutex
	var calls []string
	var bodies []string
	existing := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("PRIVATE-TOKEN") != "glpat-test" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		calls = append(calls, r.Method+" "+r.URL.Path+"?"+r.URL.Query().Get("page"))
		switch {
		case r.Method == http.MethodGet && r.URL.Query().Get("page") == "1":
			w.Header().Set("X-Next-Page", "2")
			fmt.Fprint(w, `[{"id": 7, "body": "LGTM"}]`)
		case r.Method == http.MethodGet:
			if existing {
				fmt.Fprint(w, `[{"id": 42, "body": "<!-- wtb-summary -->\n## old"}]`)
			} else {
				fmt.Fprint(w, `[]`)
			}
		case r.Method == http.MethodPut || r.Method == http.MethodPost:
			_ = r.ParseForm()
			bodies = append(bodies, r.PostForm.Get("body"))
			fmt.Fprint(w, `{"id": 43}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	summary := filepath.Join(t.TempDir(), "wtb-summary.md")
	if err := os.WriteFile(summary, []byte("<!-- wtb-summary -->\n## ✅ new | figures\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() string {
		cmd := osexec.Command(python, script, summary)
		cmd.Env = ciEnv(python, map[string]string{"CI_API_V4_URL": srv.URL + "/api/v4", "CI_PROJECT_ID": "group/project",
			"CI_MERGE_REQUEST_IID": "5", "WTB_NOTE_TOKEN": "glpat-test"})
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gitlab-note.py: %v\n%s", err, out)
		}
		return string(out)
	}
	notes := "/api/v4/projects/group%2Fproject/merge_requests/5/notes"
	if out := run(); !strings.Contains(out, "updated note 42") {
		t.Errorf("with a summary note on page 2: %s", out)
	}
	// Under the handler's lock: the race detector cannot see that the
	// script's requests ended before this write.
	mu.Lock()
	existing = false
	mu.Unlock()
	if out := run(); !strings.Contains(out, "added note 43") {
		t.Errorf("without one: %s", out)
	}
	want := []string{"GET " + notes + "?1", "GET " + notes + "?2", "PUT " + notes + "/42?", "GET " + notes + "?1", "GET " + notes + "?2", "POST " + notes + "?"}
	// The server sees the path decoded.
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], "%2F", "/")
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	for _, b := range bodies {
		if b != "<!-- wtb-summary -->\n## ✅ new | figures\n" {
			t.Errorf("note body %q", b)
		}
	}
}
