package executor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/wtbench/wtb/sdk"
)

// stderrTail is how many of a node's last stderr lines an error message quotes.
const stderrTail = 5

// maxLogLine bounds one stderr line forwarded as a log event; longer lines are cut.
const maxLogLine = 64 << 10

// runCommand runs a command node: input as JSON on stdin, a JSON object on stdout
// merged into the state, stderr forwarded line by line as logs. The node runs in
// its own process group, so a timeout or cancel kills it and all its children.
func runCommand(ctx context.Context, node sdk.Node, in *NodeInput, ev sdk.Events) (map[string]json.RawMessage, error) {
	if len(node.Command) == 0 {
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q has no command", node.Name)}
	}
	input, err := json.Marshal(in)
	if err != nil {
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q: encoding its input: %v", node.Name, err)}
	}
	limit := node.MaxOutputBytes
	if limit <= 0 {
		limit = DefaultMaxOutputBytes
	}

	cmd := exec.Command(node.Command[0], node.Command[1:]...)
	cmd.Dir = WorkDir(ctx)
	cmd.Env = os.Environ()
	for k, v := range in.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "WTB_NODE="+node.Name, "WTB_EXECUTION_KEY="+in.Execution.Key)
	cmd.SysProcAttr = nodeSysProcAttr()
	cmd.Stdin = bytes.NewReader(input)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q: %v", node.Name, err)}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q: %v", node.Name, err)}
	}
	if err := cmd.Start(); err != nil {
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q: cannot start %q: %v", node.Name, node.Command[0], unwrapExecErr(err))}
	}
	pgid := cmd.Process.Pid

	// The group is killed on timeout, on cancel and when stdout grows too large;
	// killing the group (not just the child) takes grandchildren with it.
	var killOnce sync.Once
	var killReason error
	kill := func(reason error) {
		killOnce.Do(func() {
			killReason = reason
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		})
	}
	stop := context.AfterFunc(ctx, func() { kill(context.Cause(ctx)) })
	defer stop()

	var wg sync.WaitGroup
	tail := newTailBuffer(stderrTail)
	wg.Add(1)
	go func() {
		defer wg.Done()
		forwardStderr(stderr, node.Name, ev, tail)
	}()

	var out bytes.Buffer
	n, readErr := io.Copy(&out, io.LimitReader(stdout, limit+1))
	tooLarge := n > limit
	if tooLarge {
		kill(errOutputTooLarge)
		_, _ = io.Copy(io.Discard, stdout)
	}
	wg.Wait()
	waitErr := cmd.Wait()
	// Children that outlived the node's main process would keep running; the
	// group is gone after this, whatever the node did.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)

	switch {
	case tooLarge:
		return nil, &NodeError{Kind: sdk.FailureOutputTooLarge,
			Message: fmt.Sprintf("node %q wrote more than %s to stdout (limit max_output_bytes = %d); it was killed", node.Name, humanBytes(limit), limit)}
	case killReason != nil && errors.Is(killReason, errNodeTimeout):
		return nil, &NodeError{Kind: sdk.FailureTimeout,
			Message: fmt.Sprintf("node %q timed out after %s; its process group was killed%s", node.Name, node.Timeout, tail.suffix())}
	case killReason != nil:
		return nil, &NodeError{Kind: sdk.FailureCancelled, Message: fmt.Sprintf("node %q cancelled (%v); its process group was killed", node.Name, killReason)}
	}
	if waitErr != nil {
		var exitErr *exec.ExitError
		if errors.As(waitErr, &exitErr) {
			code := exitErr.ExitCode()
			msg := fmt.Sprintf("node %q exited with status %d%s", node.Name, code, tail.suffix())
			if code < 0 {
				msg = fmt.Sprintf("node %q was killed (%v)%s", node.Name, exitErr.ProcessState, tail.suffix())
			}
			return nil, &NodeError{Kind: sdk.FailureExit, Message: msg, ExitCode: code, Retryable: code == RetryableExitCode}
		}
		return nil, &NodeError{Kind: sdk.FailureExit, Message: fmt.Sprintf("node %q: %v", node.Name, waitErr)}
	}
	if readErr != nil {
		return nil, &NodeError{Kind: sdk.FailureInvalidOutput, Message: fmt.Sprintf("node %q: reading stdout: %v", node.Name, readErr)}
	}
	patch, nerr := objectOutput(node.Name, out.Bytes())
	if nerr != nil {
		nerr.Message += tail.suffix()
		return nil, nerr
	}
	return patch, nil
}

var errOutputTooLarge = errors.New("output too large")

func forwardStderr(r io.Reader, node string, ev sdk.Events, tail *tailBuffer) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(chunk) > 0 && len(line) < maxLogLine {
			room := maxLogLine - len(line)
			if len(chunk) > room {
				chunk = chunk[:room]
			}
			line = append(line, chunk...)
		}
		if err != nil {
			if len(line) > 0 {
				emitLog(ev, node, tail, line)
			}
			return
		}
		if !isPrefix {
			emitLog(ev, node, tail, line)
			line = line[:0]
		}
	}
}

func emitLog(ev sdk.Events, node string, tail *tailBuffer, line []byte) {
	s := string(line)
	tail.add(s)
	ev.Log(node, sdk.LogStderr, s)
}

type tailBuffer struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	t.lines = append(t.lines, s)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// suffix renders the last stderr lines for an error message.
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; stderr: " + strings.Join(t.lines, " | ")
}

func quoteStart(b []byte, n int) string {
	if len(b) > n {
		return fmt.Sprintf("%q…", b[:n])
	}
	return fmt.Sprintf("%q", b)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func unwrapExecErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
