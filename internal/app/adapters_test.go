package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/reconcilers/tenant"
)

func TestActivationPassword(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := storetest.CreateDatabase("dmm_appadapters_test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	st, err := store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Migrate(ctx))
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	sec, err := secrets.Open(ctx, secrets.Options{Backend: secrets.BackendEmbedded,
		Key: base64.StdEncoding.EncodeToString(key)}, st, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(sec.Close)

	static, dynamic := uuid.NewString(), uuid.NewString()
	for id, policy := range map[string]string{static: tenant.PolicyStatic, dynamic: tenant.PolicyDynamic} {
		_, err := st.UpsertTenant(ctx, store.Tenant{ID: id, CIRAServerAddress: "gw.example:4433", PasswordPolicy: policy})
		require.NoError(t, err)
	}
	put := func(path func() (string, error), data map[string]string) {
		p, err := path()
		require.NoError(t, err)
		require.NoError(t, sec.Put(ctx, p, data))
	}
	put(func() (string, error) { return secrets.TenantAMTPassword(static) }, map[string]string{secrets.KeyPassword: "Tenant1!pass"})
	known := uuid.NewString()
	put(func() (string, error) { return secrets.Device(dynamic, known) },
		map[string]string{secrets.KeyAMTPassword: "Device1!pass"})

	p := activationPasswords{st: st, sec: sec}
	tests := []struct {
		name, tenant, guid string
		want               string // "" with wantErr false: any non-empty password
		wantErr            bool
	}{
		{"static: the tenant's password", static, uuid.NewString(), "Tenant1!pass", false},
		{"dynamic: the device's stored password", dynamic, known, "Device1!pass", false},
		{"dynamic: a fresh password for a new device", dynamic, uuid.NewString(), "", false},
		{"tenant not set up yet", uuid.NewString(), uuid.NewString(), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.ActivationPassword(ctx, tc.tenant, tc.guid)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			if tc.want != "" {
				require.Equal(t, tc.want, got)
			} else {
				require.GreaterOrEqual(t, len(got), 8)
			}
		})
	}
}

func TestGatewayNames(t *testing.T) {
	require.Equal(t, []string{"mps.example.com", "localhost", "127.0.0.1"}, gatewayNames("mps.example.com:4433"))
	require.Equal(t, []string{"localhost", "127.0.0.1"}, gatewayNames("localhost:4433"))
	require.Equal(t, []string{"10.0.0.5", "localhost", "127.0.0.1"}, gatewayNames("10.0.0.5:4433"))
}
