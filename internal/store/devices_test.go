package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSetDeviceHost(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	seedTenants(t, s, tenantA, tenantB)
	imported, err := s.UpsertDevice(ctx, Device{GUID: guid1, TenantID: tenantA, CIRAUsername: "admin",
		ControlMode: ControlModeACM, ActivationState: StateActivated})
	require.NoError(t, err)
	require.Empty(t, imported.HostResourceID, "an imported device has no host yet")

	require.NoError(t, s.SetDeviceHost(ctx, tenantA, guid1, "host-1234abcd"))
	got, err := s.GetDevice(ctx, guid1)
	require.NoError(t, err)
	require.Equal(t, "host-1234abcd", got.HostResourceID)
	require.False(t, got.UpdatedAt.Before(imported.UpdatedAt))
	want := imported
	want.HostResourceID, want.UpdatedAt = got.HostResourceID, got.UpdatedAt
	require.Equal(t, want, got, "only the host changes")

	require.NoError(t, s.SetDeviceHost(ctx, tenantA, guid1, "host-9876fedc"), "a re-created host relinks")
	got, err = s.GetDevice(ctx, guid1)
	require.NoError(t, err)
	require.Equal(t, "host-9876fedc", got.HostResourceID)

	for _, c := range []struct {
		name, tenant, guid, host string
		err                      error
	}{
		{"another tenant's device", tenantB, guid1, "host-00000000", ErrNotFound},
		{"unknown device", tenantA, guid2, "host-00000000", ErrNotFound},
		{"empty host", tenantA, guid1, "", ErrInvalid},
		{"bad GUID", tenantA, "nope", "host-00000000", ErrInvalid},
		{"bad tenant", "nope", guid1, "host-00000000", ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, s.SetDeviceHost(ctx, c.tenant, c.guid, c.host), c.err)
		})
	}
	got, err = s.GetDevice(ctx, guid1)
	require.NoError(t, err)
	require.Equal(t, "host-9876fedc", got.HostResourceID, "failed calls change nothing")
}
