package scratch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// shortDir is a temporary directory short enough for Open.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
}

// goneHost makes the scratch directory a host left when it was killed: its
// lock file, which nobody holds any more, and what its plugins left.
func goneHost(t *testing.T, parent, name string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	mkdir(t, filepath.Join(dir, "plugin-dir1", "wtb-ray-driver-2"))
	if err := os.WriteFile(filepath.Join(dir, lockFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Sweep removes the scratch directories of hosts that have ended, with
// what is in them, and leaves everything else: a running host's (its lock
// held, whatever its process id says), one without a lock file, another
// program's, a name that only looks like one.
func TestSweepRemovesOnlyWhatEndedHostsLeft(t *testing.T) {
	parent := shortDir(t)
	running, err := Open(parent)
	if err != nil || running == nil {
		t.Fatalf("Open: %v, %v", running, err)
	}
	defer running.Remove()
	gone := goneHost(t, parent, prefix+"1-123") // pid 1 runs: the lock decides
	keep := []string{filepath.Base(running.Path()), prefix + "99999999-1", "plugin-dir42", prefix + "abc-1", prefix + "12345"}
	for _, k := range keep[1:] {
		mkdir(t, filepath.Join(parent, k))
	}
	if err := os.WriteFile(filepath.Join(parent, prefix+"7-9"), nil, 0o600); err != nil { // a file, not a directory
		t.Fatal(err)
	}
	keep = append(keep, prefix+"7-9")
	n, err := Sweep(parent)
	if err != nil || n != 1 {
		t.Fatalf("Sweep removed %d (%v), want the ended host's 1", n, err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("the ended host's directory is still there (%v)", err)
	}
	for _, k := range keep {
		if _, err := os.Stat(filepath.Join(parent, k)); err != nil {
			t.Errorf("%s was removed: %v", k, err)
		}
	}
}

// Open sweeps, then makes a locked directory named for this process, which
// Remove removes with what its plugins left in it.
func TestOpenSweepsAndRemoveRemoves(t *testing.T) {
	parent := shortDir(t)
	gone := goneHost(t, parent, prefix+"2-1")
	d, err := Open(parent)
	if err != nil || d == nil {
		t.Fatalf("Open: %v, %v", d, err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Error("Open did not sweep an ended host's directory")
	}
	if !strings.HasPrefix(filepath.Base(d.Path()), prefix+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("the directory %s is not named for this process", d.Path())
	}
	if free, err := abandoned(d.Path()); err != nil || free {
		t.Errorf("the open directory's lock is not held: %v, %v", free, err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("Open left %d entries, want its directory only", len(entries))
	}
	mkdir(t, filepath.Join(d.Path(), "plugin-dir1"))
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Path()); !os.IsNotExist(err) {
		t.Errorf("Remove left %s", d.Path())
	}
}

// Under a parent too long for the plugins' sockets, Open makes nothing and
// says nothing: they go where they would without it.
func TestOpenUnderALongPathMakesNone(t *testing.T) {
	parent := filepath.Join(t.TempDir(), strings.Repeat("x", maxSocketPath))
	mkdir(t, parent)
	d, err := Open(parent)
	if err != nil || d != nil {
		t.Fatalf("Open under %d bytes of path: %v, %v; want none", len(parent), d, err)
	}
	if d.Path() != "" || d.Remove() != nil {
		t.Error("a nil Dir is not empty")
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 0 {
		t.Errorf("made %v", entries)
	}
}
