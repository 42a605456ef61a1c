package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// EventType is a plugin lifecycle event.
type EventType string

// Plugin lifecycle events.
const (
	PluginStarted   EventType = "started"
	PluginCrashed   EventType = "crashed"
	PluginRestarted EventType = "restarted"
	PluginStopped   EventType = "stopped"
	PluginGaveUp    EventType = "gave_up"
)

// Event reports a plugin's lifecycle to the host (the event bus and audit trail).
type Event struct {
	Type   EventType
	Plugin string // e.g. "runner-pool"
	Pid    int
	Detail string
}

// Spec says which plugin to run and how.
type Spec struct {
	// Name identifies the plugin in messages and logs, e.g. "runner-pool".
	Name         string
	Kind         client.Kind
	Path         string
	SHA256       string
	StartTimeout time.Duration
	// Config is the plugin's HCL block decoded to a JSON object.
	Config      json.RawMessage
	Logger      hclog.Logger
	OnEvent     func(Event)
	HostVersion string
	// Env is added to the plugin's environment, e.g. WTB_BENCH_DIR: the
	// directory of the bench file, against which a plugin resolves relative
	// paths in its configuration.
	Env []string
	// SocketDir is where the plugin's socket directory (and the scratch
	// files it makes beside its socket) go: the host's scratch directory.
	SocketDir string
	// MaxRestarts bounds restarts within RestartWindow before the host gives up.
	MaxRestarts   int
	RestartWindow time.Duration
}

func (s *Spec) defaults() {
	if s.Logger == nil {
		s.Logger = hclog.NewNullLogger()
	}
	if s.OnEvent == nil {
		s.OnEvent = func(Event) {}
	}
	if s.MaxRestarts == 0 {
		s.MaxRestarts = 5
	}
	if s.RestartWindow == 0 {
		s.RestartWindow = time.Minute
	}
}

// bound limits a start-up call (GetInfo, Configure) to the start timeout: a
// plugin that completes its handshake and then hangs must not hang the host.
func (s *Spec) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.StartTimeout
	if d <= 0 {
		d = client.DefaultStartTimeout
	}
	return context.WithTimeout(ctx, d)
}

// callError words a failed start-up call, naming a timeout as one.
func (s *Spec) callError(rpc string, err error) error {
	if status.Code(err) == codes.DeadlineExceeded {
		d := s.StartTimeout
		if d <= 0 {
			d = client.DefaultStartTimeout
		}
		return fmt.Errorf("plugin %s did not answer %s within %s (start_timeout); it was stopped", s.Name, rpc, d)
	}
	return pluginError(s.Name, rpc, err)
}

func (s *Spec) launch() (*client.Plugin, error) {
	return client.Launch(client.LaunchConfig{Name: s.Name, Path: s.Path, Kind: s.Kind, SHA256: s.SHA256,
		StartTimeout: s.StartTimeout, Logger: s.Logger, Env: s.Env, SocketDir: s.SocketDir})
}

// ErrGaveUp is returned once a plugin has crashed more often than allowed.
var ErrGaveUp = errors.New("plugin keeps crashing; gave up restarting it")

// Runner is a supervised runner plugin: it relaunches the plugin with backoff
// when it crashes, and what was in flight comes back to the caller as a
// retryable failure, never silently lost.
type Runner struct {
	spec Spec

	mu       sync.Mutex
	plugin   *client.Plugin
	session  *client.Session
	info     sdk.Info
	kinds    []string
	capacity int
	changed  chan struct{} // closed and replaced whenever session changes
	failed   error
	closing  bool
	crashes  []time.Time
	wg       sync.WaitGroup
}

// LaunchRunner starts a runner plugin and reads its info. Call Configure next.
func LaunchRunner(ctx context.Context, spec Spec) (*Runner, error) {
	spec.Kind = client.KindRunner
	spec.defaults()
	p, err := spec.launch()
	if err != nil {
		return nil, err
	}
	ictx, cancel := spec.bound(ctx)
	info, kinds, err := p.Runner().Info(ictx)
	cancel()
	if err != nil {
		p.Kill()
		return nil, spec.callError("GetInfo", err)
	}
	r := &Runner{spec: spec, plugin: p, info: info, kinds: kinds, changed: make(chan struct{})}
	spec.OnEvent(Event{Type: PluginStarted, Plugin: spec.Name, Pid: p.Pid(),
		Detail: fmt.Sprintf("%s %s, protocol %d", info.Name, info.Version, p.Version)})
	return r, nil
}

