// Package sqlite is WTB's embedded store: a single SQLite file in WAL mode,
// through the pure-Go modernc.org/sqlite driver (no cgo, so the host and its
// plugins cross-compile).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pressly/goose/v3"
	"github.com/wtbench/wtb/host/internal/dbfiles"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlstore"
	"github.com/wtbench/wtb/migrations"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Store is the SQLite store.
type Store struct {
	*sqlstore.Store // the repositories, in this package's dialect
	db              *sql.DB
	path            string
	readOnly        bool
	walLimit        int64  // see boundWAL
	release         func() // lets dbfiles forget the file once closed
}

var _ store.Store = (*Store)(nil)

// ErrNoDatabase is returned when a read finds no database file.
var ErrNoDatabase = errors.New("no database")

// Open opens (creating if needed) the database file at path for reading and
// writing, and brings its schema up to date. A file migrated by a newer wtb is
// refused.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the directory of %s: %w", path, err)
		}
	}
	// Two processes may open a new database at the same moment; only one may
	// turn on WAL and migrate it. They take turns on a lock of the directory,
	// never of the database file: opening and closing a descriptor of the
	// database would release SQLite's own locks on it (see package dbfiles).
	unlock, err := lockDir(filepath.Dir(absPath(path)))
	if err != nil {
		return nil, fmt.Errorf("locking the directory of %s: %w", path, err)
	}
	defer unlock()
	// auto_vacuum comes first: it takes effect only on a database that has
	// no table yet, which it then keeps in incremental mode, so that
	// `wtb gc` can give the space of deleted batches back in short steps.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=auto_vacuum(INCREMENTAL)&_pragma=journal_mode(WAL)&"+commonPragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := newStore(db, path, false)
	if err := s.migrate(ctx, true); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.release = dbfiles.Hold(s.path)
	return s, nil
}

// OpenReadOnly opens an existing database for reading. It never creates a
// directory, never writes a row and leaves no file behind — except to upgrade
// an older schema, once, when the user may write the file (a user who may not
// gets a clear error).
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s (run a batch first, or point --db at an existing database)", ErrNoDatabase, path)
		}
		return nil, err
	}
	// A reader opens the file as any SQLite client does (read-write when the
	// user may write it, read-only otherwise) with query_only on: SQLite then
	// refuses every write, and the last connection to close checkpoints and
	// removes the -wal and -shm files it found or created, as the sqlite3
	// shell does. mode=ro cannot: it leaves those files behind. mode=ro needs
	// the WAL index (-shm) to exist or be creatable; a reader who may not
	// write the directory opens the file as immutable instead (safe: with no
	// -shm file there is no writer).
	var lastErr error
	for _, extra := range []string{"mode=rw&_pragma=query_only(1)", "mode=ro", "mode=ro&immutable=1"} {
		db, err := sql.Open("sqlite", "file:"+path+"?"+extra+"&"+commonPragmas)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		db.SetMaxOpenConns(4)
		s := newStore(db, path, true)
		if lastErr = s.migrate(ctx, false); lastErr == nil {
			s.release = dbfiles.Hold(s.path)
			return s, nil
		}
		_ = db.Close()
		if errors.Is(lastErr, store.ErrSchemaTooNew) || errors.Is(lastErr, errNeedsUpgrade) {
			return nil, lastErr
		}
	}
	return nil, lastErr
}

func newStore(sdb *sql.DB, path string, readOnly bool) *Store {
	s := &Store{db: sdb, path: absPath(path), readOnly: readOnly}
	if !readOnly {
		s.walLimit = defaultWALLimit
	}
	s.Store = sqlstore.New(db{conn{sdb}, sdb}, dialect{s}, retention{s})
	return s
}

const commonPragmas = "_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=cache_size(-16384)"

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

var errNeedsUpgrade = errors.New("the database schema is older than this wtb")

// migrate brings the schema up to date; nothing is written when it already
// is. A writable store is opened under the database file's lock (see Open).
func (s *Store) migrate(ctx context.Context, writable bool) error {
	sub, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	var know int64
	for _, src := range p.ListSources() {
		know = max(know, src.Version)
	}
	have, err := s.schemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version of %s: %w", s.path, err)
	}
	switch {
	case have > know:
		return store.SchemaError(s.path, have, know)
	case have == know:
		return nil
	}
	if !writable {
		// The one write a reader makes: upgrading an older schema, through a
		// connection of its own, when the user may write the file.
		w, err := Open(ctx, s.path)
		if err != nil {
			return fmt.Errorf("%w (version %d, this wtb needs %d) and upgrading it failed: %v; run wtb once as a user who may write %s",
				errNeedsUpgrade, have, know, err, s.path)
		}
		return w.Close()
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	return nil
}

// schemaVersion reads goose's version table without creating it (goose's own
// GetDBVersion creates the table, which is a write).
func (s *Store) schemaVersion(ctx context.Context) (int64, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v)
	return v.Int64, err
}

// lockDir takes an exclusive flock on a directory, released by the returned
// function. A directory's descriptor is no descriptor of the database, so
// closing it leaves SQLite's locks alone.
func lockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Describe names the database.
func (s *Store) Describe() string { return "sqlite://" + s.path }

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.release != nil {
		s.release()
	}
	return err
}

// defaultWALLimit is the write-ahead log size past which a write waits for
// readers and truncates it.
const defaultWALLimit = 64 << 20

// boundWAL keeps the write-ahead log from growing without end. SQLite's own
// checkpoints copy the log into the database after each commit but start the
// log over only when no reader is using it at the next write; a batch whose
// other connections (lease, audit trail, a viewer) keep reading never gives it
// that moment, and the log grew to 2.5 GB next to a 1 GB database in a run of
// a million executions. A TRUNCATE checkpoint waits for those readers (up to
// busy_timeout) and empties the file; if it cannot, the next write tries again.
func (s *Store) boundWAL(ctx context.Context) {
	fi, err := os.Stat(s.path + "-wal")
	if err != nil || fi.Size() < s.walLimit {
		return
	}
	_, _ = s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
}
