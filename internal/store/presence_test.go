package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func fleetGUID(i int) string { return fmt.Sprintf("bbbbbbbb-0000-0000-0000-%012d", i) }

// seedFleet records n devices of tenantA.
func seedFleet(t testing.TB, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	_, err := s.UpsertTenant(ctx, Tenant{ID: tenantA})
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, `INSERT INTO devices (guid, tenant_id)
		SELECT ('bbbbbbbb-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, $1::uuid FROM generate_series(0, $2 - 1) i`,
		tenantA, n)
	require.NoError(t, err)
}

func connectBatch(n int, at time.Time, replica string) []Presence {
	batch := make([]Presence, n)
	for i := range batch {
		batch[i] = Presence{GUID: fleetGUID(i), TenantID: tenantA, State: ConnectionConnected, At: at,
			OwnerReplica: replica, OwnerAddress: replica + ":9000", RemoteAddress: "192.0.2.1:50000"}
	}
	return batch
}

func TestApplyPresenceThousand(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	seedFleet(t, s, 1000)
	at := time.Now().UTC().Truncate(time.Microsecond)

	start := time.Now()
	n, err := s.ApplyPresence(ctx, connectBatch(1000, at, "replica-a"))
	t.Logf("ApplyPresence of 1000 rows took %s", time.Since(start))
	require.NoError(t, err)
	require.EqualValues(t, 1000, n)

	d, err := s.GetDevice(ctx, fleetGUID(999))
	require.NoError(t, err)
	require.Equal(t, ConnectionConnected, d.ConnectionState)
	require.Equal(t, "replica-a", d.OwnerReplica)
	require.Equal(t, "replica-a:9000", d.OwnerAddress)
	require.Equal(t, "192.0.2.1:50000", d.RemoteAddress)
	require.True(t, at.Equal(d.ConnectedAt))
	require.True(t, at.Equal(d.LastSeenAt), "zero LastSeen means At")
}

func TestApplyPresenceGuards(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	seedFleet(t, s, 3)
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	g0, g1, g2 := fleetGUID(0), fleetGUID(1), fleetGUID(2)

	n, err := s.ApplyPresence(ctx, []Presence{
		{GUID: g0, TenantID: tenantA, State: ConnectionConnected, At: t0, OwnerReplica: "a"},
		// Same GUID twice: the later entry wins.
		{GUID: g1, TenantID: tenantA, State: ConnectionConnected, At: t0, OwnerReplica: "a"},
		{GUID: g1, TenantID: tenantA, State: ConnectionDisconnected, At: t0.Add(time.Second), OwnerReplica: "a"},
		// Wrong tenant and unknown device are skipped.
		{GUID: g2, TenantID: tenantB, State: ConnectionConnected, At: t0, OwnerReplica: "a"},
		{GUID: "cccccccc-0000-0000-0000-000000000000", TenantID: tenantA, State: ConnectionConnected, At: t0},
	})
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	d1, err := s.GetDevice(ctx, g1)
	require.NoError(t, err)
	require.Equal(t, ConnectionDisconnected, d1.ConnectionState)
	require.Empty(t, d1.OwnerReplica)
	d2, err := s.GetDevice(ctx, g2)
	require.NoError(t, err)
	require.Equal(t, ConnectionNever, d2.ConnectionState)

	// g0 moves to replica b; a's late disconnect (newer time, but a no longer owns it) must not undo that.
	_, err = s.ApplyPresence(ctx, []Presence{{GUID: g0, TenantID: tenantA, State: ConnectionConnected,
		At: t0.Add(2 * time.Second), OwnerReplica: "b"}})
	require.NoError(t, err)
	n, err = s.ApplyPresence(ctx, []Presence{{GUID: g0, TenantID: tenantA, State: ConnectionDisconnected,
		At: t0.Add(3 * time.Second), OwnerReplica: "a"}})
	require.NoError(t, err)
	require.Zero(t, n)
	// A stale connect (older than the latest change) is ignored too.
	n, err = s.ApplyPresence(ctx, []Presence{{GUID: g0, TenantID: tenantA, State: ConnectionConnected,
		At: t0.Add(time.Second), OwnerReplica: "a"}})
	require.NoError(t, err)
	require.Zero(t, n)
	// A keepalive refresh from the owner (same At, later LastSeen) only moves LastSeen.
	n, err = s.ApplyPresence(ctx, []Presence{{GUID: g0, TenantID: tenantA, State: ConnectionConnected,
		At: t0.Add(2 * time.Second), LastSeen: t0.Add(time.Minute), OwnerReplica: "b"}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	d0, err := s.GetDevice(ctx, g0)
	require.NoError(t, err)
	require.Equal(t, "b", d0.OwnerReplica)
	require.True(t, t0.Add(time.Minute).Equal(d0.LastSeenAt))
	require.True(t, t0.Add(2*time.Second).Equal(d0.ConnectedAt))

	for _, bad := range []Presence{
		{GUID: "nope", TenantID: tenantA, State: ConnectionConnected, At: t0},
		{GUID: g0, TenantID: tenantA, State: "never", At: t0},
		{GUID: g0, TenantID: tenantA, State: ConnectionConnected},
	} {
		_, err := s.ApplyPresence(ctx, []Presence{bad})
		require.ErrorIs(t, err, ErrInvalid)
		require.ErrorContains(t, err, "presence[0]")
	}
	n, err = s.ApplyPresence(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, n)
}

func BenchmarkApplyPresence1000(b *testing.B) {
	s := openMigrated(b)
	seedFleet(b, s, 1000)
	ctx := context.Background()
	at := time.Now().UTC()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.ApplyPresence(ctx, connectBatch(1000, at.Add(time.Duration(i)*time.Millisecond), "a")); err != nil {
			b.Fatal(err)
		}
	}
}
