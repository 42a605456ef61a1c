package executor

import "golang.org/x/sys/unix"

// pendingBytes is how many bytes wait to be read from a pipe.
func pendingBytes(fd uintptr) int {
	n, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ)
	if err != nil {
		return 0
	}
	return n
}
