// Package scratch is a host process's scratch directory: its plugins'
// sockets (go-plugin makes one directory per plugin in it and hands it to
// the plugin as PLUGIN_UNIX_SOCKET_DIR) and the temporary files the plugins
// make beside them (a Python plugin's socket, the Ray runner's driver and
// the module it ships the executor in).
//
// A plugin's files are removed when the host stops the plugin, however the
// plugin died; a host that is killed (SIGKILL, out of memory) cannot remove
// its own, so every host, on its way in, removes the scratch directories of
// hosts that no longer run. Before, each killed host left its plugins'
// socket directories in /tmp, and each killed Ray driver a hard link to a
// 22 MB plugin binary.
package scratch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// prefix starts the name of a host's scratch directory, followed by the
// host's process id (for people; what says the host runs is the lock) and
// a random part: wtb-host-PID-RANDOM.
const prefix = "wtb-host-"

// lockFile is the file in a scratch directory its host holds locked for as
// long as it runs.
const lockFile = "lock"

// Dir is a host process's scratch directory.
type Dir struct {
	path string
	lock *os.File
}

// Open removes the scratch directories in parent (the system's temporary
// directory when "") of hosts that no longer run and makes this process's.
// It makes none (nil, and no error) when parent's path is so long that the
// plugins' sockets beneath it would pass the length a Unix socket's path
// may have: they then go where they would without it.
func Open(parent string) (*Dir, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	_, _ = Sweep(parent)
	if len(parent)+len(deepestSocket) > maxSocketPath {
		return nil, nil
	}
	// Made under a name Sweep does not look at, locked, then renamed: a
	// sweep never sees the directory unlocked.
	tmp, err := os.MkdirTemp(parent, ".wtb-host-")
	if err != nil {
		return nil, fmt.Errorf("making the host's scratch directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(tmp, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		var ok bool
		if ok, err = lock(f); err == nil && !ok {
			err = errors.New("its lock is held by another process")
		}
	}
	path := filepath.Join(parent, prefix+strconv.Itoa(os.Getpid())+"-"+strings.TrimPrefix(filepath.Base(tmp), ".wtb-host-"))
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("making the host's scratch directory: %w", err)
	}
	return &Dir{path: path, lock: f}, nil
}

// deepestSocket is the longest path of a plugin's socket beneath parent: a
// scratch directory, go-plugin's directory for the plugin, a Python
// plugin's own directory in it and its socket (the numbers as long as
// their random parts get).
const deepestSocket = "/" + prefix + "4194304-4294967295/plugin-dir4294967295/wtb-plugin-abcdefgh/plugin.sock"

// maxSocketPath is the longest path a Unix socket may have everywhere wtb
// runs (sun_path holds 108 bytes on Linux, 104 on macOS, with its NUL).
const maxSocketPath = 103

// Path is the directory ("" for a nil Dir: plugins then use the system's
// temporary directory).
func (d *Dir) Path() string {
	if d == nil {
		return ""
	}
	return d.path
}

// Remove removes the directory and what is left in it.
func (d *Dir) Remove() error {
	if d == nil {
		return nil
	}
	err := os.RemoveAll(d.path)
	_ = d.lock.Close()
	return err
}

// Sweep removes the scratch directories in parent whose host no longer
// runs (nobody holds their lock), and returns how many it removed. One
// without a lock file is left: it is not one this package made.
func Sweep(parent string) (int, error) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", parent, err)
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if _, ok := owner(e.Name()); !ok || !e.IsDir() {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		gone, err := abandoned(dir)
		if err != nil || !gone {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// abandoned says nobody holds a scratch directory's lock: its host has
// ended.
func abandoned(dir string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return lock(f)
}

// owner reads the process id in a scratch directory's name.
func owner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}
