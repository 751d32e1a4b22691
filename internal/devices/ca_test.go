package devices

import (
	"context"
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

	require.NoError(t, cas.Save(ctx, []byte("CERT PEM"), []byte("KEY PEM")))
	cert, key, err := cas.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "CERT PEM", string(cert))
	require.Equal(t, "KEY PEM", string(key))

	require.NoError(t, sec.Put(ctx, secrets.GatewayCA(), map[string]string{secrets.KeyCertPEM: "CERT PEM"}))
	_, _, err = cas.Load(ctx)
	require.ErrorContains(t, err, "lacks")
	require.NotErrorIs(t, err, ciragw.ErrNoCA, "a damaged CA must not be silently replaced")
	require.NoError(t, sec.Delete(ctx, secrets.GatewayCA()))
}