// Info is what the plugin said about itself.
func (r *Runner) Info() sdk.Info { return r.info }

// NodeKinds are the node kinds the runner executes.
func (r *Runner) NodeKinds() []string { return r.kinds }

// HasCapability says the runner announced capability c.
func (r *Runner) HasCapability(c string) bool { return slices.Contains(r.info.Capabilities, c) }

// Name is the plugin's display name.
func (r *Runner) Name() string { return r.spec.Name }

// Metrics asks the running plugin for its own figures (none while it is
// restarting, or from a plugin whose SDK predates the call).
func (r *Runner) Metrics(ctx context.Context) ([]sdk.Metric, error) {
	r.mu.Lock()
	p := r.plugin
	r.mu.Unlock()
	if p == nil {
		return nil, nil
	}
	return p.Runner().Metrics(ctx)
}

// Capacity is how many executions may be in flight (0 = unbounded).
func (r *Runner) Capacity() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.capacity
}

// Pid of the current plugin process.
func (r *Runner) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.plugin == nil {
		return 0
	}
	return r.plugin.Pid()
}

// Configure sends the plugin its configuration (kept for restarts) and opens
// the execution session. Diagnostics are configuration problems to show the
// user; the error is for everything else.
func (r *Runner) Configure(ctx context.Context, config []byte) (sdk.Diagnostics, error) {
	r.mu.Lock()
	p := r.plugin
	r.spec.Config = config
	r.mu.Unlock()
	diags, capacity, err := r.configure(ctx, p)
	if err != nil || diags.HasErrors() {
		return diags, err
	}
	s, err := r.openSession(p)
	if err != nil {
		return diags, err
	}
	r.mu.Lock()
	r.capacity = capacity
	r.setSession(s)
	r.mu.Unlock()
	return diags, nil
}

// Validate only checks a configuration (the plugin is not used further).
func (r *Runner) Validate(ctx context.Context, config []byte) (sdk.Diagnostics, error) {
	r.spec.Config = config
	diags, _, err := r.configure(ctx, r.plugin)
	return diags, err
}

func (r *Runner) configure(ctx context.Context, p *client.Plugin) (sdk.Diagnostics, int, error) {
	ctx, cancel := r.spec.bound(ctx)
	defer cancel()
	capacity, diags, err := p.Runner().Configure(ctx, r.spec.Config, r.spec.HostVersion)
	if err != nil {
		return nil, 0, r.spec.callError("Configure", err)
	}
	return diags, capacity, nil
}

func (r *Runner) openSession(p *client.Plugin) (*client.Session, error) {
	describe := func(err error) string {
		// The session breaks a moment before the process is reaped.
		deadline := time.Now().Add(500 * time.Millisecond)
		for !p.Exited() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if p.Exited() {
			return fmt.Sprintf("runner plugin %s (pid %d) exited unexpectedly during the execution", r.spec.Name, p.Pid())
		}
		return fmt.Sprintf("lost the connection to runner plugin %s (pid %d): %v", r.spec.Name, p.Pid(), err)
	}
	s, err := p.Runner().OpenSession(context.Background(), describe)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", r.spec.Name, err)
	}
	r.wg.Add(1)
	go r.watch(s)
	return s, nil
}

// setSession must be called with r.mu held.
func (r *Runner) setSession(s *client.Session) {
	r.session = s
	close(r.changed)
	r.changed = make(chan struct{})
}

