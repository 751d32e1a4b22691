package secrets

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dmrm/dm-manager/internal/secrets/vaulttest"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
)

// The sealed-store tests use a throwaway database, created by storetest, migrated by the store and dropped at the
// end. testPool is a raw connection for the tests that tamper with rows behind the store's back.
var (
	dbOnce   sync.Once
	dbStore  *store.Store
	dbDSN    string
	dbPool   *pgxpool.Pool
	dbDrop   func() error
	dbSetErr error
)

// testRows returns the store of the throwaway database.
func testRows(t *testing.T) *store.Store {
	t.Helper()
	dbOnce.Do(func() { dbStore, dbPool, dbDrop, dbSetErr = setupDB() })
	require.NoError(t, dbSetErr)
	return dbStore
}

// testPool returns a raw pool on the same database, for tampering with rows.
func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	testRows(t)
	return dbPool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dbStore != nil {
		dbStore.Close()
		dbPool.Close()
	}
	if dbDrop != nil {
		if err := dbDrop(); err != nil {
			fmt.Fprintln(os.Stderr, "secrets tests: drop database:", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "secrets tests: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func setupDB() (*store.Store, *pgxpool.Pool, func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, drop, err := storetest.CreateDatabase("dmm_secrets_test")
	if err != nil {
		return nil, nil, nil, err
	}
	dbDSN = dsn
	st, err := store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	if err != nil {
		return nil, nil, drop, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, nil, drop, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		st.Close()
		return nil, nil, drop, err
	}
	return st, pool, drop, nil
}

// bothBackends opens each backend, for the tests that hold for both: the embedded one and Vault's stand-in.
var bothBackends = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"embedded", openSealed},
	{"vault", func(t *testing.T) Store { return newVaultEnv(t, AuthToken, vaulttest.TokenSpec{}).open(t) }},
}
