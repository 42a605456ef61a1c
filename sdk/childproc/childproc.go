// Package childproc starts the child processes of a WTB plugin — node
// commands, setup commands — so that none outlives the plugin. Each child runs
// in a process group of its own (so a timeout kills it with its children) and
// is registered until it has been waited for; when the plugin is told to stop
// (the host died, or sent SIGTERM), the SDK calls KillAll, which kills every
// registered group and refuses new ones. A plugin started by the wtb host also
// leads a session of its own, and KillAll kills the rest of that session too,
// which catches a child that moved to a group of its own.
//
// This is process-wide state on purpose: the processes are process-wide too.
package childproc

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// ErrStopping is returned by Start once KillAll has run.
var ErrStopping = errors.New("the plugin is stopping; no new processes are started")

var (
	// gate is held for reading while a child starts and for writing by
	// KillAll, so no child can start between KillAll's sweep and the exit.
	gate     sync.RWMutex
	stopping bool

	mu     sync.Mutex
	groups = map[int]bool{}
)

// Start starts cmd in a process group of its own and registers the group.
// Call Done(pgid) once the child has been waited for.
func Start(cmd *exec.Cmd) (pgid int, err error) {
	gate.RLock()
	defer gate.RUnlock()
	if stopping {
		return 0, ErrStopping
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pgid = cmd.Process.Pid
	mu.Lock()
	groups[pgid] = true
	mu.Unlock()
	return pgid, nil
}

// Kill kills a started child's whole process group.
func Kill(pgid int) {
	if pgid > 1 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// Done kills what is left of a child's group (children that outlived it) and
// forgets the group.
func Done(pgid int) {
	Kill(pgid)
	mu.Lock()
	delete(groups, pgid)
	mu.Unlock()
}

// KillAll kills every registered child group (and, in a plugin that leads its
// own session, every other process of that session) and makes Start refuse
// from then on. It returns when the kill signals have been sent.
func KillAll() {
	gate.Lock()
	defer gate.Unlock()
	stopping = true
	mu.Lock()
	for pgid := range groups {
		Kill(pgid)
	}
	mu.Unlock()
	if sid := ownSession(); sid == os.Getpid() {
		KillSession(sid, os.Getpid())
	}
}

// Running is the number of registered child groups (for tests).
func Running() int {
	mu.Lock()
	defer mu.Unlock()
	return len(groups)
}
