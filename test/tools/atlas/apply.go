package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Revision types as atlas records them (emf-conventions §2.2).
const (
	revisionBaseline = 1
	revisionExecute  = 2
)

const (
	revisionTable   = "atlas_schema_revisions"
	lockName        = "atlas_migrate_execute"
	operatorVersion = "dm-manager atlas stand-in (test/tools/atlas)"
)

// revision is one row of the revision table.
type revision struct {
	version, description string
	typ                  int64
	applied, total       int
	executionTime        time.Duration
	err, errStmt         string
	hash                 string
	partialHashes        []string
}

// StmtError reports the statement that failed; the file's transaction was rolled back and the error recorded.
type StmtError struct {
	File string
	N    int // 1-based statement number in the file
	Stmt string
	Err  error
}

func (e *StmtError) Error() string {
	return fmt.Sprintf("executing statement %d of %s: %v (transaction rolled back; error recorded in %s; "+
		"fix the migration and run again)", e.N, e.File, e.Err, revisionTable)
}

func (e *StmtError) Unwrap() error { return e.Err }

// applier holds one run's connection and revision table name.
type applier struct {
	conn  *pgx.Conn
	table string // sanitized, schema-qualified
	out   io.Writer
}

// apply runs `migrate apply`: validate atlas.sum, lock, compute pending files, execute them one transaction each.
func apply(ctx context.Context, opts options, out io.Writer) error {
	files, err := readDir(opts.dir)
	if err != nil {
		return err
	}
	sum, err := validate(opts.dir, files)
	if err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(opts.url)
	if err != nil {
		return fmt.Errorf("parse --url: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to %s:%d/%s: %w (is Postgres running? `make tools` starts it)",
			cfg.Host, cfg.Port, cfg.Database, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()

	unlock, err := lock(ctx, conn, opts.lockTimeout)
	if err != nil {
		return err
	}
	defer unlock()

	a := &applier{conn: conn, out: out}
	schema, err := a.ensureTable(ctx, cfg.RuntimeParams["search_path"])
	if err != nil {
		return err
	}
	revs, err := a.readRevisions(ctx)
	if err != nil {
		return err
	}
	pending, err := a.pending(ctx, files, revs, opts.baseline, schema)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		fmt.Fprintln(out, "No migration files to execute")
		return nil
	}
	return a.executeAll(ctx, pending, sum, revs)
}

// lock takes the advisory lock atlas uses so two applies never interleave; the returned func releases it.
func lock(ctx context.Context, conn *pgx.Conn, timeout time.Duration) (func(), error) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := conn.Exec(lctx, "SELECT pg_advisory_lock(hashtext($1))", lockName); err != nil {
		if lctx.Err() != nil {
			return nil, fmt.Errorf("advisory lock %q still held by another migrate apply after %s; "+
				"wait for it to finish or end it", lockName, timeout)
		}
		return nil, fmt.Errorf("take advisory lock %q: %w", lockName, err)
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", lockName)
	}, nil
}

// ensureTable creates the revision table if missing. A schema-bound URL (search_path) keeps it in that schema;
// otherwise atlas uses a schema of its own name. It returns the schema the migrations run in ("" if unbound).
func (a *applier) ensureTable(ctx context.Context, searchPath string) (string, error) {
	schema, _, _ := strings.Cut(searchPath, ",")
	schema = strings.Trim(strings.TrimSpace(schema), `"`)
	revSchema := schema
	if revSchema == "" {
		revSchema = revisionTable
		if _, err := a.conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{revSchema}.Sanitize()); err != nil {
			return "", fmt.Errorf("create schema %s: %w", revSchema, err)
		}
	}
	a.table = pgx.Identifier{revSchema, revisionTable}.Sanitize()
	_, err := a.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+a.table+` (
		version varchar NOT NULL PRIMARY KEY,
		description varchar NOT NULL,
		type bigint NOT NULL DEFAULT 2,
		applied bigint NOT NULL DEFAULT 0,
		total bigint NOT NULL DEFAULT 0,
		executed_at timestamptz NOT NULL,
		execution_time bigint NOT NULL,
		error text NULL,
		error_stmt text NULL,
		hash varchar NOT NULL,
		partial_hashes jsonb NULL,
		operator_version varchar NOT NULL)`)
	if err != nil {
		return "", fmt.Errorf("create revision table %s: %w", a.table, err)
	}
	return schema, nil
}

