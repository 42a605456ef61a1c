package application

import (
	"context"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/open"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
)

// The command line picks a database URL from its flags and environment; which
// driver serves that URL is decided here, so no caller of the application
// layer imports a store driver.

// DefaultDatabaseURL is the database used when neither --db, WTB_DATABASE_URL
// nor the bench file names one.
const DefaultDatabaseURL = open.DefaultURL

// ErrNoDatabase is what OpenReader returns (wrapped) when the SQLite file a
// read names is not there. It is the SQLite driver's own error, named here so
// that callers can test for it with errors.Is without importing the driver.
var ErrNoDatabase = sqlite.ErrNoDatabase

// OpenStore opens the database for a command that writes: sqlite://PATH (or a
// plain file path), created if missing, or postgres://... . Errors never
// contain a password.
func OpenStore(ctx context.Context, url string) (store.Store, error) {
	return open.Open(ctx, url)
}

// OpenReader opens an existing database for a command that only reads: it
// creates no file or directory, writes no row and leaves no file behind.
func OpenReader(ctx context.Context, url string) (store.Store, error) {
	return open.OpenReadOnly(ctx, url)
}

// SQLitePath is the file a sqlite URL (or a plain path) names; an error for
// a URL of another database.
func SQLitePath(url string) (string, error) { return open.SQLitePath(url) }
