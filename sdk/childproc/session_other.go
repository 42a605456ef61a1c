//go:build !linux

package childproc

import "syscall"

func setDeathSignal(*syscall.SysProcAttr) {}

// KillSession kills the process group sid leads (sessions cannot be listed
// portably).
func KillSession(sid, keep int) {
	if sid > 1 && sid != keep {
		_ = syscall.Kill(-sid, syscall.SIGKILL)
	}
}

func ownSession() int { return 0 }
