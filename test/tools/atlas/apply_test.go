package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const (
	testDB       = "dmm_atlas_test"
	adminURL     = "postgres://admin:pass@127.0.0.1:5432/postgres?sslmode=disable"
	testURL      = "postgres://admin:pass@127.0.0.1:5432/" + testDB + "?search_path=public&sslmode=disable"
	baselineVers = "20230600000000"
)

// freshDB (re)creates the throwaway database and drops it when the test ends.
func freshDB(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminURL)
	require.NoError(t, err, "Postgres on 127.0.0.1:5432 (admin/pass) is needed: run `make tools`")
	drop := func() {
		_, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+testDB+" WITH (FORCE)")
		require.NoError(t, err)
	}
	drop()
	_, err = admin.Exec(ctx, "CREATE DATABASE "+testDB+" OWNER admin")
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, testURL)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, conn.Close(ctx))
		drop()
		require.NoError(t, admin.Close(ctx))
	})
	return conn
}

// runApply runs the command line in process and returns its exit code and output.
func runApply(t *testing.T, dir string, extra ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := append([]string{"migrate", "apply", "--dir", "file://" + dir, "--url", testURL}, extra...)
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// writeMigrations writes files plus a matching atlas.sum into a temp dir.
func writeMigrations(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	all, err := readDir(dir)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, sumFileName), computeSum(all).marshal(), 0o600))
}

type revRow struct {
	Version, Description string
	Type                 int64
	Applied, Total       int
	Hash                 string
	Error, ErrorStmt     *string
	PartialHashes        []string
}

