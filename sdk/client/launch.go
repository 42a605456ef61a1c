// Package client is the host side of the WTB plugin contract: it launches a plugin
// binary through go-plugin, negotiates the protocol version, and multiplexes
// executions over a runner session. The wtb host builds its supervision on it and
// sdk/conformance uses it to test plugins; plugin authors do not need it.
package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	environmentv1 "github.com/wtbench/wtb/proto/wtb/environment/v1"
	runnerv1 "github.com/wtbench/wtb/proto/wtb/runner/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
	"github.com/wtbench/wtb/sdk/internal/wire"
)

// Kind is the kind of a plugin binary.
type Kind string

// Plugin kinds.
const (
	KindRunner      Kind = "runner"
	KindEnvironment Kind = "environment"
)

// DefaultStartTimeout bounds the handshake of a plugin that does not set its own.
const DefaultStartTimeout = 30 * time.Second

// LaunchConfig says which binary to start and how.
type LaunchConfig struct {
	Name string // for messages and logs, e.g. "runner-pool"
	Path string
	Kind Kind
	// SHA256, when set, pins the binary: a different binary is refused.
	SHA256       string
	StartTimeout time.Duration
	// Logger receives the plugin's log (its hclog JSON on stderr) under Name.
	Logger hclog.Logger
	// Env is added to the plugin's environment.
	Env []string
	// SocketDir is where the plugin's socket directory is made (go-plugin
	// hands it to the plugin as PLUGIN_UNIX_SOCKET_DIR, and removes it when
	// the plugin is stopped, whatever the plugin left in it); "" is the
	// system's temporary directory. A host gives a directory of its own so
	// that what a killed host leaves can be found and removed.
	SocketDir string
	// ProtocolVersions overrides the versions the host offers (tests only).
	ProtocolVersions []int
}

// Plugin is a launched plugin process.
type Plugin struct {
	Name    string
	Path    string
	Version int // negotiated protocol version
	client  *plugin.Client
	proc    *pluginProcess
	raw     any
}

// Runner is the plugin's runner service (nil for an environment plugin).
func (p *Plugin) Runner() *RunnerClient {
	c, ok := p.raw.(runnerv1.RunnerServiceClient)
	if !ok {
		return nil
	}
	return &RunnerClient{rc: c}
}

// Environment is the plugin's environment service (nil for a runner plugin).
func (p *Plugin) Environment() *EnvironmentClient {
	c, ok := p.raw.(environmentv1.EnvironmentProviderServiceClient)
	if !ok {
		return nil
	}
	return &EnvironmentClient{ec: c}
}

// Exited reports whether the plugin process has exited.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Pid is the plugin's process id, or 0.
func (p *Plugin) Pid() int {
	if p.proc == nil {
		return 0
	}
	p.proc.mu.Lock()
	defer p.proc.mu.Unlock()
	return p.proc.pid
}

// killWait bounds how long Kill waits for go-plugin to finish with a plugin
// whose session has been killed (a process that left the session could still
// hold its pipes).
const killWait = 5 * time.Second

// Kill stops the plugin: a graceful close first, then SIGKILL of its whole
// session after 2 s. It returns within a few seconds whatever the plugin does.
func (p *Plugin) Kill() {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(killWait):
		if p.proc != nil {
			_ = p.proc.Kill(context.Background())
		}
	}
}

