package secrets

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/store"
)

// TestGetMany: every path gets its own answer, on both backends (the embedded one in one query, Vault up to
// manyGets Gets at once): data, not found, an invalid path; and on the embedded backend a tampered row fails alone.
func TestGetMany(t *testing.T) {
	for _, b := range bothBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st := b.open(t)
			tenant := uuid.NewString()
			one, two, missing := devicePath(t, tenant), devicePath(t, tenant), devicePath(t, tenant)
			require.NoError(t, st.Put(ctx, one, map[string]string{KeyCIRAPassword: "for-one"}))
			require.NoError(t, st.Put(ctx, two, map[string]string{KeyCIRAPassword: "for-two"}))
			const invalid = "tenants/../etc"

			got := GetMany(ctx, st, []string{one, two, missing, invalid, one})
			require.Len(t, got, 4)
			require.NoError(t, got[one].Err)
			require.Equal(t, "for-one", got[one].Data[KeyCIRAPassword])
			require.NoError(t, got[two].Err)
			require.Equal(t, "for-two", got[two].Data[KeyCIRAPassword])
			require.ErrorIs(t, got[missing].Err, ErrNotFound)
			require.ErrorIs(t, got[invalid].Err, ErrInvalidPath)
			require.Empty(t, GetMany(ctx, st, nil))
		})
	}

	t.Run("embedded, a tampered row", func(t *testing.T) {
		ctx := context.Background()
		st := openSealed(t)
		tenant := uuid.NewString()
		good, bad := devicePath(t, tenant), devicePath(t, tenant)
		require.NoError(t, st.Put(ctx, good, map[string]string{KeyCIRAPassword: "for-good"}))
		require.NoError(t, st.Put(ctx, bad, map[string]string{KeyCIRAPassword: "for-bad"}))
		_, err := testPool(t).Exec(ctx, flipCiphertextBit, bad)
		require.NoError(t, err)
		got := GetMany(ctx, st, []string{good, bad})
		require.NoError(t, got[good].Err)
		require.Equal(t, "for-good", got[good].Data[KeyCIRAPassword])
		require.ErrorIs(t, got[bad].Err, ErrTampered)
		require.NotContains(t, got[bad].Err.Error(), "for-")
	})

	t.Run("embedded, the database gone", func(t *testing.T) {
		st, err := newSealer(closedRows(t), testKey)
		require.NoError(t, err)
		tenant := uuid.NewString()
		a, b := devicePath(t, tenant), devicePath(t, tenant)
		got := GetMany(context.Background(), st, []string{a, b})
		require.Len(t, got, 2)
		for _, p := range []string{a, b} {
			require.Error(t, got[p].Err)
			require.NotErrorIs(t, got[p].Err, ErrNotFound, "a failed read is not a missing secret")
			require.Contains(t, got[p].Err.Error(), p)
		}
	})
}

// closedRows is a store on the test database whose pool is already closed: every query fails.
func closedRows(t *testing.T) *store.Store {
	t.Helper()
	testRows(t)
	st, err := store.Open(context.Background(), dbDSN, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	st.Close()
	return st
}

// panicky is a Store whose Get panics for one path: no real backend panics on demand.
type panicky struct {
	Store
	bad string
}

func (p panicky) Get(_ context.Context, path string) (map[string]string, error) {
	if path == p.bad {
		panic("backend bug")
	}
	return map[string]string{KeyCIRAPassword: "for-" + path}, nil
}

// TestGetManyPanic: on a backend without a multi-read every Get runs on a goroutine of its own; a panic in one is
// that path's error, not the process's end.
func TestGetManyPanic(t *testing.T) {
	paths := make([]string, 40)
	for i := range paths {
		paths[i] = devicePath(t, uuid.NewString())
	}
	got := GetMany(context.Background(), panicky{bad: paths[7]}, paths)
	require.Len(t, got, len(paths))
	for i, p := range paths {
		if i == 7 {
			require.ErrorContains(t, got[p].Err, "internal error: backend bug")
			continue
		}
		require.NoError(t, got[p].Err)
		require.Equal(t, "for-"+p, got[p].Data[KeyCIRAPassword])
	}
}
