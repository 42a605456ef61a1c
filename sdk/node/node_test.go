package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/wtbench/wtb/sdk/executor"
)

func answer(_ context.Context, in *executor.NodeInput) (map[string]any, error) {
	state, _ := in.StateMap()
	switch state["q"] {
	case "boom":
		return nil, errors.New("no answer")
	case "later":
		return nil, Retryable(errors.New("rate limited"))
	case "panic":
		panic("bad input")
	}
	return map[string]any{"answer": strings.ToUpper(state["q"].(string))}, nil
}

func req(q string) string {
	b, _ := json.Marshal(map[string]any{"state": map[string]any{"q": q}, "params": map[string]any{}})
	return string(b)
}

func TestOneShot(t *testing.T) {
	var out, errb bytes.Buffer
	if code := serveOnce(context.Background(), strings.NewReader(req("paris")), &out, &errb, answer); code != 0 || strings.TrimSpace(out.String()) != `{"answer":"PARIS"}` {
		t.Errorf("code %d, out %q, err %q", code, out.String(), errb.String())
	}
	if code := serveOnce(context.Background(), strings.NewReader(req("later")), &out, &errb, answer); code != executor.RetryableExitCode {
		t.Errorf("a retryable error exits %d", code)
	}
	if code := serveOnce(context.Background(), strings.NewReader(req("boom")), &out, &errb, answer); code != 1 {
		t.Errorf("an error exits %d", code)
	}
}

// A worker answers every line, in order, a failure or a panic included, and
// stops when stdin closes.
func TestWorker(t *testing.T) {
	in := strings.Join([]string{req("a"), req("boom"), req("later"), req("panic"), "{not json", req("b")}, "\n") + "\n"
	var out bytes.Buffer
	if err := serveWorker(context.Background(), strings.NewReader(in), &out, answer); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{`{"answer":"A"}`, `{"$error":"no answer","$retryable":false}`, `{"$error":"rate limited","$retryable":true}`,
		`{"$error":"panic: bad input","$retryable":false}`, "", `{"answer":"B"}`}
	if len(lines) != len(want) {
		t.Fatalf("answers:\n%s", out.String())
	}
	for i, w := range want {
		if w != "" && lines[i] != w {
			t.Errorf("answer %d = %s, want %s", i, lines[i], w)
		}
	}
	if !strings.Contains(lines[4], `"$error"`) {
		t.Errorf("a line that is not JSON gets an error answer: %s", lines[4])
	}
}

// The Python helper (sdk/python/wtb_node.py) has its own tests, run here so
// that `make test` runs them.
func TestPythonHelper(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	cmd := exec.Command(python, "-m", "unittest", "-v", "test_wtb_node")
	cmd.Dir = "../python"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("python3 -m unittest: %v\n%s", err, out)
	}
}
