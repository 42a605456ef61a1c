package executor

import "syscall"

// nodeSysProcAttr puts a node in its own process group (so it can be killed with
// its children, and a Ctrl-C on the terminal does not reach it) and asks the
// kernel to kill it if the runner dies first.
func nodeSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
