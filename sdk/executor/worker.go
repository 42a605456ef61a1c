package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
)

// Persistent workers: a command node with sdk.Node.Worker set runs in a
// long-lived process that reads one request per line on stdin and answers one
// JSON object per line on stdout. What the failure modes of such workers
// taught other tools is built in:
//
//   - every request is bound to the process it was sent to, one at a time;
//   - a request that times out or is cancelled kills its process (the whole
//     group) and replaces it: nothing queues behind a stuck request;
//   - a process that dies mid-request fails that request only, retryably;
//   - a process that dies before its first answer fails the request at once
//     with its stderr (an import error shows in a second, not after a long
//     ready timeout);
//   - what a process writes to stderr while serving a request is that
//     request's log;
//   - processes run in process groups registered with childproc: they and
//     their children die with the runner.
//
// Processes are keyed by everything that makes them differ: command, working
// directory, environment and the node's configuration hash (its variant).

// workerPools holds the executor's worker processes, by key.
type workerPools struct {
	mu    sync.Mutex
	pools map[string]*workerPool
}

func (w *workerPools) pool(key string, spec sdk.WorkerSpec, limit int) *workerPool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pools == nil {
		w.pools = map[string]*workerPool{}
	}
	p := w.pools[key]
	if p == nil {
		max := spec.Max
		if max <= 0 {
			max = limit
		}
		idle := spec.IdleTimeout
		if idle <= 0 {
			idle = sdk.DefaultWorkerIdle
		}
		p = &workerPool{max: max, maxRequests: spec.MaxRequests, idle: idle, free: make(chan struct{}, 1)}
		w.pools[key] = p
	}
	return p
}

// closeAll stops every worker process.
func (w *workerPools) closeAll() {
	w.mu.Lock()
	pools := w.pools
	w.pools = nil
	w.mu.Unlock()
	for _, p := range pools {
		p.closeAll()
	}
}

// count is how many worker processes run, for Metrics.
func (w *workerPools) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, p := range w.pools {
		p.mu.Lock()
		n += p.running
		p.mu.Unlock()
	}
	return n
}

// workerPool is the processes of one key.
type workerPool struct {
	max, maxRequests int
	idle             time.Duration

	mu      sync.Mutex
	running int
	idleSet []*worker
	free    chan struct{} // a process went back idle, or one ended
}

// acquire returns an idle process or starts one (start) when under max,
// waiting otherwise.
func (p *workerPool) acquire(ctx context.Context, start func() (*worker, error)) (*worker, bool, error) {
	for {
		p.mu.Lock()
		for len(p.idleSet) > 0 {
			w := p.idleSet[len(p.idleSet)-1]
			p.idleSet = p.idleSet[:len(p.idleSet)-1]
			if w.timer != nil && !w.timer.Stop() {
				// Its idle timeout fired; having taken it from the idle set, we
				// stop it (retireIdle will not find it).
				go p.retire(w)
				continue
			}
			select {
			case <-w.exited:
				continue // died while idle
			default:
			}
			p.mu.Unlock()
			return w, false, nil
		}
		if p.running < p.max {
			p.running++
			p.mu.Unlock()
			w, err := start()
			if err != nil {
				p.ended()
				return nil, false, err
			}
			return w, true, nil
		}
		p.mu.Unlock()
		select {
		case <-p.free:
		case <-ctx.Done():
			return nil, false, context.Cause(ctx)
		}
	}
}

// ended counts a process gone and wakes a waiter.
func (p *workerPool) ended() {
	p.mu.Lock()
	p.running--
	p.mu.Unlock()
	p.wake()
}

func (p *workerPool) wake() {
	select {
	case p.free <- struct{}{}:
	default:
	}
}

// release puts a process that answered back to idle, or retires it after
// max_requests.
func (p *workerPool) release(w *worker) {
	w.served++
	if p.maxRequests > 0 && w.served >= p.maxRequests {
		p.retire(w)
		return
	}
	p.mu.Lock()
	w.timer = time.AfterFunc(p.idle, func() { p.retireIdle(w) })
	p.idleSet = append(p.idleSet, w)
	p.mu.Unlock()
	p.wake()
}

// retireIdle stops a process whose idle timeout fired, unless it was taken.
func (p *workerPool) retireIdle(w *worker) {
	p.mu.Lock()
	for i, x := range p.idleSet {
		if x == w {
			p.idleSet = append(p.idleSet[:i], p.idleSet[i+1:]...)
			p.mu.Unlock()
			p.retire(w)
			return
		}
	}
	p.mu.Unlock()
}

// retire ends a process: its stdin closes (a well-behaved worker exits) and
// its group is killed after a moment.
func (p *workerPool) retire(w *worker) {
	_ = w.stdin.Close()
	go func() {
		select {
		case <-w.exited:
		case <-time.After(2 * time.Second):
			w.kill()
		}
	}()
}

func (p *workerPool) closeAll() {
	p.mu.Lock()
	idle := p.idleSet
	p.idleSet = nil
	p.mu.Unlock()
	for _, w := range idle {
		if w.timer != nil {
			w.timer.Stop()
		}
		w.kill()
	}
}

