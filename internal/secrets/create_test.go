package secrets

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets/vaulttest"
)

// Both backends: of concurrent creators of one path (as replicas generating a value once), exactly one creates
// and every one gets the value it stored; an existing value is never replaced.
func TestCreateIfAbsent(t *testing.T) {
	for _, b := range bothBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st := b.open(t)
			path, err := TenantAMTPassword(uuid.NewString())
			require.NoError(t, err)

			const creators = 8
			type result struct {
				got     map[string]string
				created bool
			}
			results := make([]result, creators)
			errs := make([]error, creators)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range creators {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					got, created, err := st.CreateIfAbsent(ctx, path, map[string]string{KeyPassword: fmt.Sprintf("pw-%d", i)})
					results[i], errs[i] = result{got, created}, err
				}()
			}
			close(start)
			wg.Wait()
			winners := 0
			for i := range creators {
				require.NoError(t, errs[i])
				if results[i].created {
					winners++
				}
			}
			require.Equal(t, 1, winners, "exactly one creator stores its value")
			stored, err := st.Get(ctx, path)
			require.NoError(t, err)
			for i := range creators {
				require.Equal(t, stored, results[i].got, "creator %d gets the stored value", i)
			}

			got, created, err := st.CreateIfAbsent(ctx, path, map[string]string{KeyPassword: "later"})
			require.NoError(t, err)
			require.False(t, created)
			require.Equal(t, stored, got, "an existing value is kept")

			require.NoError(t, st.Delete(ctx, path))
			got, created, err = st.CreateIfAbsent(ctx, path, map[string]string{KeyPassword: "after-delete"})
			require.NoError(t, err)
			require.True(t, created, "a deleted path can be created again")
			require.Equal(t, "after-delete", got[KeyPassword])

			_, _, err = st.CreateIfAbsent(ctx, "tenants/../x", nil)
			require.ErrorIs(t, err, ErrInvalidPath)
		})
	}
}

// The Vault stand-in answers a check-and-set mismatch as Vault does: HTTP 400 with Vault's message.
func TestVaultStandInCAS(t *testing.T) {
	env := newVaultEnv(t, AuthToken, vaulttest.TokenSpec{})
	raw, err := api.NewClient(&api.Config{Address: env.srv.URL})
	require.NoError(t, err)
	raw.SetToken(env.opts.VaultToken)
	write := func(cas any) error {
		_, err := raw.Logical().Write("secret/data/dm-manager/gateway/ca",
			map[string]any{"options": map[string]any{"cas": cas}, "data": map[string]any{"k": "v"}})
		return err
	}
	require.NoError(t, write(0), "cas 0 creates a missing path")
	err = write(0)
	var re *api.ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 400, re.StatusCode)
	require.Equal(t, []string{"check-and-set parameter did not match the current version"}, re.Errors)
	require.NoError(t, write(1), "cas equal to the current version writes")
	require.Error(t, write(1))
	require.Error(t, write("x"), "cas must be an integer")
}
