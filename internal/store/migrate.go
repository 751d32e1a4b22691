package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrations are numbered files NNNN_name.sql, embedded in the binary.
//
// Why a small runner of our own rather than golang-migrate or goose:
//   - no extra dependencies (and none of their database-driver trees) for ~150 lines of code;
//   - one transaction per file, so a failed file leaves nothing half applied and is simply retried next start;
//   - a Postgres advisory lock around the whole run, so replicas starting together migrate once, in order;
//   - a schema_migrations table that records each file's SHA-256, so a file edited after release is reported
//     at start instead of silently diverging between databases.
//
// Rules for files: plain SQL, any number of statements (sent with the simple protocol, so DO $$ ... $$ blocks
// work), no BEGIN/COMMIT and nothing that cannot run in a transaction (e.g. CREATE INDEX CONCURRENTLY).
//
//go:embed migrations/*.sql
var embedded embed.FS

// migrationLockKey is the advisory lock key (ASCII "dmm_migr"); other advisory locks must use other keys.
const migrationLockKey int64 = 0x646d6d5f6d696772

// ErrMigrationEdited: an applied migration file no longer has the checksum it was applied with.
var ErrMigrationEdited = errors.New("applied migration was edited")

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

type migration struct {
	version  int
	name     string // file name
	body     string
	checksum string // hex SHA-256 of body
}

// Migrate applies every embedded migration not yet recorded in schema_migrations.
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	return s.migrate(ctx, sub)
}

func (s *Store) migrate(ctx context.Context, dir fs.FS) error {
	files, err := loadMigrations(dir)
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrations: acquiring a connection: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("store: migrations: taking the advisory lock: %w", err)
	}
	defer unlock(conn)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		checksum   text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("store: migrations: creating schema_migrations: %w", err)
	}
	applied, err := appliedMigrations(ctx, conn.Conn())
	if err != nil {
		return err
	}

	known := map[int]bool{}
	for _, m := range files {
		known[m.version] = true
		if sum, ok := applied[m.version]; ok {
			if sum != m.checksum {
				return fmt.Errorf("store: migration %s: %w (recorded sha256 %.12s…, file %.12s…): restore the file "+
					"as released and put the change in a new numbered migration", m.name, ErrMigrationEdited, sum, m.checksum)
			}
			continue
		}
		if err := s.apply(ctx, conn.Conn(), m); err != nil {
			return err
		}
	}
	for v := range applied {
		if !known[v] {
			// A newer replica migrated further; its additions are expected to be backward compatible.
			s.log.Warn().Int("version", v).Msg("database has a migration this binary does not know; continuing")
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, conn *pgx.Conn, m migration) error {
	start := time.Now()
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No arguments: pgx uses the simple protocol, which runs a multi-statement file as one batch.
		if _, err := tx.Exec(ctx, m.body); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
			m.version, m.name, m.checksum)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: migration %s failed and was rolled back: %w", m.name, err)
	}
	s.log.Info().Str("migration", m.name).Dur("took", time.Since(start)).Msg("applied database migration")
	return nil
}

func appliedMigrations(ctx context.Context, conn *pgx.Conn) (map[int]string, error) {
	rows, err := conn.Query(ctx, "SELECT version, checksum FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: reading schema_migrations: %w", err)
	}
	type row struct {
		Version  int    `db:"version"`
		Checksum string `db:"checksum"`
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
	if err != nil {
		return nil, fmt.Errorf("store: migrations: reading schema_migrations: %w", err)
	}
	out := make(map[int]string, len(list))
	for _, r := range list {
		out[r.Version] = r.Checksum
	}
	return out, nil
}

// unlock releases the advisory lock; if that fails the session is closed, which releases it too.
func unlock(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
		_ = conn.Hijack().Close(ctx)
	}
}

func loadMigrations(dir fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(dir, ".")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		match := migrationName.FindStringSubmatch(e.Name())
		if match == nil {
			return nil, fmt.Errorf("store: migration file %q: name must be NNNN_lower_snake.sql", e.Name())
		}
		version, _ := strconv.Atoi(match[1])
		if prev, dup := seen[version]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s have the same number", prev, e.Name())
		}
		seen[version] = e.Name()
		body, err := fs.ReadFile(dir, e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: migration %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		out = append(out, migration{version: version, name: e.Name(), body: string(body), checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}
