package dbfiles

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

func TestCopyReadsFilesAndRecognisesDatabases(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("SQL"), 0o644); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "data.bin") // a database by its contents, not its name
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, c := range []struct {
		path     string
		database bool
		content  string
	}{
		{text, false, "hello"},
		{short, false, "SQL"},
		{dbPath, true, ""},
		{dbPath + "-wal", true, ""},
		{filepath.Join(dir, "x.db-shm"), true, ""},
	} {
		var buf bytes.Buffer
		database, _ := Copy(&buf, c.path)
		if database != c.database || buf.String() != c.content {
			t.Errorf("Copy(%s) = %v, %q; want %v, %q", filepath.Base(c.path), database, buf.String(), c.database, c.content)
		}
		if IsDatabase(c.path) != c.database {
			t.Errorf("IsDatabase(%s) = %v", filepath.Base(c.path), !c.database)
		}
	}
}

// A held file is recognised by its identity, never opened: it need not even
// look like a database (or be readable) to be left alone.
func TestHeldFilesAreNeverOpened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held")
	if err := os.WriteFile(path, []byte("not sqlite yet"), 0o000); err != nil {
		t.Fatal(err)
	}
	release := Hold(path)
	var buf bytes.Buffer
	database, err := Copy(&buf, path)
	if !database || err != nil || buf.Len() != 0 {
		t.Fatalf("Copy of a held file = %v, %v, %q", database, err, buf.String())
	}
	second := Hold(path)
	release()
	release() // a second call does nothing
	if fi, _ := os.Stat(path); !IsHeld(fi) {
		t.Fatal("released while a second holder holds it")
	}
	second()
	if fi, _ := os.Stat(path); IsHeld(fi) {
		t.Fatal("still held after both released")
	}
}
