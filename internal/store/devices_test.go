package store

import (
	"context"
	"testing"
	"time"

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

// TestGetDeviceReadsEveryColumn: scanDevice reads by position, so every column gets a distinct value here and
// must land in its own field, through GetDevice and ListDevicesByTenant alike.
func TestGetDeviceReadsEveryColumn(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	seedTenants(t, s, tenantA)
	_, err := s.UpsertDevice(ctx, Device{GUID: guid1, TenantID: tenantA, HostResourceID: "host-0000abcd",
		CIRAUsername: "cira-user", ControlMode: ControlModeACM, ActivationState: StateActivated, DNSSuffix: "vpro.example",
		AMTVersion: "16.1.27", AMTBuild: "2225", AMTSKU: "16392"})
	require.NoError(t, err)
	require.NoError(t, s.MergeDeviceFacts(ctx, guid1, map[string]string{"fqdn": "node.vpro.example"}))
	connected := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Minute)
	seen := connected.Add(30 * time.Second)
	_, err = s.ApplyPresence(ctx, []Presence{{GUID: guid1, TenantID: tenantA, State: ConnectionConnected, At: connected,
		LastSeen: seen, OwnerReplica: "replica-a", OwnerAddress: "10.0.0.1:9000", RemoteAddress: "192.0.2.7:50000"}})
	require.NoError(t, err)

	check := func(d Device) {
		t.Helper()
		require.Equal(t, guid1, d.GUID)
		require.Equal(t, tenantA, d.TenantID)
		require.Equal(t, "host-0000abcd", d.HostResourceID)
		require.Equal(t, "cira-user", d.CIRAUsername)
		require.Equal(t, ControlModeACM, d.ControlMode)
		require.Equal(t, StateActivated, d.ActivationState)
		require.Equal(t, "vpro.example", d.DNSSuffix)
		require.Equal(t, "16.1.27", d.AMTVersion)
		require.Equal(t, "2225", d.AMTBuild)
		require.Equal(t, "16392", d.AMTSKU)
		require.Equal(t, ConnectionConnected, d.ConnectionState)
		require.Equal(t, "replica-a", d.OwnerReplica)
		require.Equal(t, "10.0.0.1:9000", d.OwnerAddress)
		require.Equal(t, "192.0.2.7:50000", d.RemoteAddress)
		require.True(t, d.ConnectedAt.Equal(connected), "connected_at %s", d.ConnectedAt)
		require.True(t, d.LastSeenAt.Equal(seen), "last_seen_at %s", d.LastSeenAt)
		require.True(t, d.DisconnectedAt.IsZero(), "NULL disconnected_at reads as zero")
		require.JSONEq(t, `{"fqdn": "node.vpro.example"}`, string(d.Facts))
		require.False(t, d.CreatedAt.IsZero())
		require.False(t, d.UpdatedAt.Before(d.CreatedAt))
	}
	got, err := s.GetDevice(ctx, guid1)
	require.NoError(t, err)
	check(got)
	all, err := s.ListDevicesByTenant(ctx, tenantA)
	require.NoError(t, err)
	require.Len(t, all, 1)
	check(all[0])

	gone := connected.Add(time.Minute)
	_, err = s.ApplyPresence(ctx, []Presence{{GUID: guid1, TenantID: tenantA, State: ConnectionDisconnected, At: gone,
		OwnerReplica: "replica-a"}})
	require.NoError(t, err)
	got, err = s.GetDevice(ctx, guid1)
	require.NoError(t, err)
	require.Equal(t, ConnectionDisconnected, got.ConnectionState)
	require.True(t, got.DisconnectedAt.Equal(gone), "disconnected_at %s", got.DisconnectedAt)
	require.True(t, got.ConnectedAt.Equal(connected))
}