// Launch starts a plugin binary and completes the handshake. Errors explain what
// went wrong in terms of the plugin: not a plugin, wrong protocol version,
// checksum mismatch, handshake timeout.
func Launch(cfg LaunchConfig) (*Plugin, error) {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Path
	}
	info, err := os.Stat(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("plugin %s: %s is not an executable file", cfg.Name, cfg.Path)
	}
	if cfg.SHA256 != "" {
		want, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(cfg.SHA256), "sha256:"))
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("plugin %s: pinned checksum %q is not a SHA-256 in hex", cfg.Name, cfg.SHA256)
		}
		actual, err := FileSHA256(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
		}
		if actual != hex.EncodeToString(want) {
			return nil, fmt.Errorf("plugin %s: refusing to start %s: its SHA-256 is %s but the configuration pins %s", cfg.Name, cfg.Path, actual, cfg.SHA256)
		}
	}

	versions := cfg.ProtocolVersions
	if len(versions) == 0 {
		versions = []int{sdk.ProtocolVersion}
	}
	set := plugin.PluginSet{}
	switch cfg.Kind {
	case KindRunner:
		set[wire.RunnerPluginName] = &runnerPlugin{}
	case KindEnvironment:
		set[wire.EnvironmentPluginName] = &environmentPlugin{}
	default:
		return nil, fmt.Errorf("plugin %s: unknown plugin kind %q", cfg.Name, cfg.Kind)
	}
	versioned := map[int]plugin.PluginSet{}
	for _, v := range versions {
		versioned[v] = set
	}

	var sockets *plugin.UnixSocketConfig
	if cfg.SocketDir != "" {
		sockets = &plugin.UnixSocketConfig{TempDir: cfg.SocketDir}
	}
	tlsConfig, clientCert, err := hostTLS()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	var proc *pluginProcess
	startErr := childproc.NewTail(5, 300)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake(),
		VersionedPlugins: versioned,
		// The plugin runs in a session of its own, killed whole (see pluginProcess).
		// go-plugin hands over a command carrying the handshake environment.
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			cmd := exec.Command(cfg.Path)
			cmd.Env = append(spec.Env, "PLUGIN_CLIENT_CERT="+clientCert)
			cmd.Env = append(cmd.Env, cfg.Env...)
			var err error
			proc, err = newPluginProcess(cmd)
			return proc, err
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		UnixSocketConfig: sockets,
		// AutoMTLS with a P-256 certificate (hostTLS says why not go-plugin's).
		TLSConfig:       tlsConfig,
		Managed:         true,
		StartTimeout:    cfg.StartTimeout,
		Logger:          quietLogger{cfg.Logger.Named(cfg.Name)},
		Stderr:          startErr,
		SyncStdout:      logWriter{cfg.Logger.Named(cfg.Name), "stdout"},
		SyncStderr:      logWriter{cfg.Logger.Named(cfg.Name), "stderr"},
		GRPCDialOptions: wire.DialOptions(),
	})
	p := &Plugin{Name: cfg.Name, Path: cfg.Path, client: pc}
	rpc, err := pc.Client()
	if err != nil {
		p.Kill()
		status := ""
		if proc != nil {
			status = proc.exitStatus()
		}
		return nil, explainLaunchError(cfg, versions, err, status, lastOutput(startErr))
	}
	p.proc = proc
	name := wire.RunnerPluginName
	if cfg.Kind == KindEnvironment {
		name = wire.EnvironmentPluginName
	}
	raw, err := rpc.Dispense(name)
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("plugin %s (%s) does not serve a WTB %s: %w", cfg.Name, cfg.Path, cfg.Kind, err)
	}
	p.Version, p.raw = pc.NegotiatedVersion(), raw
	return p, nil
}

var pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)

func explainLaunchError(cfg LaunchConfig, versions []int, err error, status, output string) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "incompatible API version"):
		pv := "unknown"
		if m := pluginVersionRE.FindStringSubmatch(msg); m != nil {
			pv = m[1]
		}
		return fmt.Errorf("plugin %s: incompatible protocol: the plugin speaks WTB plugin protocol version %s, this wtb speaks %v; install a plugin built for protocol %d (or a wtb that speaks %s)",
			cfg.Name, pv, versions, versions[len(versions)-1], pv)
	case strings.Contains(msg, "Failed to read any lines from plugin's stdout"):
		// stdout closed without a line: the plugin exited (or closed stdout) at once.
		if status == "" {
			status = "it closed its output"
		}
		return fmt.Errorf("plugin %s: %s exited before its handshake (%s); is it a WTB plugin?%s", cfg.Name, cfg.Path, status, output)
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		first := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n", 2)[0])
		return fmt.Errorf("plugin %s: %s is not a WTB plugin, or it printed to stdout before its handshake (first line: %q)", cfg.Name, cfg.Path, first)
	case strings.Contains(msg, "timeout while waiting for plugin to start") && strings.HasPrefix(status, "exit status"):
		return fmt.Errorf("plugin %s: %s exited before its handshake (%s); is it a WTB plugin?%s", cfg.Name, cfg.Path, status, output)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("plugin %s: %s did not complete its handshake within %s and was killed (raise start_timeout if it is just slow)%s", cfg.Name, cfg.Path, cfg.StartTimeout, output)
	case strings.Contains(msg, "plugin exited before we could connect"):
		if status == "" {
			status = "it exited"
		}
		return fmt.Errorf("plugin %s: %s exited before its handshake (%s); is it a WTB plugin?%s", cfg.Name, cfg.Path, status, output)
	}
	return fmt.Errorf("plugin %s: starting %s: %w", cfg.Name, cfg.Path, err)
}

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// logWriter forwards raw plugin output (anything not written through hclog)
// into the host log instead of losing it.
type logWriter struct {
	log    hclog.Logger
	stream string
}

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			w.log.Info(line, "stream", w.stream)
		}
	}
	return len(p), nil
}
