// Package application is WTB's application layer: the lifecycle of a batch —
// prepare (load, validate, start the plugins and resolve what they can do into
// an immutable batch spec), run, resume, fork, parity — and the read side
// (leaderboards, executions, comparisons, the audit trail). The command line,
// a web viewer and a metrics endpoint all call it; it prints nothing itself:
// it returns data, reports notices through App.Notice, and fails with an
// *Error whose Kind the caller maps to its own terms (the CLI's exit codes).
package application

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
)

// App runs batches. Its zero value is not usable; set Log and PluginDirs.
type App struct {
	Log hclog.Logger
	// Version is the host's version, recorded with each batch and sent to
	// plugins.
	Version string
	// PluginDirs is the plugin search path given the bench file's plugin_dir.
	PluginDirs func(configured string) []string
	// ScratchDir is where plugins' sockets and scratch files go (the host
	// process's scratch directory; "": the system's temporary directory).
	ScratchDir string
	// Notice receives what a user should know that is not an error ("prefix
	// sharing is off: the runner cannot start from a checkpoint").
	Notice func(msg string)
}

func (a *App) notice(format string, args ...any) {
	if a.Notice != nil {
		a.Notice(fmt.Sprintf(format, args...))
	}
}

// Kind classifies an error the way a user acts on it.
type Kind int

// Error kinds.
const (
	// KindConfig: the bench file, the arguments or the request is wrong.
	KindConfig Kind = iota + 1
	// KindRuntime: something the user did not get wrong failed (a plugin, the
	// database, another process owns the batch).
	KindRuntime
)

// Error is an error of the application layer with its kind.
type Error struct {
	Kind Kind
	Err  error
	// Diags are diagnostics in a bench file that explain the error.
	Diags hcl.Diagnostics
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func configErr(format string, args ...any) error {
	return &Error{Kind: KindConfig, Err: fmt.Errorf(format, args...)}
}

func runtimeErr(format string, args ...any) error {
	return &Error{Kind: KindRuntime, Err: fmt.Errorf(format, args...)}
}

// withDiagnostics attaches diagnostics to an error of this package.
func withDiagnostics(err error, diags hcl.Diagnostics) error {
	var e *Error
	if len(diags) > 0 && errors.As(err, &e) {
		e.Diags = append(e.Diags, diags...)
	}
	return err
}

// KindOf returns an error's kind: KindRuntime for errors that carry none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindRuntime
}
