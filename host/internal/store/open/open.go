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

// Open opens the database: sqlite://PATH (or a plain file path) or
// postgres://... . Errors never contain a password.
func Open(ctx context.Context, url string) (store.Store, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url)
	case strings.HasPrefix(url, "sqlite://"):
		return sqlite.Open(ctx, strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "sqlite:"):
		return sqlite.Open(ctx, strings.TrimPrefix(url, "sqlite:"))
	case strings.Contains(url, "://"):
		return nil, fmt.Errorf("unsupported database URL %s: use sqlite://PATH or postgres://USER@HOST/DB", store.Redact(url))
	}
	return sqlite.Open(ctx, url)
}
