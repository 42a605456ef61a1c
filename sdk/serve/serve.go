// Package serve runs a WTB plugin: call Runner or Environment from main. It
// completes go-plugin's handshake, serves the versioned gRPC contract over
// mTLS, and makes sure nothing the plugin starts outlives it (see
// sdk/childproc): when the host dies, even by SIGKILL, the plugin kills its
// children and exits.
package serve

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
	"github.com/wtbench/wtb/sdk/internal/wire"
)

// Runner serves a runner plugin. Call it from main; it returns when the host
// is done with the plugin.
func Runner(impl sdk.Runner) {
	logger := pluginLogger("runner-" + impl.Info().Name)
	p := &runnerPlugin{impl: impl, log: logger}
	serve(wire.RunnerPluginName, p, logger, func() {
		p.cancelAll(sdk.ErrHostGone)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = impl.Shutdown(ctx)
	})
}

// Environment serves an environment provider plugin.
func Environment(impl sdk.EnvironmentProvider) {
	logger := pluginLogger("env-" + impl.Info().Name)
	serve(wire.EnvironmentPluginName, &environmentPlugin{impl: impl}, logger, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = impl.Shutdown(ctx)
	})
}

func serve(name string, p plugin.Plugin, logger hclog.Logger, onOrphaned func()) {
	if os.Getenv(sdk.MagicCookieKey) != sdk.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a WTB plugin; the wtb host starts it (run `wtb plugins` to list plugins), it is not meant to be run by hand.\n",
			filepath.Base(os.Args[0]))
		os.Exit(1)
	}
	if path := os.Getenv("WTB_PLUGIN_CPUPROFILE"); path != "" {
		stop := startCPUProfile(logger, path)
		prev := onOrphaned
		onOrphaned = func() { prev(); stop() }
		defer stop()
	}
	// A host that died leaves the plugin's stdout and stderr pipes without a
	// reader; by default Go exits at the first log line written to them, before
	// the cleanup below could kill the plugin's children. With SIGPIPE
	// notified, such writes just fail.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// Whatever stops the plugin, its children die first and at once — before
	// the graceful part, which may take seconds the host no longer has.
	graceful := onOrphaned
	onOrphaned = func() {
		childproc.KillAll()
		graceful()
	}
	go watchParent(logger, onOrphaned)
	go onTerminate(logger, onOrphaned)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{sdk.ProtocolVersion: {name: p}},
		GRPCServer:       wire.NewGRPCServer,
		Logger:           logger,
	})
	// Serve returns when the host has gone (its connection closed) as well as
	// when it asked the plugin to stop: either way nothing started here may
	// outlive the plugin, and returning from main would not kill it.
	childproc.KillAll()
}

// pluginLogger logs hclog JSON to stderr, which go-plugin forwards into the host's
// log with the plugin's name and the right level. WTB_PLUGIN_LOG_LEVEL sets the level.
func pluginLogger(name string) hclog.Logger {
	level := hclog.LevelFromString(os.Getenv("WTB_PLUGIN_LOG_LEVEL"))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: os.Stderr, JSONFormat: true})
}

// watchParent exits the plugin when the host that started it is gone, even when
// the host was killed with SIGKILL and could not clean up: the kernel then
// re-parents the plugin, which the changed parent pid shows.
func watchParent(logger hclog.Logger, onOrphaned func()) {
	parent := os.Getppid()
	for range time.Tick(250 * time.Millisecond) {
		if os.Getppid() != parent {
			// Children first: logging goes to the dead host's pipe.
			childproc.KillAll()
			logger.Warn("the wtb host is gone; stopping", "old_parent_pid", parent)
			onOrphaned()
			os.Exit(2)
		}
	}
}

// onTerminate stops running nodes before exiting on SIGTERM (the host sends it
// through the kernel's parent-death signal when it dies without cleaning up).
func onTerminate(logger hclog.Logger, cleanup func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	// Children first: the log line below goes to a host that may be dead.
	childproc.KillAll()
	logger.Warn("terminated; stopping running executions")
	cleanup()
	os.Exit(3)
}

// startCPUProfile writes a CPU profile of the plugin to path (plus the pid, so
// restarted plugins do not overwrite each other) until the plugin stops. It is
// for plugin authors measuring their runner under a real host.
func startCPUProfile(logger hclog.Logger, path string) func() {
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err != nil {
		logger.Warn("cannot write the CPU profile", "error", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		logger.Warn("cannot start the CPU profile", "error", err)
		f.Close()
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
}
