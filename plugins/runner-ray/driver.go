package main

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/sdk/childproc"
)

// The Ray side: a small Python package, written out next to nothing else at
// start-up so that the plugin binary is all there is to install.
//
//go:embed py/wtb_ray/*.py
var pyPackage embed.FS

// errDriverGone is what a call gets when the driver exits under it.
var errDriverGone = errors.New("the Ray driver exited")

// driver supervises the Python driver process: it starts it, hands it
// segments and routes its answers, and restarts it when it dies.
type driver struct {
	cfg      driverConfig
	python   string
	restarts int // allowed within restartWindow
	log      hclog.Logger

	mu        sync.Mutex
	pyDir     string
	cur       *driverProc
	ready     chan struct{} // closed when cur is ready, or the driver gave up
	fatal     error         // set when the driver will not come back
	deaths    []time.Time
	nextID    uint64
	closed    bool
	info      json.RawMessage
	restarted int
}

const restartWindow = 10 * time.Minute

// driverProc is one run of the driver.
type driverProc struct {
	cmd     *exec.Cmd
	pgid    int
	wmu     sync.Mutex
	stdin   io.WriteCloser
	mu      sync.Mutex
	pending map[uint64]chan driverMsg
	envs    map[string]bool // env keys whose runtime_env this driver has
	gone    bool
	tail    *childproc.Tail
	exited  chan struct{}
}

func newDriver(cfg driverConfig, python string, restarts int, log hclog.Logger) *driver {
	return &driver{cfg: cfg, python: python, restarts: restarts, log: log, ready: make(chan struct{})}
}

// start runs the driver and waits until it has connected to the cluster.
func (d *driver) start(ctx context.Context) error {
	if _, err := exec.LookPath(d.python); err != nil {
		return fmt.Errorf("the Ray runner needs Python with ray installed: %q not found (set python in the runner block or WTB_RAY_PYTHON)", d.python)
	}
	if err := d.writePackage(); err != nil {
		return err
	}
	p, info, err := d.launch(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.cur, d.info = p, info
	close(d.ready)
	d.mu.Unlock()
	go d.watch(p)
	return nil
}

func (d *driver) writePackage() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pyDir != "" {
		return nil
	}
	// Beside this plugin's socket, in the directory the host made for it
	// (PLUGIN_UNIX_SOCKET_DIR; "" when run without one): the host removes
	// that when it stops the plugin, so a plugin or a driver killed
	// outright leaves nothing behind.
	dir, err := os.MkdirTemp(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), "wtb-ray-driver-")
	if err != nil {
		return fmt.Errorf("writing the Ray driver: %w", err)
	}
	err = fs.WalkDir(pyPackage, "py", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := pyPackage.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, strings.TrimPrefix(path, "py/"))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("writing the Ray driver: %w", err)
	}
	d.pyDir = dir
	return nil
}

// launch starts a driver process and reads up to its ready (or fatal) line.
func (d *driver) launch(ctx context.Context) (*driverProc, json.RawMessage, error) {
	cmd := exec.Command(d.python, "-u", "-m", "wtb_ray.driver")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+d.pyDir+pathListTail(os.Getenv("PYTHONPATH")), "RAY_USAGE_STATS_ENABLED=0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	pgid, err := childproc.Start(cmd)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the Ray driver with %s: %w", d.python, err)
	}
	p := &driverProc{cmd: cmd, pgid: pgid, stdin: stdin, pending: map[uint64]chan driverMsg{}, envs: map[string]bool{}, tail: childproc.NewTail(30, 1000), exited: make(chan struct{})}
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if l := strings.TrimSpace(line); l != "" {
				p.tail.Add(l)
			}
			d.log.Debug("ray driver", "line", line)
		}
	}()
	go func() {
		<-stderrDone
		_ = cmd.Wait()
		childproc.Done(pgid)
		close(p.exited)
	}()
	if err := p.send(driverMsg{Op: "configure", Config: &d.cfg}); err != nil {
		p.kill()
		return nil, nil, fmt.Errorf("starting the Ray driver: %w", err)
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<30)
	first := make(chan driverMsg, 1)
	go func() {
		defer close(first)
		for lines.Scan() {
			var m driverMsg
			if json.Unmarshal(lines.Bytes(), &m) != nil {
				d.log.Warn("ray driver wrote a line that is not a message", "line", lines.Text())
				continue
			}
			if m.Op == "log" {
				d.logMsg(m)
				continue
			}
			first <- m
			if m.Op != "ready" {
				return
			}
			d.route(p, lines)
			return
		}
	}()
	timeout := time.Duration(d.cfg.ConnectTimeout*float64(time.Second)) + 30*time.Second
	select {
	case m, ok := <-first:
		switch {
		case ok && m.Op == "ready":
			return p, m.Info, nil
		case ok && m.Op == "fatal":
			p.kill()
			return nil, nil, errors.New(m.Message)
		}
		<-p.exited
		return nil, nil, fmt.Errorf("the Ray driver (%s) exited while connecting: %s", d.python, telling(p.tail, "no output"))
	case <-time.After(timeout):
		p.kill()
		return nil, nil, fmt.Errorf("the Ray driver did not connect to %s within %s: %s", d.cfg.Address, timeout, telling(p.tail, "no output"))
	case <-ctx.Done():
		p.kill()
		return nil, nil, ctx.Err()
	}
}

