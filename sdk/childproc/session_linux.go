package childproc

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func setDeathSignal(a *syscall.SysProcAttr) {
	// The child's leader dies with the thread that started it; its group is
	// killed by KillAll or by the host (see KillSession).
	a.Pdeathsig = syscall.SIGKILL
}

// KillSession SIGKILLs every process in session sid except keep (0: none),
// repeating until none is left, since a process may fork while its session is
// being killed.
func KillSession(sid, keep int) {
	if sid <= 1 {
		return
	}
	for round := 0; round < 50; round++ {
		members := sessionMembers(sid, keep)
		if len(members) == 0 {
			return
		}
		for _, pid := range members {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(time.Duration(round+1) * time.Millisecond)
	}
}

// ownSession is this process's session id (0 when unknown).
func ownSession() int {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 4 {
		return 0
	}
	sid, _ := strconv.Atoi(f[3])
	return sid
}

// sessionMembers lists the live (not zombie) processes of session sid.
func sessionMembers(sid, keep int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == keep || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// After the command: state ppid pgrp session ...
		f := strings.Fields(s[i+1:])
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if session, _ := strconv.Atoi(f[3]); session == sid {
			out = append(out, pid)
		}
	}
	return out
}
