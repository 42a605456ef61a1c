package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
	"github.com/wtbench/wtb/host/internal/store/storetest"
)

// bigBatch stores a batch of about 12 MB of checkpoints.
func bigBatch(t *testing.T, st store.Store, id string) {
	t.Helper()
	ctx := context.Background()
	if err := st.Batches().Create(ctx, storetest.NewBatch(id)); err != nil {
		t.Fatal(err)
	}
	state := json.RawMessage(`{"blob":"` + strings.Repeat("x", 60000) + `"}`)
	var w store.WriteSet
	for i := range 200 {
		w.Checkpoints = append(w.Checkpoints, store.Checkpoint{ID: fmt.Sprintf("%s-%d", id, i), BatchID: id, Source: store.SourceRan,
			State: state, CreatedAt: time.Now()})
	}
	if err := st.Write(ctx, w); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func autoVacuum(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode int
	if err := db.QueryRow("PRAGMA auto_vacuum").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	return mode
}

// A database this wtb creates uses incremental auto-vacuum: deleting a batch
// and reclaiming gives its pages back to the file system.
func TestDeletedBatchGivesSpaceBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wtb.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if mode := autoVacuum(t, path); mode != 2 {
		t.Fatalf("a new database has auto_vacuum %d, want 2 (incremental)", mode)
	}
	bigBatch(t, st, "big")
	bigBatch(t, st, "kept")
	if _, err := st.Retention().Delete(ctx, "big", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	got, err := st.Retention().Reclaim(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	after := fileSize(t, path)
	t.Logf("file and WAL: %d bytes before, %d after (reported %d → %d, %d free): %s", before, after, got.Before, got.After, got.Free, got.Note)
	if after > before/2+1<<20 || got.After != after || got.Free != 0 {
		t.Errorf("the space of a deleted 12 MB batch was not given back: %d → %d bytes (%+v)", before, after, got)
	}
	if n, _ := st.Retention().Count(ctx, "kept"); n[store.Checkpoints.Name] != 200 {
		t.Errorf("the other batch lost checkpoints: %v", n)
	}
}

// A database created before incremental auto-vacuum keeps the pages (for
// later rows) and says how to give them back; --vacuum rewrites it once and
// switches it over.
func TestVacuumConvertsAnOlderDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wtb.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA auto_vacuum = NONE; VACUUM"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if mode := autoVacuum(t, path); mode != 0 {
		t.Fatalf("could not make an older database: auto_vacuum %d", mode)
	}
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bigBatch(t, st, "big")
	if _, err := st.Retention().Delete(ctx, "big", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	kept, err := st.Retention().Reclaim(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if kept.Free < 10<<20 || !strings.Contains(kept.Note, "wtb gc --vacuum") || kept.After < 10<<20 {
		t.Errorf("an older database without --vacuum: %+v", kept)
	}
	got, err := st.Retention().Reclaim(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VACUUM: %d → %d bytes: %s", got.Before, got.After, got.Note)
	if got.After > 2<<20 || got.Free != 0 {
		t.Errorf("VACUUM left %d bytes (%d free)", got.After, got.Free)
	}
	if mode := autoVacuum(t, path); mode != 2 {
		t.Errorf("after --vacuum auto_vacuum is %d, want 2", mode)
	}
}