// route hands each answer to the call waiting for it.
func (d *driver) route(p *driverProc, lines *bufio.Scanner) {
	for lines.Scan() {
		var m driverMsg
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			d.log.Warn("ray driver wrote a line that is not a message", "line", lines.Text())
			continue
		}
		switch m.Op {
		case "log":
			d.logMsg(m)
		case "result", "lost":
			if m.Op == "result" {
				if !lines.Scan() {
					return
				}
				m.Payload = append([]byte(nil), lines.Bytes()...)
			}
			p.mu.Lock()
			ch := p.pending[m.ID]
			delete(p.pending, m.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

func (d *driver) logMsg(m driverMsg) {
	switch m.Level {
	case "error":
		d.log.Error(m.Message)
	case "warn", "warning":
		d.log.Warn(m.Message)
	default:
		d.log.Info(m.Message)
	}
}

// watch waits for a driver process to end; unless the runner is closing, it
// fails what was in flight (retryably) and starts a new driver.
func (d *driver) watch(p *driverProc) {
	<-p.exited
	reason := fmt.Sprintf("%s: %s", errDriverGone, telling(p.tail, "no output"))
	p.mu.Lock()
	p.gone = true
	pending := p.pending
	p.pending = map[uint64]chan driverMsg{}
	p.mu.Unlock()
	for id, ch := range pending {
		ch <- driverMsg{Op: "lost", ID: id, Retryable: true, Message: reason}
	}
	d.mu.Lock()
	if d.closed || d.cur != p {
		d.mu.Unlock()
		return
	}
	now := time.Now()
	d.deaths = append(d.deaths, now)
	recent := 0
	for _, t := range d.deaths {
		if now.Sub(t) < restartWindow {
			recent++
		}
	}
	d.ready = make(chan struct{})
	if recent > d.restarts {
		d.fatal = fmt.Errorf("the Ray driver died %d times within %s; giving up. Last: %s", recent, restartWindow, reason)
		close(d.ready)
		d.mu.Unlock()
		d.log.Error("ray driver keeps dying; executions fail from now on", "reason", reason)
		return
	}
	d.mu.Unlock()
	d.log.Warn("ray driver exited; restarting it", "reason", reason)
	for attempt := 1; ; attempt++ {
		time.Sleep(time.Duration(min(attempt, 5)) * time.Second / 2)
		np, info, err := d.launch(context.Background())
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			if err == nil {
				np.kill()
			}
			return
		}
		if err == nil {
			d.cur, d.info = np, info
			d.restarted++
			close(d.ready)
			d.mu.Unlock()
			d.log.Info("ray driver restarted")
			go d.watch(np)
			return
		}
		if attempt >= 3 {
			d.fatal = fmt.Errorf("restarting the Ray driver: %w", err)
			close(d.ready)
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		d.log.Warn("restarting the ray driver failed; trying again", "error", err)
	}
}

// call sends a run and waits for its answer. Cancelling ctx cancels the run
// on the cluster and returns ctx's error.
func (d *driver) call(ctx context.Context, m driverMsg) (driverMsg, error) {
	for {
		d.mu.Lock()
		ready, p := d.ready, d.cur
		d.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return driverMsg{}, ctx.Err()
		}
		d.mu.Lock()
		if d.fatal != nil || d.closed {
			err := d.fatal
			if err == nil {
				err = errors.New("the Ray runner is shutting down")
			}
			d.mu.Unlock()
			return driverMsg{}, err
		}
		if d.cur != p || p == nil {
			d.mu.Unlock()
			continue
		}
		d.nextID++
		m.ID = d.nextID
		d.mu.Unlock()

		ch := make(chan driverMsg, 1)
		p.mu.Lock()
		if p.gone {
			p.mu.Unlock()
			continue // a new driver is coming
		}
		p.pending[m.ID] = ch
		sendEnv := !p.envs[m.EnvKey]
		p.envs[m.EnvKey] = true
		p.mu.Unlock()
		if !sendEnv {
			m.RuntimeEnv = nil
		}
		if err := p.send(m); err != nil {
			p.mu.Lock()
			delete(p.pending, m.ID)
			p.mu.Unlock()
			return driverMsg{Op: "lost", Retryable: true, Message: fmt.Sprintf("%s: %v", errDriverGone, err)}, nil
		}
		select {
		case r := <-ch:
			return r, nil
		case <-ctx.Done():
			p.mu.Lock()
			delete(p.pending, m.ID)
			p.mu.Unlock()
			_ = p.send(driverMsg{Op: "cancel", ID: m.ID})
			return driverMsg{}, ctx.Err()
		}
	}
}

// close stops the driver: its stdin closes, it kills its actors and exits;
// after grace it is killed.
func (d *driver) close(grace time.Duration) {
	d.mu.Lock()
	d.closed = true
	p, dir := d.cur, d.pyDir
	d.mu.Unlock()
	if p != nil {
		p.wmu.Lock()
		_ = p.stdin.Close()
		p.wmu.Unlock()
		select {
		case <-p.exited:
		case <-time.After(grace):
			p.kill()
			<-p.exited
		}
	}
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

func (d *driver) stats() (restarted int, info json.RawMessage) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarted, d.info
}

func (p *driverProc) send(m driverMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if m.Payload != nil {
		b = append(append(b, m.Payload...), '\n')
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err = p.stdin.Write(b)
	return err
}

func (p *driverProc) kill() { childproc.Kill(p.pgid) }

func pathListTail(existing string) string {
	if existing == "" {
		return ""
	}
	return string(os.PathListSeparator) + existing
}

// telling is the most telling of a process's last lines: the last one that
// looks like an error, else the last one, else none.
func telling(t *childproc.Tail, none string) string {
	lines := t.Lines()
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "Error") || strings.Contains(lines[i], "error") {
			return lines[i]
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return none
}
