// Package testdb gives tests a migrated store, and the embedded secret store on it, in a throwaway Postgres
// database (storetest creates and drops it). It lives apart from storetest because internal/store's own tests use
// storetest and this package imports internal/store.
package testdb

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
)

// Store (re)creates the database name (dmm_<package>_test, see storetest.CreateDatabase), opens and migrates it,
// and closes and drops it when the test ends.
func Store(t testing.TB, name string) *store.Store {
	t.Helper()
	dsn, drop, err := storetest.CreateDatabase(name)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	return Open(t, dsn)
}

// Open opens the database at dsn and migrates it; the store is closed when the test ends.
func Open(t testing.TB, dsn string) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Migrate(ctx))
	return st
}

// Secrets opens the embedded secret store on st's database under a fixed test key (the embedded store refuses a
// database sealed under another key, and some packages share one database across tests); closed when the test
// ends.
func Secrets(t testing.TB, st *store.Store) secrets.Store {
	t.Helper()
	key := make([]byte, secrets.KeySize)
	sec, err := secrets.Open(context.Background(), secrets.Options{Backend: secrets.BackendEmbedded,
		Key: base64.StdEncoding.EncodeToString(key)}, st, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(sec.Close)
	return sec
}
