// Package open opens the store a database URL names.
package open

import (
	"context"
	"fmt"
	"strings"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlite"
)

// DefaultURL is used when neither --db, WTB_DATABASE_URL nor the bench file
// names a database.
const DefaultURL = "sqlite://wtb.db"

// Open opens the database for a command that writes: sqlite://PATH (or a
// plain file path), created if missing, or postgres://... . Errors never
// contain a password.
func Open(ctx context.Context, url string) (store.Store, error) {
	return openURL(ctx, url, false)
}

// OpenReadOnly opens an existing database for a command that only reads: it
// creates no file or directory, writes no row and leaves no file behind.
func OpenReadOnly(ctx context.Context, url string) (store.Store, error) {
	return openURL(ctx, url, true)
}

func openURL(ctx context.Context, url string, readOnly bool) (store.Store, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return openPostgres(ctx, url)
	}
	path, err := SQLitePath(url)
	if err != nil {
		return nil, err
	}
	if readOnly {
		return sqlite.OpenReadOnly(ctx, path)
	}
	return sqlite.Open(ctx, path)
}

// SQLitePath is the file a sqlite URL (or a plain path) names.
func SQLitePath(url string) (string, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		return strings.TrimPrefix(url, "sqlite://"), nil
	case strings.HasPrefix(url, "sqlite:"):
		return strings.TrimPrefix(url, "sqlite:"), nil
	case strings.Contains(url, "://"):
		return "", fmt.Errorf("unsupported database URL %s: use sqlite://PATH or postgres://USER@HOST/DB", store.Redact(url))
	}
	return url, nil
}
