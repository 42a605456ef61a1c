package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// runCommand runs an external scorer: it gets {state, case, duration_ms,
// metrics} on stdin and prints a number in [0,1] or {"score": x, "note": "..."}.
func (e *Evaluator) runCommand(ctx context.Context, ev compiled, in Input) (float64, string) {
	timeout := ev.Timeout.D()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	payload, _ := json.Marshal(map[string]any{"state": in.State, "case": in.Case, "duration_ms": in.DurationMs, "metrics": in.Metrics})
	cmd := exec.CommandContext(ctx, ev.Command[0], ev.Command[1:]...)
	cmd.Dir = e.dir
	cmd.Env = os.Environ()
	cmd.Stdin = bytes.NewReader(payload)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return 0, fmt.Sprintf("scorer %s failed: %v %s", ev.Command[0], err, preview(strings.TrimSpace(stderr.String())))
	}
	out := bytes.TrimSpace(stdout.Bytes())
	if f, err := strconv.ParseFloat(string(out), 64); err == nil {
		return f, ""
	}
	var obj struct {
		Score *float64 `json:"score"`
		Note  string   `json:"note"`
	}
	if err := json.Unmarshal(out, &obj); err != nil || obj.Score == nil {
		return 0, fmt.Sprintf("scorer printed %q; want a number in [0,1] or {\"score\": x}", preview(string(out)))
	}
	return *obj.Score, obj.Note
}