func readRevs(t *testing.T, conn *pgx.Conn) []revRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT version, description, type, applied, total, hash, error,
		error_stmt, partial_hashes FROM public.atlas_schema_revisions ORDER BY version`)
	require.NoError(t, err)
	revs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[revRow])
	require.NoError(t, err)
	return revs
}

func TestApplyInventoryMigrationsTwice(t *testing.T) {
	conn := freshDB(t)
	dir := copyMigrations(t)
	files, err := readDir(dir)
	require.NoError(t, err)
	sum := computeSum(files)

	code, out, errOut := runApply(t, dir, "--baseline", baselineVers)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, fmt.Sprintf("(%d migrations in total)", len(files)-1))

	revs := readRevs(t, conn)
	require.Len(t, revs, len(files))
	require.Equal(t, revRow{Version: baselineVers, Description: "empty", Type: revisionBaseline}, revs[0])
	for i, r := range revs[1:] {
		f := files[i+1]
		want, _ := sum.hashOf(f.name)
		stmts, err := splitStmts(string(f.data))
		require.NoError(t, err)
		require.Equal(t, revRow{Version: f.version(), Description: f.description(), Type: revisionExecute,
			Applied: len(stmts), Total: len(stmts), Hash: want}, r, f.name)
	}
	var hosts int
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT count(*) FROM information_schema.columns WHERE table_name = 'host_resources' AND "+
			"column_name IN ('amt_control_mode', 'desired_power_state')").Scan(&hosts))
	require.Equal(t, 2, hosts, "the latest migration's columns exist")

	code, out, errOut = runApply(t, dir, "--baseline", baselineVers)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "No migration files to execute\n", out)
	require.Len(t, readRevs(t, conn), len(files))
}

func TestApplyChecksumMismatchTouchesNothing(t *testing.T) {
	conn := freshDB(t)
	dir := copyMigrations(t)
	appendFile(t, filepath.Join(dir, "20250324165719_all.sql"), "\nSELECT 1;\n")

	code, _, errOut := runApply(t, dir, "--baseline", baselineVers)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "checksum mismatch: 20250324165719_all.sql edited")
	var n int
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&n))
	require.Zero(t, n)
}

func TestApplyFailureIsRecordedAndRetried(t *testing.T) {
	conn := freshDB(t)
	dir := t.TempDir()
	writeMigrations(t, dir, map[string]string{
		"1_base.sql": "-- nothing\n",
		"2_ok.sql":   "CREATE TABLE a (x int);\n",
		"3_bad.sql":  "CREATE TABLE b (y int);\nINSERT INTO missing VALUES (1);\n",
	})

	code, _, errOut := runApply(t, dir, "--baseline", "1")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "executing statement 2 of 3_bad.sql")
	require.Contains(t, errOut, `relation "missing" does not exist`)
	revs := readRevs(t, conn)
	require.Len(t, revs, 3)
	bad := revs[2]
	require.Equal(t, 0, bad.Applied, "the file's transaction was rolled back")
	require.Equal(t, 2, bad.Total)
	require.NotNil(t, bad.Error)
	require.Contains(t, *bad.Error, `relation "missing" does not exist`)
	require.Equal(t, "INSERT INTO missing VALUES (1);", *bad.ErrorStmt)
	var exists bool
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT to_regclass('public.b') IS NOT NULL").Scan(&exists))
	require.False(t, exists, "statement 1 of the failed file was rolled back")

	writeMigrations(t, dir, map[string]string{"3_bad.sql": "CREATE TABLE b (y int);\nCREATE TABLE missing (z int);\n"})
	code, out, errOut := runApply(t, dir, "--baseline", "1")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "migrating version 3")
	revs = readRevs(t, conn)
	require.Equal(t, revRow{Version: "3", Description: "bad", Type: revisionExecute, Applied: 2, Total: 2,
		Hash: revs[2].Hash}, revs[2], "error cleared after the retry")
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		setup func(t *testing.T, conn *pgx.Conn, dir string)
		args  []string
		want  string
	}{
		{name: "baseline not a file", files: map[string]string{"1_a.sql": "SELECT 1;"},
			args: []string{"--baseline", "7"}, want: `baseline version "7" not found`},
		{name: "dirty database without baseline", files: map[string]string{"1_a.sql": "SELECT 1;"},
			setup: func(t *testing.T, conn *pgx.Conn, _ string) {
				_, err := conn.Exec(context.Background(), "CREATE TABLE stray (x int)")
				require.NoError(t, err)
			}, want: "connected database is not clean"},
		{name: "file added out of order", files: map[string]string{"1_a.sql": "SELECT 1;", "3_c.sql": "SELECT 3;"},
			setup: func(t *testing.T, _ *pgx.Conn, dir string) {
				code, _, errOut := runApply(t, dir)
				require.Equal(t, 0, code, errOut)
				writeMigrations(t, dir, map[string]string{"2_b.sql": "SELECT 2;"})
			}, want: "2_b.sql was added out of order"},
		{name: "bad command line", args: []string{"--bogus"}, want: "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := freshDB(t)
			dir := t.TempDir()
			writeMigrations(t, dir, tt.files)
			if tt.setup != nil {
				tt.setup(t, conn, dir)
			}
			code, _, errOut := runApply(t, dir, tt.args...)
			require.NotZero(t, code)
			require.Contains(t, errOut, tt.want)
		})
	}
}

func TestApplyWaitsForAdvisoryLock(t *testing.T) {
	conn := freshDB(t)
	dir := t.TempDir()
	writeMigrations(t, dir, map[string]string{"1_a.sql": "SELECT 1;"})
	_, err := conn.Exec(context.Background(), "SELECT pg_advisory_lock(hashtext($1))", lockName)
	require.NoError(t, err)

	opts := options{dir: dir, url: testURL, lockTimeout: 200 * time.Millisecond}
	err = apply(context.Background(), opts, &bytes.Buffer{})
	require.ErrorContains(t, err, "still held by another migrate apply")

	_, err = conn.Exec(context.Background(), "SELECT pg_advisory_unlock(hashtext($1))", lockName)
	require.NoError(t, err)
	opts.lockTimeout = 5 * time.Second
	require.NoError(t, apply(context.Background(), opts, &bytes.Buffer{}))
}
