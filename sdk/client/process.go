package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
	"github.com/wtbench/wtb/sdk/childproc"
)

// pluginProcess runs a plugin binary for go-plugin in a session of its own
// (setsid): everything the plugin starts — node processes, a shell script's
// children — stays in that session unless it leaves on purpose, so killing the
// session kills all of it. go-plugin's own runner kills only the plugin's
// process; a child that keeps the plugin's stdout or stderr open then makes
// go-plugin wait for those pipes forever.
type pluginProcess struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr io.ReadCloser

	mu      sync.Mutex
	pid     int
	waitErr error
	waited  chan struct{}
}

var _ runner.Runner = (*pluginProcess)(nil)

func newPluginProcess(cmd *exec.Cmd) (*pluginProcess, error) {
	cmd.SysProcAttr = pluginSysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &pluginProcess{cmd: cmd, stdout: stdout, stderr: stderr, waited: make(chan struct{})}, nil
}

func (p *pluginProcess) Start(context.Context) error {
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.mu.Lock()
	p.pid = p.cmd.Process.Pid
	p.mu.Unlock()
	live.add(p)
	// When the plugin exits, what it started goes with it — also before its
	// handshake, where a child holding its stdout would otherwise leave the
	// host waiting for a handshake line until start_timeout.
	go func() {
		if waitExit(p.pid) {
			killSession(p.pid)
		}
	}()
	return nil
}

// Wait waits for the plugin's process to exit and for its pipes to be drained
// (go-plugin reads them first); the exit status is kept for error messages.
func (p *pluginProcess) Wait(context.Context) error {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.waitErr = err
	p.mu.Unlock()
	close(p.waited)
	live.remove(p)
	// The plugin is gone; nothing it started may outlive it.
	killSession(p.pid)
	return err
}

// Kill kills the plugin and every process in its session.
func (p *pluginProcess) Kill(context.Context) error {
	p.mu.Lock()
	pid := p.pid
	p.mu.Unlock()
	if pid == 0 {
		return nil
	}
	killSession(pid)
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// exitStatus describes how the plugin ended, once it has.
func (p *pluginProcess) exitStatus() string {
	select {
	case <-p.waited:
	default:
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return "exit status 0"
	case errors.As(p.waitErr, &ee):
		return ee.ProcessState.String()
	}
	return p.waitErr.Error()
}

func (p *pluginProcess) Stdout() io.ReadCloser { return p.stdout }
func (p *pluginProcess) Stderr() io.ReadCloser { return p.stderr }
func (p *pluginProcess) Name() string          { return p.cmd.Path }
func (p *pluginProcess) Diagnose(context.Context) string {
	return ""
}

func (p *pluginProcess) ID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strconv.Itoa(p.pid)
}

func (p *pluginProcess) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (p *pluginProcess) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// registry holds the plugin processes this host has started, so that an
// emergency exit (a second Ctrl-C) can kill them all at once. It is the one
// piece of process-wide state here, as the processes themselves are.
type registry struct {
	mu    sync.Mutex
	procs map[*pluginProcess]bool
}

var live = &registry{procs: map[*pluginProcess]bool{}}

func (r *registry) add(p *pluginProcess) {
	r.mu.Lock()
	r.procs[p] = true
	r.mu.Unlock()
}

func (r *registry) remove(p *pluginProcess) {
	r.mu.Lock()
	delete(r.procs, p)
	r.mu.Unlock()
}

// KillAll kills every plugin this process has started, with everything they
// started, without waiting for a graceful shutdown.
func KillAll() {
	live.mu.Lock()
	procs := make([]*pluginProcess, 0, len(live.procs))
	for p := range live.procs {
		procs = append(procs, p)
	}
	live.mu.Unlock()
	for _, p := range procs {
		_ = p.Kill(context.Background())
	}
}

// quietLogger demotes go-plugin's own messages ("plugin failed to exit
// gracefully", "plugin process exited") to debug, since the host reports
// plugin trouble itself in one clear line; the plugin's log, which go-plugin
// writes through a named sub-logger, keeps its levels.
type quietLogger struct{ hclog.Logger }

func (l quietLogger) Info(msg string, args ...any)  { l.Logger.Debug(msg, args...) }
func (l quietLogger) Warn(msg string, args ...any)  { l.Logger.Debug(msg, args...) }
func (l quietLogger) Error(msg string, args ...any) { l.Logger.Debug(msg, args...) }
func (l quietLogger) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(min(level, hclog.Debug), msg, args...)
}
func (l quietLogger) With(args ...any) hclog.Logger { return quietLogger{l.Logger.With(args...)} }

// lastOutput renders what a plugin printed on stderr before it failed to
// start.
func lastOutput(t *childproc.Tail) string {
	lines := t.Lines()
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("; its last output: %q", strings.Join(lines, " | "))
}
