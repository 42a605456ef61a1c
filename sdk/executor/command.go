package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
)

// stderrTail is how many of a node's last stderr lines an error message quotes.
const stderrTail = 5

// maxLogLine bounds one stderr line forwarded as a log event; longer lines are cut.
const maxLogLine = 64 << 10

// pipeGrace bounds how long a node's output is still read after its process
// exited: a child it left behind holding stdout or stderr open is then killed
// with the node's group, instead of keeping the node "running" forever.
const pipeGrace = time.Second

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
	if in.traces != nil {
		// The OTLP receiver's endpoint of this node run, after the node's own
		// env: its spans are this run's, whatever the bench file set.
		for k, v := range in.traces.Env() {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if in.gw != nil {
		// The process gets a channel of its own: every call it makes is this
		// node run's, and a call after it ended is refused.
		env, closeChannel, err := in.gw.channel(in.Env)
		if err != nil {
			return nil, &NodeError{Kind: sdk.FailureInfrastructure, Retryable: true, Message: fmt.Sprintf("node %q: %v", node.Name, err)}
		}
		defer closeChannel()
		cmd.Env = append(cmd.Env, env...)
	}
	cmd.Stdin = bytes.NewReader(input)

	// The group is killed on timeout, on cancel and when stdout grows too large;
	// killing the group (not just the child) takes grandchildren with it.
	var pgid int
	var killOnce sync.Once
	var killReason error
	kill := func(reason error) {
		killOnce.Do(func() {
			killReason = reason
			childproc.Kill(pgid)
		})
	}
	tail := childproc.NewTail(stderrTail, 500)
	stdout := &cappedBuffer{limit: limit, overflow: func() { kill(errOutputTooLarge) }}
	stderr := &lineWriter{emit: func(line []byte) { emitLog(ev, node.Name, tail, line) }}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = pipeGrace

	// The node runs in a process group of its own, registered so that it dies
	// with the plugin (see childproc).
	pgid, err = childproc.Start(cmd)
	if errors.Is(err, childproc.ErrStopping) {
		return nil, &NodeError{Kind: sdk.FailureCancelled, Message: fmt.Sprintf("node %q not started: the runner is stopping", node.Name)}
	}
	if err != nil {
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q: cannot start %q: %v", node.Name, node.Command[0], unwrapExecErr(err))}
	}
	stop := context.AfterFunc(ctx, func() { kill(context.Cause(ctx)) })
	waitErr := cmd.Wait()
	stop()
	// Children that outlived the node's main process would keep running; the
	// group is gone after this, whatever the node did.
	childproc.Done(pgid)
	stderr.flush()
	if errors.Is(waitErr, exec.ErrWaitDelay) {
		waitErr = nil // it exited; only a child it left behind held its output open
	}

	switch {
	case stdout.tooLarge:
		return nil, &NodeError{Kind: sdk.FailureOutputTooLarge,
			Message: fmt.Sprintf("node %q wrote more than %s to stdout (limit max_output_bytes = %d); it was killed", node.Name, humanBytes(limit), limit)}
	case killReason != nil && errors.Is(killReason, errNodeTimeout):
		return nil, &NodeError{Kind: sdk.FailureTimeout,
			Message: fmt.Sprintf("node %q timed out after %s; its process group was killed%s", node.Name, node.Timeout, tailSuffix(tail))}
	case killReason != nil:
		return nil, &NodeError{Kind: sdk.FailureCancelled, Message: fmt.Sprintf("node %q cancelled (%v); its process group was killed", node.Name, killReason)}
	}
	if waitErr != nil {
		var exitErr *exec.ExitError
		if errors.As(waitErr, &exitErr) {
			code := exitErr.ExitCode()
			msg := fmt.Sprintf("node %q exited with status %d%s", node.Name, code, tailSuffix(tail))
			if code < 0 {
				msg = fmt.Sprintf("node %q was killed (%v)%s", node.Name, exitErr.ProcessState, tailSuffix(tail))
			}
			return nil, &NodeError{Kind: sdk.FailureExit, Message: msg, ExitCode: code, Retryable: code == RetryableExitCode}
		}
		return nil, &NodeError{Kind: sdk.FailureExit, Message: fmt.Sprintf("node %q: %v", node.Name, waitErr)}
	}
	patch, nerr := objectOutput(node.Name, stdout.buf.Bytes())
	if nerr != nil {
		nerr.Message += tailSuffix(tail)
		return nil, nerr
	}
	return patch, nil
}

// cappedBuffer keeps a node's stdout up to limit bytes; past it, it calls
// overflow once and drops the rest.
type cappedBuffer struct {
	buf      bytes.Buffer
	limit    int64
	tooLarge bool
	overflow func()
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.tooLarge {
		return len(p), nil
	}
	if room := c.limit - int64(c.buf.Len()); int64(len(p)) > room {
		c.tooLarge = true
		c.overflow()
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}

// lineWriter splits a stream into lines, each cut at maxLogLine.
type lineWriter struct {
	line []byte
	cut  bool // the current line passed maxLogLine; drop the rest of it
	emit func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !w.cut {
			room := maxLogLine - len(w.line)
			if len(chunk) > room {
				chunk, w.cut = chunk[:room], true
			}
			w.line = append(w.line, chunk...)
		}
		if i < 0 {
			break
		}
		w.emit(w.line)
		w.line, w.cut = w.line[:0], false
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	if len(w.line) > 0 {
		w.emit(w.line)
		w.line = w.line[:0]
	}
}

var errOutputTooLarge = errors.New("output too large")

func emitLog(ev sdk.Events, node string, tail *childproc.Tail, line []byte) {
	s := string(line)
	tail.Add(s)
	ev.Log(node, sdk.LogStderr, s)
}

// tailSuffix renders the last stderr lines for an error message.
func tailSuffix(t *childproc.Tail) string {
	lines := t.Lines()
	if len(lines) == 0 {
		return ""
	}
	return "; stderr: " + strings.Join(lines, " | ")
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
