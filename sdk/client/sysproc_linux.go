package client

import (
	"syscall"

	"github.com/wtbench/wtb/sdk/childproc"
	"golang.org/x/sys/unix"
)

// pluginSysProcAttr starts a plugin in a session of its own (so a Ctrl-C on
// the terminal reaches only the host, which stops plugins in order, and so
// the plugin and everything it starts can be killed together), and asks the
// kernel to send the plugin SIGTERM if the host dies without cleaning up; the
// SDK then kills its children before exiting.
func pluginSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
}

// killSession SIGKILLs the plugin that leads session sid and all it started.
func killSession(sid int) { childproc.KillSession(sid, 0) }

// waitExit blocks until process pid (a child of this process) has exited,
// without reaping it (exec.Cmd.Wait does that). It reports false when the
// process could not be waited for.
func waitExit(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		return err == nil
	}
}
