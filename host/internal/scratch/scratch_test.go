package scratch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// deadPID is the id of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
}

// Sweep removes the scratch directories of hosts that are gone, with what
// is in them, and leaves everything else: a running host's, another
// program's, a name that only looks like one.
func TestSweepRemovesOnlyWhatGoneHostsLeft(t *testing.T) {
	parent := t.TempDir()
	dead := filepath.Join(parent, prefix+strconv.Itoa(deadPID(t))+"-123")
	mkdir(t, filepath.Join(dead, "plugin-dir1", "wtb-ray-driver-2"))
	keep := []string{
		prefix + strconv.Itoa(os.Getpid()) + "-456", // this process: running
		prefix + "1-789", // init: running
		"plugin-dir42",   // another program's go-plugin
		prefix + "abc-1", // not a process id
		prefix + "12345", // no random part
	}
	for _, k := range keep {
		mkdir(t, filepath.Join(parent, k))
	}
	file := prefix + strconv.Itoa(deadPID(t)) + "-9"
	if err := os.WriteFile(filepath.Join(parent, file), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := Sweep(parent)
	if err != nil || n != 1 {
		t.Fatalf("Sweep removed %d (%v), want the gone host's 1", n, err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the gone host's directory is still there (%v)", err)
	}
	for _, k := range append(keep, file) {
		if _, err := os.Stat(filepath.Join(parent, k)); err != nil {
			t.Errorf("%s was removed: %v", k, err)
		}
	}
}

// Open sweeps, then makes a directory named for this process, which Remove
// removes with what its plugins left in it.
func TestOpenSweepsAndRemoveRemoves(t *testing.T) {
	parent, err := os.MkdirTemp("", "s") // short: Open refuses a long parent
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	gone := filepath.Join(parent, prefix+strconv.Itoa(deadPID(t))+"-1")
	mkdir(t, gone)
	d, err := Open(parent)
	if err != nil || d == nil {
		t.Fatalf("Open: %v, %v", d, err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Error("Open did not sweep a gone host's directory")
	}
	if !strings.HasPrefix(filepath.Base(d.Path()), prefix+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("the directory %s is not named for this process", d.Path())
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
