// Package postgres is WTB's PostgreSQL store, through pgx and pgxpool: JSONB
// columns, bulk writes with COPY into a per-transaction temporary table, and
// idempotent inserts (ON CONFLICT DO NOTHING), so a retried write after a
// dropped connection or a server restart stores each row once.
//
// It works behind PgBouncer in transaction pooling mode: it keeps no session
// state between transactions (no named prepared statements — queries use the
// extended protocol's unnamed statement; temporary tables are ON COMMIT DROP;
// the migration lock is a lock row, not a session advisory lock).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/host/internal/store/sqlstore"
	"github.com/wtbench/wtb/migrations"
)

// Store is the PostgreSQL store.
type Store struct {
	*sqlstore.Store // the repositories, in this package's dialect
	pool            *pgxpool.Pool
	url             string
	retries         retryPolicy
	// ensured are the months whose partitions this process made sure of.
	ensured sync.Map
}

var _ store.Store = (*Store)(nil)

// Options tune the store.
type Options struct {
	// RetryFor bounds how long an operation is retried on transient errors
	// (connection loss, server restart, serialization failure). Default 60 s.
	RetryFor time.Duration
}

// Open connects, applies migrations (one host at a time), and refuses a
// database whose schema is newer than this binary.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	return open(ctx, url, opts, true)
}

// open is Open; migrate false leaves the schema as it is (benchmarks of an
// older schema).
func open(ctx context.Context, url string, opts Options, migrate bool) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing the database URL: %w", redactErr(err, url))
	}
	// No server-side prepared statements outlive a query: safe behind
	// PgBouncer's transaction pooling. A URL may still choose another mode.
	if !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redactErr(err, url)
	}
	s := &Store{pool: pool, url: url, retries: retryPolicy{maxWait: opts.RetryFor, onStall: &atomic.Pointer[func(store.Stall)]{}}}
	if s.retries.maxWait == 0 {
		s.retries.maxWait = 60 * time.Second
	}
	s.Store = sqlstore.New(db{conn{pool}, pool}, dialect{s}, retention{s})
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, redactErr(err, url)
	}
	if !migrate {
		return s, nil
	}
	if err := s.migrate(ctx, cfg.ConnConfig.Copy()); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	db := stdlib.OpenDB(*cc)
	defer db.Close()
	db.SetMaxOpenConns(2)
	sub, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		return err
	}
	// A lock row rather than pg_advisory_lock: advisory locks belong to a
	// server session, which PgBouncer's transaction pooling hands to others.
	locker, err := lock.NewPostgresTableLocker(lock.WithTableName("wtb_migration_lock"),
		lock.WithTableLockTimeout(200*time.Millisecond, 1500), lock.WithTableHeartbeatInterval(2*time.Second))
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true),
		goose.WithTableName("wtb_goose_db_version"), goose.WithLocker(locker))
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	have, err := s.schemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version of %s: %w", s.Describe(), err)
	}
	var know int64
	for _, src := range p.ListSources() {
		know = max(know, src.Version)
	}
	switch {
	case have > know:
		return store.SchemaError(s.Describe(), have, know)
	case have == know:
		return nil // up to date: no lock row, no write (a read-only role can read)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", s.Describe(), redactErr(err, s.url))
	}
	return nil
}

// schemaVersion reads the applied version without creating anything, so a
// refused database is left exactly as it was.
func (s *Store) schemaVersion(ctx context.Context) (int64, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('wtb_goose_db_version') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v sql.NullInt64
	err := s.pool.QueryRow(ctx, `SELECT MAX(version_id) FROM wtb_goose_db_version WHERE is_applied`).Scan(&v)
	return v.Int64, err
}

// Describe names the database without its password.
func (s *Store) Describe() string { return store.Redact(s.url) }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// redactErr removes a password that an error message might quote.
func redactErr(err error, url string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(url, "://"); i >= 0 {
		if at := strings.Index(url[i+3:], "@"); at >= 0 {
			userinfo := url[i+3 : i+3+at]
			if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" && strings.Contains(msg, pw) {
				return errors.New(strings.ReplaceAll(msg, pw, "xxxxx"))
			}
		}
	}
	return err
}

// retryPolicy retries an operation on transient errors with backoff. Every
// write is idempotent, so repeating one whose commit outcome is unknown is safe.
type retryPolicy struct {
	maxWait time.Duration
	onStall *atomic.Pointer[func(store.Stall)]
}

func (r retryPolicy) do(ctx context.Context, op func(ctx context.Context) error) error {
	delay := 50 * time.Millisecond
	start := time.Now()
	deadline := start.Add(r.maxWait)
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !transient(err) || time.Now().After(deadline) || ctx.Err() != nil {
			if attempt > 1 {
				r.report(store.Stall{Op: "database", Attempts: attempt, Waited: time.Since(start), Err: err})
			}
			return err
		}
		if attempt == 1 {
			r.report(store.Stall{Op: "database", Attempts: 1, Ongoing: true, Err: err})
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return err
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (r retryPolicy) report(s store.Stall) {
	if r.onStall == nil {
		return
	}
	if fn := r.onStall.Load(); fn != nil {
		(*fn)(s)
	}
}

// SetStallHandler makes fn hear of every operation that waited on the
// database (nil: nobody).
func (s *Store) SetStallHandler(fn func(store.Stall)) {
	if fn == nil {
		s.retries.onStall.Store(nil)
		return
	}
	s.retries.onStall.Store(&fn)
}

// transient reports errors worth retrying: lost connections, a server that is
// shutting down or starting, serialization failures and deadlocks.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "40001", pgErr.Code == "40P01", // serialization failure, deadlock
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // admin shutdown, crash shutdown, cannot connect now
			pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "unexpected EOF", "conn closed",
		"server closed the connection", "failed to connect", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
