// Package store is dm-manager's Postgres state: tenants' CIRA configs and profiles, domain metadata, devices
// (identity, connection state, owning replica, cached AMT facts), the operation journal
// (architecture.md "State: who owns what"), and what replicas share: leadership terms (leader.go), activation
// claims (claims.go) and the embedded secrets backend's sealed rows (sealed.go). It is the only package with SQL. SQL is hand-written; every query takes a context; transactions
// are explicit (InTx). Secrets never live here except sealed by internal/secrets.
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// querier is what both the pool and a transaction offer; methods run on whichever the Store holds.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Store is the typed access to dm-manager's database. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	db   querier
	log  zerolog.Logger
}

// DefaultMaxConns is the pool size unless the database URL sets pool_max_conns. pgxpool's own default (4 on two
// cores) queued REST reads behind each other: every first request to a device reads its record and its secret.
const DefaultMaxConns = 16

// ConnectOptions bound the connection attempts made by Open.
type ConnectOptions struct {
	Retries        int           // attempts after the first; 0 means one attempt only
	InitialBackoff time.Duration // first wait, doubled after each failure
	MaxBackoff     time.Duration // cap on one wait
	AttemptTimeout time.Duration // cap on one attempt; 0 means 5s
}

// Open connects to Postgres, retrying with exponential backoff as opts allow and logging every failed
// attempt. The returned Store owns a pool; Close it.
func Open(ctx context.Context, dsn string, opts ConnectOptions, log zerolog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's message may quote the DSN; keep the password out of logs by not wrapping it.
		return nil, errors.New("store: database URL cannot be parsed")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	target := describe(cfg.ConnConfig)
	log = log.With().Str("postgres", target).Logger()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: creating pool for %s: %w", target, err)
	}

	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 5 * time.Second
	}
	exp := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(opts.InitialBackoff),
		backoff.WithMaxInterval(opts.MaxBackoff),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.1),
		backoff.WithMaxElapsedTime(0), // bounded by the number of retries instead
	)
	policy := backoff.WithContext(backoff.WithMaxRetries(exp, uint64(max(opts.Retries, 0))), ctx)

	attempt := 0
	ping := func() error {
		attempt++
		actx, cancel := context.WithTimeout(ctx, opts.AttemptTimeout)
		defer cancel()
		return pool.Ping(actx)
	}
	notify := func(err error, wait time.Duration) {
		log.Warn().Err(err).Int("attempt", attempt).Int("max_attempts", opts.Retries+1).
			Str("retry_in", wait.Round(time.Millisecond).String()).Msg("Postgres not reachable yet; retrying")
	}
	if err := backoff.RetryNotify(ping, policy, notify); err != nil {
		pool.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("store: connecting to Postgres at %s: %w", target, ctx.Err())
		}
		return nil, fmt.Errorf("store: Postgres at %s unreachable after %d attempts: %w; "+
			"check the database URL and that Postgres is running", target, attempt, err)
	}
	log.Info().Int("attempt", attempt).Msg("connected to Postgres")
	return &Store{pool: pool, db: pool, log: log}, nil
}

// describe names the database without credentials, for logs and errors.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s/%s", c.User, net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), c.Database)
}

// Close releases the pool. Stores derived by InTx share it and must not be used afterwards.
func (s *Store) Close() { s.pool.Close() }

// InTx runs fn with a Store bound to one transaction: committed if fn returns nil, rolled back otherwise.
// Nested calls use savepoints.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		return fn(&Store{pool: s.pool, db: tx, log: s.log})
	})
}
