package secrets

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The sealed-store tests use a throwaway database, created here and dropped at the end. The migration runner
// belongs to internal/store, so the test applies our one migration file itself.
const (
	adminURL  = "postgres://admin:pass@127.0.0.1:5432/dmm?sslmode=disable"
	testDB    = "dmm_secrets_test"
	testDBURL = "postgres://admin:pass@127.0.0.1:5432/" + testDB + "?sslmode=disable"
	migration = "../store/migrations/0002_sealed_secrets.sql"
)

// The database is created on first use only, so fuzz worker processes (which run TestMain too) never touch it.
var (
	dbOnce   sync.Once
	dbPool   *pgxpool.Pool
	dbSetErr error
)

// testPool returns the pool of the throwaway database with migration 0002 applied.
func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	dbOnce.Do(func() { dbPool, dbSetErr = setupDB() })
	require.NoError(t, dbSetErr)
	return dbPool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dbPool != nil || dbSetErr != nil {
		if dbPool != nil {
			dbPool.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := adminExec(ctx, "DROP DATABASE IF EXISTS "+testDB+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "secrets tests: drop database:", err)
			code = 1
		}
		cancel()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "secrets tests: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func setupDB() (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, "DROP DATABASE IF EXISTS "+testDB+" WITH (FORCE)",
		"CREATE DATABASE "+testDB+" TEMPLATE template0"); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, testDBURL)
	if err != nil {
		return nil, err
	}
	sql, err := os.ReadFile(migration)
	if err == nil {
		_, err = pool.Exec(ctx, string(sql))
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("apply %s: %w", migration, err)
	}
	return pool, nil
}

func adminExec(ctx context.Context, stmts ...string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}
