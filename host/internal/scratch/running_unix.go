//go:build unix

package scratch

import (
	"errors"
	"syscall"
)

// running says a process with this id exists (signal 0 checks without
// sending; EPERM: it exists, as another user's).
func running(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
