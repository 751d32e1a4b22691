// Package storetest gives tests a throwaway Postgres database of their own on the local test server
// (common brief: real Postgres on 127.0.0.1:5432, one database per package, dropped at the end).
package storetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminURLEnv overrides the maintenance connection used to create and drop test databases.
const AdminURLEnv = "DMM_TEST_ADMIN_URL"

const defaultAdminURL = "postgres://admin:pass@127.0.0.1:5432/dmm?sslmode=disable" //nolint:gosec // G101: local test Postgres role

var (
	validName   = regexp.MustCompile(`^dmm_[a-z0-9_]+_test$`)
	validSuffix = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
)

// SuffixEnv, when set, is added to every database name, so test runs from several checkouts on one machine do
// not drop each other's databases.
const SuffixEnv = "DM_TEST_DB_SUFFIX"

func adminURL() string {
	if u := os.Getenv(AdminURLEnv); u != "" {
		return u
	}
	return defaultAdminURL
}

// CreateDatabase (re)creates the database name, which must look like dmm_<package>_test, and returns its
// URL and a function that drops it (closing any connection still open).
func CreateDatabase(name string) (dsn string, drop func() error, err error) {
	if !validName.MatchString(name) {
		return "", nil, fmt.Errorf("storetest: database name %q must match %s", name, validName)
	}
	if sfx := os.Getenv(SuffixEnv); sfx != "" {
		if !validSuffix.MatchString(sfx) {
			return "", nil, fmt.Errorf("storetest: %s=%q must match %s", SuffixEnv, sfx, validSuffix)
		}
		name = strings.TrimSuffix(name, "_test") + "_" + sfx + "_test"
	}
	if err := adminExec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
		return "", nil, err
	}
	if err := adminExec("CREATE DATABASE " + name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(adminURL())
	if err != nil {
		return "", nil, fmt.Errorf("storetest: %s: %w", AdminURLEnv, err)
	}
	u.Path = "/" + name
	return u.String(), func() error { return adminExec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") }, nil
}

func adminExec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		return fmt.Errorf("storetest: connecting to the test Postgres (set %s to override): %w", AdminURLEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("storetest: %s: %w", sql, err)
	}
	return nil
}

// KillAdvisoryLockHolder ends, from outside, the database session of dsn's database that holds the session-level
// advisory lock key, as a crash or network loss would, without its owner noticing. It returns how many sessions
// were ended.
func KillAdvisoryLockHolder(dsn string, key int64) (int, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return 0, fmt.Errorf("storetest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		return 0, fmt.Errorf("storetest: connecting to the test Postgres: %w", err)
	}
	defer conn.Close(ctx)
	// A bigint advisory key is shown split: classid the high 32 bits, objid the low 32 (objsubid 1).
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
		JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND d.datname = $1
			AND l.classid = $2::bigint::oid AND l.objid = $3::bigint::oid`,
		strings.TrimPrefix(u.Path, "/"), int64(uint32(uint64(key)>>32)), int64(uint32(key))).Scan(&n) //nolint:gosec // bit split
	if err != nil {
		return 0, fmt.Errorf("storetest: terminating the advisory lock holder: %w", err)
	}
	return n, nil
}
