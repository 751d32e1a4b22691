package devices

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/store"
)

func TestWritePresence(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	a, b := recordDevice(t, st, sec, tenant), recordDevice(t, st, sec, tenant)
	var logs bytes.Buffer
	w := NewPresenceWriter(st, "replica-1", "10.0.0.1:9000", zerolog.New(&logs))

	at := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, w.WritePresence(ctx, []ciragw.Presence{
		{GUID: a.guid, Tenant: tenant, State: ciragw.PresenceConnected, At: at, LastSeen: at, Remote: "192.0.2.7:50123"},
		{GUID: b.guid, Tenant: tenant, State: ciragw.PresenceConnected, At: at, Remote: "192.0.2.8:50124"},
		{GUID: "not-a-guid", Tenant: tenant, State: ciragw.PresenceConnected, At: at},
		{GUID: b.guid, Tenant: "tenant-1", State: ciragw.PresenceConnected, At: at},
		{GUID: b.guid, Tenant: tenant, State: "sleeping", At: at},
	}))
	require.Contains(t, logs.String(), "not-a-guid", "dropped records are logged")

	d, err := st.GetDevice(ctx, a.guid)
	require.NoError(t, err)
	require.Equal(t, store.ConnectionConnected, d.ConnectionState)
	require.Equal(t, "replica-1", d.OwnerReplica)
	require.Equal(t, "10.0.0.1:9000", d.OwnerAddress)
	require.Equal(t, "192.0.2.7:50123", d.RemoteAddress)
	require.True(t, at.Equal(d.ConnectedAt))

	later := at.Add(time.Second)
	require.NoError(t, w.WritePresence(ctx, []ciragw.Presence{
		{GUID: a.guid, Tenant: tenant, State: ciragw.PresenceDisconnected, At: later, LastSeen: later},
	}))
	d, err = st.GetDevice(ctx, a.guid)
	require.NoError(t, err)
	require.Equal(t, store.ConnectionDisconnected, d.ConnectionState)
	require.Empty(t, d.OwnerReplica)
	require.True(t, later.Equal(d.DisconnectedAt))

	// Nothing valid in the batch: nothing to write, no error (the gateway would retry it forever).
	require.NoError(t, w.WritePresence(ctx, []ciragw.Presence{{GUID: "x", Tenant: tenant, State: ciragw.PresenceConnected, At: at}}))

	// A store failure is returned so that the gateway retries the batch.
	broken, err := store.Open(ctx, testDSN, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	broken.Close()
	err = NewPresenceWriter(broken, "r", "a", zerolog.Nop()).WritePresence(ctx, []ciragw.Presence{
		{GUID: a.guid, Tenant: tenant, State: ciragw.PresenceConnected, At: later.Add(time.Second)}})
	require.ErrorContains(t, err, "recording CIRA presence of 1 devices")
}
