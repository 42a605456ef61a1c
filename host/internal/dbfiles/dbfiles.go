// Package dbfiles keeps the host from pulling SQLite's locks out from under
// itself.
//
// SQLite coordinates its clients with POSIX advisory locks, and POSIX says that
// closing any descriptor of a file releases every lock the process holds on
// that file — through whichever descriptor it was taken. SQLite's own code
// knows this and never closes a descriptor of a database it has open; the rest
// of a process does not. A host that opened and closed its own database for
// any reason (a lock of its own, hashing a directory the database sits in)
// silently dropped its locks, and the next sqlite3 shell or Python script to
// close the database believed it was the last user, checkpointed and deleted
// the write-ahead log while the host was still writing to it: committed rows
// lost, indexes corrupted.
//
// So every store registers the database it holds (Hold), and code that reads
// arbitrary files asks IsDatabase before opening one. The registry is process
// state by nature: the locks it protects belong to the process, not to any
// value in it.
package dbfiles

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
)

type fileID struct{ dev, ino uint64 }

var held = struct {
	sync.Mutex
	files map[fileID]int
	kept  []*os.File // see IsDatabase
}{files: map[fileID]int{}}

func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}

// Hold records that this process has the SQLite database at path open until
// release is called. It never opens the file.
func Hold(path string) (release func()) {
	fi, err := os.Stat(path)
	if err != nil {
		return func() {}
	}
	id, ok := idOf(fi)
	if !ok {
		return func() {}
	}
	held.Lock()
	held.files[id]++
	held.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			held.Lock()
			if held.files[id]--; held.files[id] <= 0 {
				delete(held.files, id)
			}
			held.Unlock()
		})
	}
}

// IsHeld reports whether fi is a database this process holds open.
func IsHeld(fi os.FileInfo) bool {
	id, ok := idOf(fi)
	if !ok {
		return false
	}
	held.Lock()
	defer held.Unlock()
	return held.files[id] > 0
}

// companionSuffixes name the files SQLite keeps beside a database.
var companionSuffixes = []string{"-wal", "-shm", "-journal"}

// header starts every SQLite 3 database file.
var header = []byte("SQLite format 3\x00")

// IsDatabase reports whether path is a SQLite database or one of the files
// SQLite keeps beside one (see Copy).
func IsDatabase(path string) bool {
	database, _ := Copy(io.Discard, path)
	return database
}

// Copy writes the contents of the file at path to w, unless it is a SQLite
// database or one of the files SQLite keeps beside one: those are not read
// and database is true. A database this process holds is recognised without
// being opened; any other file is opened and its header read, which is
// harmless: the process holds no lock on it to lose.
func Copy(w io.Writer, path string) (database bool, err error) {
	for _, s := range companionSuffixes {
		if strings.HasSuffix(path, s) {
			return true, nil
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	if fi.Mode().IsRegular() && IsHeld(fi) {
		return true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	// Between the Stat and the Open the file may have been replaced by one this
	// process holds; closing that would drop its locks, so its descriptor is
	// kept open for the life of the process, as SQLite keeps its own.
	if ofi, err := f.Stat(); err == nil && IsHeld(ofi) {
		held.Lock()
		held.kept = append(held.kept, f)
		held.Unlock()
		return true, nil
	}
	defer f.Close()
	buf := make([]byte, len(header))
	n, err := io.ReadFull(f, buf)
	if err == nil && bytes.Equal(buf, header) {
		return true, nil
	}
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false, err
	}
	if _, err := w.Write(buf[:n]); err != nil {
		return false, err
	}
	_, err = io.Copy(w, f)
	return false, err
}