func (a *applier) readRevisions(ctx context.Context) ([]revision, error) {
	rows, err := a.conn.Query(ctx, `SELECT version, description, type, applied, total, hash, partial_hashes
		FROM `+a.table+` ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", a.table, err)
	}
	revs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (revision, error) {
		var r revision
		err := row.Scan(&r.version, &r.description, &r.typ, &r.applied, &r.total, &r.hash, &r.partialHashes)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", a.table, err)
	}
	return revs, nil
}

// pending decides which files run, following atlas' linear execution order.
func (a *applier) pending(ctx context.Context, files []migrationFile, revs []revision, baseline, schema string,
) ([]migrationFile, error) {
	if len(revs) == 0 {
		return a.firstRun(ctx, files, baseline, schema)
	}
	last := revs[len(revs)-1]
	partial := last.applied != last.total
	applied := make(map[string]bool, len(revs))
	for _, r := range revs {
		applied[r.version] = true
	}
	var pending []migrationFile
	for _, f := range files {
		v := f.version()
		switch {
		case v > last.version, partial && v == last.version:
			pending = append(pending, f)
		case v > revs[0].version && v < last.version && !applied[v]:
			return nil, fmt.Errorf("migration file %s was added out of order (the database is already at version %s); "+
				"give it a version after %s", f.name, last.version, last.version)
		}
	}
	if partial && (len(pending) == 0 || pending[0].version() != last.version) {
		return nil, fmt.Errorf("revision %s is partially applied (%d of %d statements) but its migration file is "+
			"missing from the directory", last.version, last.applied, last.total)
	}
	return pending, nil
}

// firstRun handles an empty revision table: record the baseline and run what follows it, or, without a
// baseline, run everything on a clean database.
func (a *applier) firstRun(ctx context.Context, files []migrationFile, baseline, schema string,
) ([]migrationFile, error) {
	if baseline == "" {
		if err := a.checkClean(ctx, schema); err != nil {
			return nil, err
		}
		return files, nil
	}
	for i, f := range files {
		if f.version() != baseline {
			continue
		}
		r := revision{version: f.version(), description: f.description(), typ: revisionBaseline}
		if err := a.writeRevision(ctx, a.conn, r); err != nil {
			return nil, err
		}
		return files[i+1:], nil
	}
	return nil, fmt.Errorf("baseline version %q not found among the migration files", baseline)
}

func (a *applier) checkClean(ctx context.Context, schema string) error {
	q := `SELECT count(*) FROM information_schema.tables WHERE table_name <> $1 AND
		table_schema NOT IN ('pg_catalog', 'information_schema', $1)`
	args := []any{revisionTable}
	if schema != "" {
		q += " AND table_schema = $2"
		args = append(args, schema)
	}
	var n int
	if err := a.conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return fmt.Errorf("check the database is clean: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("connected database is not clean: found %d tables; pass --baseline VERSION", n)
	}
	return nil
}

// writeRevision upserts r through db (the connection or the file's transaction).
func (a *applier) writeRevision(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, r revision,
) error {
	var errText, errStmt, partial any
	if r.err != "" {
		errText, errStmt = r.err, r.errStmt
	}
	if len(r.partialHashes) > 0 {
		partial = r.partialHashes
	}
	_, err := db.Exec(ctx, `INSERT INTO `+a.table+` (version, description, type, applied, total, executed_at,
			execution_time, error, error_stmt, hash, partial_hashes, operator_version)
		VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8, $9, $10, $11)
		ON CONFLICT (version) DO UPDATE SET description = EXCLUDED.description, type = EXCLUDED.type,
			applied = EXCLUDED.applied, total = EXCLUDED.total, executed_at = EXCLUDED.executed_at,
			execution_time = EXCLUDED.execution_time, error = EXCLUDED.error, error_stmt = EXCLUDED.error_stmt,
			hash = EXCLUDED.hash, partial_hashes = EXCLUDED.partial_hashes,
			operator_version = EXCLUDED.operator_version`,
		r.version, r.description, r.typ, r.applied, r.total, r.executionTime.Nanoseconds(),
		errText, errStmt, r.hash, partial, operatorVersion)
	if err != nil {
		return fmt.Errorf("write revision %s: %w", r.version, err)
	}
	return nil
}

// statementSums are the running SHA-256 digests after each statement (atlas' partial hashes, without "h1:").
func statementSums(stmts []string) []string {
	h := sha256.New()
	sums := make([]string, len(stmts))
	for i, s := range stmts {
		h.Write([]byte(s))
		sums[i] = base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	return sums
}
