package executor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
	"github.com/wtbench/wtb/sdk/gateway"
)

// worker is one persistent worker process: its pipes and its stderr reader.
// startWorker starts one, kill ends it.
type worker struct {
	cmd    *exec.Cmd
	pgid   int
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *os.File // our end of its stderr
	served int
	timer  *time.Timer // idle timeout
	exited chan struct{}
	// channel is the process's way into the model-call gateway (nil when
	// the node's batch has none), bound to the request it serves.
	channel *gateway.Channel

	mu       sync.Mutex
	cond     *sync.Cond
	sink     func(line []byte) // where stderr lines go: the request being served
	drainSeq int               // drains asked for
	drained  int               // drains answered
	finished bool              // stderr reached EOF
}

// readStderr hands each stderr line to the sink of the moment. It also
// answers drains (see drainStderr): a drain sets a read deadline, and when
// the Read returns at it with nothing left in the pipe, every byte written
// before the drain began has been read and handed on.
func (w *worker) readStderr() {
	buf := make([]byte, 32<<10)
	var partial []byte
	for {
		n, err := w.stderr.Read(buf)
		if n > 0 {
			partial = append(partial, buf[:n]...)
			for {
				i := bytes.IndexByte(partial, '\n')
				if i < 0 {
					break
				}
				w.emit(bytes.TrimRight(partial[:i], "\r"))
				partial = partial[i+1:]
			}
			if len(partial) > maxLogLine { // a line that never ends
				w.emit(partial)
				partial = nil
			}
		}
		switch {
		case err == nil:
			w.mu.Lock()
			again := w.drained < w.drainSeq
			w.mu.Unlock()
			if again {
				_ = w.stderr.SetReadDeadline(time.Now()) // finish the drain once the pipe is empty
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.mu.Lock()
			seq := w.drainSeq
			w.mu.Unlock()
			_ = w.stderr.SetReadDeadline(time.Time{})
			if w.pending() > 0 {
				continue // read what is left first
			}
			if len(partial) > 0 { // a last line without its newline
				w.emit(partial)
				partial = nil
			}
			w.mu.Lock()
			w.drained = seq
			w.cond.Broadcast()
			w.mu.Unlock()
		default: // EOF: the process and everything it started are gone
			if len(partial) > 0 {
				w.emit(partial)
			}
			w.mu.Lock()
			w.finished = true
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
	}
}

// pending is how many stderr bytes wait in the pipe.
func (w *worker) pending() int {
	n := 0
	if rc, err := w.stderr.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { n = pendingBytes(fd) })
	}
	return n
}

// drainStderr waits until every stderr byte the process wrote before now has
// reached the sink: a worker flushes its stderr before it answers, so a
// request's lines are its own and never the next request's.
func (w *worker) drainStderr() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return
	}
	w.drainSeq++
	seq := w.drainSeq
	_ = w.stderr.SetReadDeadline(time.Now())
	expired := false
	deadline := time.AfterFunc(200*time.Millisecond, func() {
		w.mu.Lock()
		expired = true // do not wait on a process that keeps writing
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer deadline.Stop()
	for w.drained < seq && !w.finished && !expired {
		w.cond.Wait()
	}
}

func (w *worker) setSink(f func([]byte)) {
	w.mu.Lock()
	w.sink = f
	w.mu.Unlock()
}

func (w *worker) emit(line []byte) {
	w.mu.Lock()
	f := w.sink
	w.mu.Unlock()
	if f != nil {
		f(line)
	}
}

// kill ends the process group; its waiter reaps it.
func (w *worker) kill() { childproc.Kill(w.pgid) }

// readLine reads one line of at most limit bytes.
func readLine(r *bufio.Reader, limit int64) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if int64(len(line)) > limit+1 {
			return nil, errLineTooLong
		}
		if err == nil {
			return line[:len(line)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && len(strings.TrimSpace(string(line))) > 0 {
				return line, nil // a last answer without a newline
			}
			return nil, err
		}
	}
}

// startWorker starts one worker process in a process group of its own.
func startWorker(node sdk.Node, dir string, env []string, pool *workerPool, gw *nodeGateway) (_ *worker, err error) {
	cmd := exec.Command(node.Command[0], node.Command[1:]...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for _, kv := range env {
		if !strings.HasPrefix(kv, "\x00") { // a key part, not a variable
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var channel *gateway.Channel
	if gw != nil {
		ch, err := gw.gw.NewChannel(gw.cfg)
		if err != nil {
			return nil, &NodeError{Kind: sdk.FailureInfrastructure, Retryable: true, Message: fmt.Sprintf("node %q: %v", node.Name, err)}
		}
		channel = ch
		defer func() {
			if err != nil {
				ch.Close()
			}
		}()
		nodeEnv := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			nodeEnv[k] = v
		}
		for k, v := range ch.Env(nodeEnv, os.LookupEnv) {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	w := &worker{cmd: cmd, stdin: stdin, stdout: bufio.NewReaderSize(stdout, 64<<10), stderr: errR, exited: make(chan struct{}), channel: channel}
	w.cond = sync.NewCond(&w.mu)
	cmd.Stderr = errW
	cmd.WaitDelay = pipeGrace
	w.pgid, err = childproc.Start(cmd)
	_ = errW.Close() // the process has its copy
	if err != nil {
		_ = errR.Close()
		if errors.Is(err, childproc.ErrStopping) {
			return nil, &NodeError{Kind: sdk.FailureCancelled, Message: fmt.Sprintf("node %q not started: the runner is stopping", node.Name)}
		}
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q: cannot start worker %q: %v", node.Name, node.Command[0], unwrapExecErr(err))}
	}
	stderrDone := make(chan struct{})
	go func() { w.readStderr(); close(stderrDone) }()

	go func() {
		_ = cmd.Wait()
		childproc.Done(w.pgid)
		// The group is gone, and with it every writer of its stderr but one
		// that left the group; that one is cut off after a moment.
		select {
		case <-stderrDone:
		case <-time.After(pipeGrace):
		}
		_ = errR.Close()
		if w.channel != nil {
			w.channel.Close()
		}
		close(w.exited)
		pool.ended()
	}()
	return w, nil
}
