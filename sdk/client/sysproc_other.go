//go:build !linux

package client

import "syscall"

// pluginSysProcAttr gives a plugin its own process group, so a Ctrl-C on the
// terminal reaches only the host.
func pluginSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