// watch restarts the plugin when its session ends without the host asking.
func (r *Runner) watch(s *client.Session) {
	defer r.wg.Done()
	<-s.Done()
	r.mu.Lock()
	if r.closing || r.session != s {
		r.mu.Unlock()
		return
	}
	old := r.plugin
	r.setSession(nil)
	r.mu.Unlock()

	r.spec.OnEvent(Event{Type: PluginCrashed, Plugin: r.spec.Name, Pid: old.Pid(), Detail: fmt.Sprint(s.Err())})
	r.spec.Logger.Warn("runner plugin crashed; restarting it", "plugin", r.spec.Name, "error", s.Err())
	old.Kill()

	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r.mu.Lock()
		if r.closing {
			r.mu.Unlock()
			return
		}
		now := time.Now()
		recent := r.crashes[:0]
		for _, t := range r.crashes {
			if now.Sub(t) < r.spec.RestartWindow {
				recent = append(recent, t)
			}
		}
		r.crashes = append(recent, now)
		if len(r.crashes) > r.spec.MaxRestarts {
			r.failed = fmt.Errorf("runner plugin %s: %w (%d failures within %s; last: %v)",
				r.spec.Name, ErrGaveUp, len(r.crashes), r.spec.RestartWindow, s.Err())
			close(r.changed)
			r.changed = make(chan struct{})
			r.mu.Unlock()
			r.spec.OnEvent(Event{Type: PluginGaveUp, Plugin: r.spec.Name, Detail: r.failed.Error()})
			return
		}
		r.mu.Unlock()

		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
		p, err := r.spec.launch()
		if err == nil {
			var diags sdk.Diagnostics
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			diags, _, err = r.configure(ctx, p)
			cancel()
			if err == nil && diags.HasErrors() {
				err = fmt.Errorf("configuration rejected after restart: %v", diags[0].Error())
			}
			if err == nil {
				var ns *client.Session
				if ns, err = r.openSession(p); err == nil {
					// Reported before executions can use the new plugin, so the
					// event always precedes their outcomes.
					r.spec.OnEvent(Event{Type: PluginRestarted, Plugin: r.spec.Name, Pid: p.Pid(),
						Detail: fmt.Sprintf("restart %d", attempt)})
					r.mu.Lock()
					if r.closing {
						r.mu.Unlock()
						_ = ns.Close(context.Background())
						p.Kill()
						return
					}
					r.plugin = p
					r.setSession(ns)
					r.mu.Unlock()
					return
				}
			}
			p.Kill()
		}
		r.spec.Logger.Warn("restarting runner plugin failed", "plugin", r.spec.Name, "attempt", attempt, "error", err)
	}
}

// Execute runs an execution on the plugin and returns its outcome, waiting for
// a restart in progress first. Cancelling ctx cancels the execution (its cause
// is the reason the plugin is given); the outcome still comes. A plugin that
// crashes mid-execution gives a retryable infrastructure failure; once the
// host has given up restarting it, every execution fails at once with the
// reason (see Failed).
func (r *Runner) Execute(ctx context.Context, req *sdk.ExecuteRequest, ev sdk.Events) sdk.Outcome {
	for {
		r.mu.Lock()
		s, changed, failed, closing := r.session, r.changed, r.failed, r.closing
		r.mu.Unlock()
		switch {
		case failed != nil:
			return infrastructureFailure(failed.Error(), false)
		case closing:
			return infrastructureFailure(fmt.Sprintf("runner plugin %s is shutting down", r.spec.Name), true)
		case s != nil:
			out, err := s.Execute(ctx, req, ev)
			if err == nil {
				return out
			}
			if !errors.Is(err, client.ErrSessionClosed) {
				return infrastructureFailure(fmt.Sprintf("cannot start on runner plugin %s: %v", r.spec.Name, err), true)
			}
		}
		// No session, or it just broke: watch() replaces it.
		select {
		case <-changed:
		case <-ctx.Done():
			return sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled before it started: " + context.Cause(ctx).Error(),
				FailureKind: sdk.FailureCancelled}
		}
	}
}

// Failed is why the host gave up on the plugin, or nil.
func (r *Runner) Failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func infrastructureFailure(msg string, retryable bool) sdk.Outcome {
	return sdk.Outcome{Status: sdk.StatusFailed, Error: msg, Retryable: retryable, FailureKind: sdk.FailureInfrastructure}
}

// Close lets executions in flight finish (until ctx ends), shuts the plugin down
// and waits for its process to exit.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return nil
	}
	r.closing = true
	s, p := r.session, r.plugin
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	var err error
	if s != nil {
		err = s.Close(ctx)
	}
	if p != nil && !p.Exited() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = p.Runner().Shutdown(sctx)
		cancel()
		p.Kill()
		r.spec.OnEvent(Event{Type: PluginStopped, Plugin: r.spec.Name, Pid: p.Pid()})
	}
	r.wg.Wait()
	return err
}

// pluginError words an RPC error from a plugin: an Unavailable status is the
// plugin saying an external system is unreachable, and its message says it all.
func pluginError(name, rpc string, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable && st.Message() != "" {
		return fmt.Errorf("%s plugin %s: %s", strings.SplitN(name, "-", 2)[0], name, st.Message())
	}
	return fmt.Errorf("plugin %s: %s: %w", name, rpc, err)
}
