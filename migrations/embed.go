// Package migrations embeds the database schema of each store. Files are
// applied in version order by goose; a database whose schema is newer than the
// highest version here is refused rather than written to.
package migrations

import "embed"

// SQLite holds migrations/sqlite/*.sql.
//
//go:embed sqlite/*.sql
var SQLite embed.FS

// Postgres holds migrations/postgres/*.sql.
//
//go:embed postgres/*.sql
var Postgres embed.FS
