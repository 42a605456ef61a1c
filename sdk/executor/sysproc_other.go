//go:build unix && !linux

package executor

import "syscall"

// nodeSysProcAttr puts a node in its own process group so it can be killed with
// its children.
func nodeSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
