// Package cli is the wtb command line.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/scratch"
	"github.com/wtbench/wtb/host/internal/store"
)

// Version is set at build time with -ldflags "-X .../cli.Version=v1.2.3".
var Version = "0.1.0-dev"

// Exit codes.
const (
	ExitOK          = 0
	ExitThresholds  = 1 // thresholds missed (or a compare found a regression)
	ExitConfig      = 2 // configuration or usage error
	ExitRuntime     = 3 // runtime failure: database, plugins, ...
	ExitInterrupted = 130
)

// exitError carries an exit code; its message (if any) is printed once.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

func exitCode(code int) error { return &exitError{code: code} }

type app struct {
	stdout, stderr io.Writer
	dbFlag         string
	logLevel       string
	pluginDir      string
	noColor        bool
	dbURL          string // the database the command opened
	log            hclog.Logger
	ctx            context.Context
	interrupts     chan os.Signal
	profiles       profiles
	// scratch is the process's scratch directory for its plugins (nil when
	// it could not be made: they use the system's temporary directory).
	scratch *scratch.Dir
}

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	ctx, stop := a.signals()
	defer stop()
	a.ctx = ctx
	// Made (and what killed hosts left swept) before any command, removed
	// after it: its plugins are stopped by then.
	sc, serr := scratch.Open("")
	if serr != nil {
		fmt.Fprintf(a.stderr, "warning: %v; plugins use the system's temporary directory\n", serr)
	}
	a.scratch = sc
	err := root.ExecuteContext(ctx)
	if rerr := sc.Remove(); rerr != nil {
		fmt.Fprintf(a.stderr, "warning: removing the scratch directory: %v\n", rerr)
	}
	if perr := a.profiles.stop(); perr != nil {
		fmt.Fprintf(a.stderr, "warning: %v\n", perr)
	}
	if err == nil {
		return ExitOK
	}
	var be *application.Error
	if !errors.As(err, new(*exitError)) && errors.As(err, &be) {
		err = a.failed(err) // an application error that no command wrapped
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(a.stderr, "Error: %v\n", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors: unknown command or flag, wrong argument count.
	fmt.Fprintf(a.stderr, "Error: %v\nRun 'wtb --help' for usage.\n", err)
	return ExitConfig
}

// Command is wtb's command tree as Main builds it, not run: for what reads
// it rather than runs it — the test that holds every `wtb …` command and
// flag the README names to the real tree.
func Command() *cobra.Command {
	return (&app{stdout: io.Discard, stderr: io.Discard}).rootCommand()
}

// signals cancels the context on the first SIGINT/SIGTERM (the batch stops
// dispatching, cancels what runs and stores what finished) and exits at once
// on the second.
func (a *app) signals() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	a.interrupts = ch
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			fmt.Fprintf(a.stderr, "\n%s: stopping — cancelling running executions and storing what finished (press Ctrl-C again to quit at once)\n", sig)
			cancel(fmt.Errorf("interrupted by %s", sig))
		case <-done:
			return
		}
		select {
		case <-ch:
			fmt.Fprintln(a.stderr, "interrupted again: exiting now")
			application.KillPlugins()
			os.Exit(ExitInterrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		signal.Stop(ch)
		cancel(nil)
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "wtb",
		Short: "Workflow Test Bench: batch-test workflow variants and rank them",
		Long: `wtb runs every combination of workflow variants × test case × repeat through a
runner plugin, scores each execution, stores every result, ranks the
combinations and fails CI when a threshold is missed.

Exit codes: 0 thresholds met · 1 thresholds missed · 2 configuration or usage
error · 3 runtime failure · 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			level := hclog.LevelFromString(a.logLevel)
			if level == hclog.NoLevel {
				return unknownValue("--log-level", a.logLevel, []string{"trace", "debug", "info", "warn", "error"})
			}
			a.log = hclog.New(&hclog.LoggerOptions{Name: "wtb", Level: level, Output: a.stderr, Color: hclog.ColorOff})
			return a.profiles.start()
		},
	}
	root.PersistentFlags().StringVar(&a.dbFlag, "db", "", "database URL: sqlite://PATH or postgres://... (default: $WTB_DATABASE_URL, the bench file's wtb.database, or sqlite://wtb.db)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", envOr("WTB_LOG_LEVEL", "warn"), "log level: trace, debug, info, warn, error (env WTB_LOG_LEVEL)")
	root.PersistentFlags().StringVar(&a.pluginDir, "plugin-dir", "", "directory searched first for plugins (before plugin_dir, $WTB_PLUGIN_PATH and bin/plugins)")
	root.PersistentFlags().BoolVar(&a.noColor, "no-color", os.Getenv("NO_COLOR") != "", "disable colour in diagnostics")
	root.PersistentFlags().StringVar(&a.profiles.cpuPath, "cpu-profile", "", "write a CPU profile (go tool pprof) to this file")
	root.PersistentFlags().StringVar(&a.profiles.memPath, "mem-profile", "", "write a heap profile (go tool pprof) to this file at exit")
	for _, name := range []string{"cpu-profile", "mem-profile"} {
		_ = root.PersistentFlags().MarkHidden(name)
	}
	root.AddCommand(a.runCommand(), a.resumeCommand(), a.validateCommand(), a.planCommand(), a.resultsCommand(),
		a.compareCommand(), a.forkCommand(), a.parityCommand(), a.auditCommand(), a.showCommand(), a.cacheCommand(), a.pluginsCommand(), a.versionCommand(), a.schemaCommand(), a.viewCommand(), a.reportCommand(), a.rescoreCommand(),
		a.cassettesCommand(), a.deleteCommand(), a.gcCommand(), a.cancelCommand(), a.exportCommand(), a.traceCommand())
	return root
}

// bench is the application layer, with this command's logger, plugin search
// path and stderr for notices.
func (a *app) bench() *application.App {
	return &application.App{Log: a.log, Version: Version, PluginDirs: a.searchPath, ScratchDir: a.scratch.Path(),
		Notice: func(msg string) { fmt.Fprintln(a.stderr, msg) }}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// databaseURL picks the database: --db, then WTB_DATABASE_URL, then the bench
// file's setting, then ./wtb.db.
func (a *app) databaseURL(fromFile string) string {
	switch {
	case a.dbFlag != "":
		return a.dbFlag
	case os.Getenv("WTB_DATABASE_URL") != "":
		return os.Getenv("WTB_DATABASE_URL")
	case fromFile != "":
		return fromFile
	}
	return application.DefaultDatabaseURL
}

// openStore opens the database for a command that writes (creating a SQLite
// file if needed); fromFile is the bench file's wtb.database, if any.
func (a *app) openStore(ctx context.Context, fromFile string) (store.Store, error) {
	url := a.databaseURL(fromFile)
	st, err := application.OpenStore(ctx, url)
	if err != nil {
		return nil, exitf(ExitRuntime, "opening the database %s: %v", store.Redact(url), oneLine(err))
	}
	a.dbURL = url
	return st, nil
}

// openReader opens an existing database for a command that only reads: it
// leaves nothing behind and writes nothing, so a user who may read a database but
// not write its directory can use every read command.
func (a *app) openReader(ctx context.Context, fromFile string) (store.Store, error) {
	url := a.databaseURL(fromFile)
	st, err := application.OpenReader(ctx, url)
	if errors.Is(err, application.ErrNoDatabase) {
		return nil, exitf(ExitConfig, "%v", err)
	}
	if err != nil {
		return nil, exitf(ExitRuntime, "opening the database %s: %v", store.Redact(url), oneLine(err))
	}
	a.dbURL = url
	return st, nil
}

// reading runs fn on the database opened for reading, and closes it.
func (a *app) reading(ctx context.Context, fn func(context.Context, store.Store) error) error {
	st, err := a.openReader(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, st)
}

// command writes a follow-up command for a user to paste: wtb, the arguments
// quoted for a shell where they need it, and --db when the database this
// command used is not the one the printed command would find without it.
func (a *app) command(args ...string) string {
	parts := []string{"wtb"}
	for _, arg := range args {
		parts = append(parts, shellQuote(arg))
	}
	return strings.Join(parts, " ") + a.dbHint()
}

// dbHint is what a printed follow-up command needs to reach the database
// this one used: "" when a bare command (no --db: WTB_DATABASE_URL, else
// ./wtb.db) would pick the same database anyway, else " --db URL". A --db
// given to this command is no reason to leave it out: the printed command
// does not have it.
func (a *app) dbHint() string {
	url := a.dbURL
	bare := os.Getenv("WTB_DATABASE_URL")
	if bare == "" {
		bare = application.DefaultDatabaseURL
	}
	if url == "" || url == bare {
		return ""
	}
	if path, err := application.SQLitePath(url); err == nil && !strings.Contains(url, "postgres") {
		if abs, err := filepath.Abs(path); err == nil {
			url = "sqlite://" + abs
		}
		return " --db " + shellQuote(url)
	}
	if store.Redact(url) != url {
		return " --db '" + store.Redact(url) + "' (with the password)"
	}
	return " --db " + shellQuote(url)
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " '\"$`\\!&;|<>()*?[]#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// failed turns an error of the application layer into an exit code, with the
// follow-up command a user needs where there is one.
func (a *app) failed(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	code := ExitRuntime
	if application.KindOf(err) == application.KindConfig {
		code = ExitConfig
	}
	var ke *application.KeyError
	switch {
	case errors.Is(err, application.ErrNoBatch):
		return exitf(code, "%v (list them with `%s`)", err, a.command("results", "--list"))
	case errors.As(err, &ke) && len(ke.Executions) > 1:
		lines := []string{fmt.Sprintf("%q is a node run that %d executions of batch %s share; show one of them:", ke.Key, len(ke.Executions), ke.Batch)}
		for _, k := range ke.Executions {
			lines = append(lines, "  "+a.command("show", k, "--batch", ke.Batch))
		}
		return exitf(code, "%s", strings.Join(lines, "\n"))
	case errors.As(err, &ke):
		return exitf(code, "%v (list them with `%s`)", err, a.command("results", ke.Batch, "--executions"))
	}
	return exitf(code, "%v", err)
}
