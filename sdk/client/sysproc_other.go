//go:build !linux

package client

import (
	"syscall"

	"github.com/wtbench/wtb/sdk/childproc"
)

// pluginSysProcAttr gives a plugin its own process group, so a Ctrl-C on the
// terminal reaches only the host and the group can be killed together.
func pluginSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killSession kills the plugin's process group.
func killSession(pid int) { childproc.KillSession(pid, 0) }

// waitExit is not available here; the session is killed when the plugin is
// reaped or killed instead.
func waitExit(int) bool { return false }