// workerKey is what makes worker processes interchangeable.
func workerKey(node sdk.Node, dir string, env []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q\x00%s\x00%s\x00", node.Command, dir, node.ConfigHash)
	sorted := append([]string(nil), env...)
	sort.Strings(sorted)
	for _, e := range sorted {
		fmt.Fprintf(h, "%s\x00", e)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// runWorkerNode sends one node run to a worker process.
func (e *Executor) runWorkerNode(ctx context.Context, node sdk.Node, in *NodeInput, ev sdk.Events) (map[string]json.RawMessage, error) {
	if len(node.Command) == 0 {
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q has no command", node.Name)}
	}
	// The request carries everything a one-shot node's environment would
	// (WTB_EXECUTION_KEY is in execution.key): a process's environment is
	// fixed for its life.
	input, err := json.Marshal(in)
	if err != nil {
		return nil, &NodeError{Kind: sdk.FailureStart, Message: fmt.Sprintf("node %q: encoding its input: %v", node.Name, err)}
	}
	limit := node.MaxOutputBytes
	if limit <= 0 {
		limit = DefaultMaxOutputBytes
	}
	dir := WorkDir(ctx)
	env := []string{"WTB_NODE=" + node.Name, "WTB_WORKER=1"}
	for k, v := range in.Env {
		env = append(env, k+"="+v)
	}
	var gw *nodeGateway
	if in.gw != nil {
		gw = in.gw
		// Not an environment variable of the process: it tells workers of
		// different gateway configurations apart in the key.
		env = append(env, "\x00gateway="+gatewayKey(gw.cfg))
	}
	pool := e.workers.pool(workerKey(node, dir, env), *node.Worker, e.workerLimit)
	w, fresh, err := pool.acquire(ctx, func() (*worker, error) { return startWorker(node, dir, env, pool, gw) })
	if err != nil {
		var ne *NodeError
		if errors.As(err, &ne) {
			return nil, ne
		}
		return nil, &NodeError{Kind: sdk.FailureCancelled, Message: fmt.Sprintf("node %q: waiting for a worker: %v", node.Name, err)}
	}
	tail := childproc.NewTail(stderrTail, 500)
	w.setSink(func(line []byte) { emitLog(ev, node.Name, tail, line) })
	// The process's gateway channel carries this node run's calls until it
	// answers; a call it makes after that is refused, never counted against
	// the next request.
	if w.channel != nil && gw != nil {
		w.channel.Bind(gw.run)
	}
	// This request's stderr is everything the process wrote before its
	// answer: wait for it before the process can serve another request.
	finish := func() {
		if w.channel != nil {
			w.channel.Unbind()
		}
		w.drainStderr()
		w.setSink(nil)
	}

	type answer struct {
		line []byte
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		if _, err := w.stdin.Write(append(input, '\n')); err != nil {
			answered <- answer{err: fmt.Errorf("writing the request: %w", err)}
			return
		}
		line, err := readLine(w.stdout, limit)
		answered <- answer{line, err}
	}()
	var got answer
	select {
	case got = <-answered:
	case <-ctx.Done():
		// Never leave a process busy with a request nobody waits for: kill
		// it; the pool starts another for the next request.
		w.kill()
		<-answered
		finish()
		cause := context.Cause(ctx)
		if errors.Is(cause, errNodeTimeout) {
			return nil, &NodeError{Kind: sdk.FailureTimeout,
				Message: fmt.Sprintf("node %q timed out after %s; its worker process was killed and will be replaced%s", node.Name, node.Timeout, tailSuffix(tail))}
		}
		return nil, &NodeError{Kind: sdk.FailureCancelled, Message: fmt.Sprintf("node %q cancelled (%v); its worker process was killed", node.Name, cause)}
	}
	if got.err != nil {
		w.kill()
		<-w.exited
		finish()
		if errors.Is(got.err, errLineTooLong) {
			return nil, &NodeError{Kind: sdk.FailureOutputTooLarge,
				Message: fmt.Sprintf("node %q's worker answered more than %s (limit max_output_bytes = %d); the worker was replaced", node.Name, humanBytes(limit), limit)}
		}
		status := w.cmd.ProcessState
		if fresh && w.served == 0 && status != nil && status.Exited() {
			// It exited on its own before answering anything: most likely it
			// cannot start (an import error). A signal (OOM killer, a kill)
			// is a crash like any other.
			return nil, &NodeError{Kind: sdk.FailureStart,
				Message: fmt.Sprintf("node %q: its worker %q exited before answering its first request (%v)%s", node.Name, node.Command[0], status, tailSuffix(tail))}
		}
		return nil, &NodeError{Kind: sdk.FailureExit, Retryable: true,
			Message: fmt.Sprintf("node %q: its worker process died during the request (%v); the request can be retried on a new worker%s", node.Name, status, tailSuffix(tail))}
	}
	finish()
	pool.release(w)
	var failure struct {
		Error     *string `json:"$error"`
		Retryable bool    `json:"$retryable"`
	}
	if json.Unmarshal(got.line, &failure) == nil && failure.Error != nil {
		return nil, &NodeError{Kind: sdk.FailureExit, Retryable: failure.Retryable,
			Message: fmt.Sprintf("node %q failed: %s", node.Name, *failure.Error)}
	}
	patch, nerr := objectOutput(node.Name, got.line)
	if nerr != nil {
		nerr.Message += tailSuffix(tail)
		return nil, nerr
	}
	return patch, nil
}

var errLineTooLong = errors.New("answer too long")
