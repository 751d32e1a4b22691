package devices

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/secrets"
)

func TestCAStore(t *testing.T) {
	_, sec := backends(t)
	ctx := context.Background()
	require.NoError(t, sec.Delete(ctx, secrets.GatewayCA()))
	cas := NewCAStore(sec)

	_, _, err := cas.Load(ctx)
	require.ErrorIs(t, err, ciragw.ErrNoCA)

	cert, key, err := cas.Create(ctx, []byte("CERT PEM"), []byte("KEY PEM"))
	require.NoError(t, err)
	require.Equal(t, "CERT PEM", string(cert))
	require.Equal(t, "KEY PEM", string(key))
	cert, key, err = cas.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "CERT PEM", string(cert))
	require.Equal(t, "KEY PEM", string(key))
	cert, key, err = cas.Create(ctx, []byte("OTHER CERT"), []byte("OTHER KEY"))
	require.NoError(t, err)
	require.Equal(t, "CERT PEM", string(cert), "a stored CA is kept and returned")
	require.Equal(t, "KEY PEM", string(key))

	require.NoError(t, sec.Put(ctx, secrets.GatewayCA(), map[string]string{secrets.KeyCertPEM: "CERT PEM"}))
	_, _, err = cas.Load(ctx)
	require.ErrorContains(t, err, "lacks")
	require.NotErrorIs(t, err, ciragw.ErrNoCA, "a damaged CA must not be silently replaced")
	require.NoError(t, sec.Delete(ctx, secrets.GatewayCA()))
}

// Two replicas starting on an empty secrets store at once generate a CA each; both end up with the one stored.
func TestCAConcurrentCreate(t *testing.T) {
	_, sec := backends(t)
	ctx := context.Background()
	require.NoError(t, sec.Delete(ctx, secrets.GatewayCA()))
	t.Cleanup(func() { _ = sec.Delete(context.Background(), secrets.GatewayCA()) })

	var cas [2]*ciragw.CA
	var errs [2]error
	var wg sync.WaitGroup
	for i := range cas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cas[i], errs[i] = ciragw.LoadOrCreateCA(ctx, NewCAStore(sec))
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, cas[0].RootPEM(), cas[1].RootPEM(), "one CA for both")
	cert, _, err := NewCAStore(sec).Load(ctx)
	require.NoError(t, err)
	require.Equal(t, string(cas[0].RootPEM()), string(cert), "and it is the stored one")
}
