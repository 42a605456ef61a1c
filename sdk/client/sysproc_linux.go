package client

import "syscall"

// pluginSysProcAttr gives a plugin its own process group, so a Ctrl-C on the
// terminal reaches only the host (which then stops plugins in order), and asks
// the kernel to send SIGTERM to the plugin if the host dies without cleaning up.
func pluginSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
