//go:build unix

package scratch

import (
	"errors"
	"os"
	"syscall"
)

// lock takes the exclusive lock of a scratch directory's lock file without
// waiting: false when another process holds it. The kernel lets go of a
// lock when its process ends, however it ends, and across PID namespaces:
// two containers that share /tmp see each other's hosts as running, which
// a check of the process id would not.
func lock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
