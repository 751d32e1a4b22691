package host

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
)

func TestWhoActs(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	connected := func(owner string, seenAgo time.Duration, at time.Time) *store.Device {
		return &store.Device{ConnectionState: store.ConnectionConnected, OwnerReplica: owner,
			ConnectedAt: at, LastSeenAt: now.Add(-seenAgo)}
	}
	disconnected := &store.Device{ConnectionState: store.ConnectionDisconnected, DisconnectedAt: now.Add(-time.Minute)}
	never := &store.Device{ConnectionState: store.ConnectionNever}
	for _, c := range []struct {
		name    string
		f       actorFacts
		act     bool
		because string
	}{
		{"local session, recorded as ours", actorFacts{Local: true, SessionAt: now.Add(-time.Hour),
			Dev: connected("a", time.Minute, now.Add(-time.Hour))}, true, "holds the device's session"},
		{"local session not recorded yet (presence batch pending)", actorFacts{Local: true, SessionAt: now.Add(-time.Second),
			Dev: connected("b", time.Minute, now.Add(-time.Hour))}, true, "holds the device's session"},
		{"local session, no record", actorFacts{Local: true, SessionAt: now}, true, "holds"},
		{"local copy older than the session another replica took over", actorFacts{Local: true,
			SessionAt: now.Add(-time.Hour), Dev: connected("b", 0, now.Add(-time.Second))}, false, "newer session is on replica b"},
		{"another replica's fresh session, we lead", actorFacts{Leading: true,
			Dev: connected("b", time.Minute, now.Add(-time.Hour))}, false, "replica b holds"},
		{"another replica's fresh session, we do not lead", actorFacts{
			Dev: connected("b", time.Minute, now.Add(-time.Hour))}, false, "replica b holds"},
		{"stale session of a dead replica, we lead", actorFacts{Leading: true,
			Dev: connected("b", time.Hour, now.Add(-2*time.Hour))}, true, "connected nowhere and this replica leads"},
		{"stale session of a dead replica, we do not lead", actorFacts{
			Dev: connected("b", time.Hour, now.Add(-2*time.Hour))}, false, "the leader replica handles it"},
		{"our own record, no local session (restart), we lead", actorFacts{Leading: true,
			Dev: connected("a", time.Minute, now.Add(-time.Hour))}, true, "connected nowhere"},
		{"our own record, no local session, we do not lead", actorFacts{
			Dev: connected("a", time.Minute, now.Add(-time.Hour))}, false, "leader replica handles it"},
		{"disconnected, leader", actorFacts{Leading: true, Dev: disconnected}, true, "connected nowhere"},
		{"disconnected, not leader", actorFacts{Dev: disconnected}, false, "leader replica handles it"},
		{"never connected, leader", actorFacts{Leading: true, Dev: never}, true, "connected nowhere"},
		{"never connected, not leader", actorFacts{Dev: never}, false, "leader"},
		{"no record (deleted or never seen), leader", actorFacts{Leading: true}, true, "connected nowhere"},
		{"no record, not leader", actorFacts{}, false, "leader"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.f.Self, c.f.Now, c.f.StaleAfter = "a", now, 3*time.Minute
			act, why := whoActs(c.f)
			require.Equal(t, c.act, act, why)
			require.Contains(t, why, c.because)
		})
	}
}

// Two host reconcilers (replicas a and b) on one database: for a connected device only the replica holding its
// session acts; for a device connected nowhere only the leader does, and that moves with the leadership. The
// other replica acknowledges without reading or writing Inventory.
func TestTwoReplicasOneDatabase(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := storetest.CreateDatabase("dmm_reconcilers_actor_test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	st, err := store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Migrate(ctx))

	// Each replica sees Inventory and AMT through its own recorder, so the test can tell who did what.
	wa, wb := newWorld(provisionedHost(psOff, immediate)), newWorld(provisionedHost(psOff, immediate))
	tenant, guid := wa.host.GetTenantId(), wa.host.GetUuid()
	_, err = st.UpsertTenant(ctx, store.Tenant{ID: tenant})
	require.NoError(t, err)
	_, err = st.UpsertDevice(ctx, store.Device{GUID: guid, TenantID: tenant, HostResourceID: wa.host.GetResourceId(),
		ActivationState: store.StateActivated})
	require.NoError(t, err)
	presence := func(state store.ConnectionState, at time.Time) {
		_, err := st.ApplyPresence(ctx, []store.Presence{{GUID: guid, TenantID: tenant, State: state, At: at,
			LastSeen: time.Now(), OwnerReplica: "replica-a"}})
		require.NoError(t, err)
	}
	wb.local = false // b never holds the session

	const lockKey = 0x746573745f686f73
	la, lb := st.NewLeader("hosts-test", lockKey, "replica-a"), st.NewLeader("hosts-test", lockKey, "replica-b")
	t.Cleanup(la.Close)
	t.Cleanup(lb.Close)
	lead, err := lb.IsLeader(ctx)
	require.NoError(t, err)
	require.True(t, lead, "b leads")

	replica := func(w *world, id string, l Leader) *Reconciler {
		deps := w.deps()
		deps.Devices, deps.Journal, deps.Leader = st, st, l
		p := testParams
		p.ReplicaID = id
		r, err := New(Config{Params: p, Log: zerolog.Nop()}, deps)
		require.NoError(t, err)
		t.Cleanup(r.Stop)
		return r
	}
	ra, rb := replica(wa, "replica-a", la), replica(wb, "replica-b", lb)
	id := NewID(tenant, guid)
	untouched := func(w *world) {
		t.Helper()
		w.mu.Lock()
		defer w.mu.Unlock()
		require.Empty(t, w.events)
		require.Zero(t, w.writes+w.readsByID+w.readsByUUID, "no Inventory read or write")
	}
	reset := func(w *world) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.events, w.writes, w.readsByID, w.readsByUUID = nil, 0, 0, 0
	}

	// Connected to a: a powers the host off, b (the leader) acknowledges only.
	presence(store.ConnectionConnected, time.Now().Add(-time.Hour))
	require.NoError(t, rb.reconcile(ctx, id).Err)
	untouched(wb)
	require.NoError(t, ra.reconcile(ctx, id).Err)
	require.Contains(t, strings.Join(wa.log(), "\n"), "send 8", "the owner sends the power off")

	// The device leaves a: connected nowhere, so the leader b reports it, and a (no longer holding it) does not.
	reset(wa)
	wa.mu.Lock()
	wa.local = false
	wa.mu.Unlock()
	presence(store.ConnectionDisconnected, time.Now().Add(-10*time.Minute))
	require.NoError(t, ra.reconcile(ctx, id).Err)
	untouched(wa)
	rb.reconcile(ctx, id)
	require.Contains(t, strings.Join(wb.log(), "\n"), "amt AMT_STATE_DISCONNECTED", "the leader reports it")

	// Leadership moves to a: now a handles the unconnected device and b acknowledges.
	reset(wa)
	reset(wb)
	lb.Close()
	lead, err = la.IsLeader(ctx)
	require.NoError(t, err)
	require.True(t, lead)
	require.NoError(t, rb.reconcile(ctx, id).Err)
	untouched(wb)
	ra.reconcile(ctx, id)
	require.NotEmpty(t, wa.log(), "the new leader acts")
}
