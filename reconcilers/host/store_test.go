package host

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/testdb"
)

// An ORDERED power off across two restarts, with the journal in a real Postgres: the soft off survives the first
// restart and times out into the hard off, whose intent is in the database before AMT is asked; its answer is
// lost, the process restarts again, and the new one confirms from the state instead of sending it again.
func TestJournalResumeWithRealStore(t *testing.T) {
	ctx := context.Background()
	st := testdb.Store(t, "dmm_reconcilers_test")

	w := newWorld(provisionedHost(psOff, ordered))
	tenant, guid := w.host.GetTenantId(), w.host.GetUuid()
	_, err := st.UpsertTenant(ctx, store.Tenant{ID: tenant})
	require.NoError(t, err)
	_, err = st.UpsertDevice(ctx, store.Device{GUID: guid, TenantID: tenant, ActivationState: store.StateActivated})
	require.NoError(t, err)
	deps := w.deps()
	deps.Devices, deps.Journal = st, st
	clock := &fakeClock{t: time.Now()}
	start := func() *Reconciler {
		r, err := New(Config{Params: testParams, Log: zerolog.Nop(), Clock: clock.Now}, deps)
		require.NoError(t, err)
		t.Cleanup(r.Stop)
		return r
	}
	id := NewID(tenant, guid)

	// Process 1: soft off sent; the OS ignores it; the process dies.
	first := start()
	require.Equal(t, 5*time.Second, first.reconcile(ctx, id).After)
	d, err := st.GetDevice(ctx, guid)
	require.NoError(t, err)
	require.Equal(t, w.host.GetResourceId(), d.HostResourceID, "the record is linked to its host")
	w.mu.Lock()
	w.amt = amt.PowerOn
	w.mu.Unlock()
	first.Stop()
	e, err := st.GetJournal(ctx, guid, store.OpPower)
	require.NoError(t, err)
	require.Equal(t, phaseSoftSent, e.Step)
	require.False(t, e.HardActionSent)

	// Process 2, after the soft timeout: the sweep finds the due entry; the hard off is journaled before it is
	// sent; its answer is lost; the process dies.
	clock.Add(31 * time.Second)
	second := start()
	due, err := st.ListDueJournal(ctx, clock.Now())
	require.NoError(t, err)
	require.Len(t, due, 1)
	w.sendErr = context.DeadlineExceeded
	w.onSend = func(v amt.PowerState) {
		if v == amt.PowerOffSoft {
			e, err := st.GetJournal(ctx, guid, store.OpPower)
			require.NoError(t, err)
			require.Equal(t, phaseHardIntent, e.Step)
			require.True(t, e.HardActionSent, "hard_action_sent must be in Postgres before the request")
		}
	}
	require.Equal(t, 10*time.Second, second.reconcile(ctx, id).After)
	w.mu.Lock()
	w.amt = amt.PowerOffSoft // AMT did act
	w.mu.Unlock()
	second.Stop()

	// Process 3: confirms from the state, never resends.
	clock.Add(11 * time.Second)
	third := start()
	third.reconcile(ctx, id)
	log := strings.Join(w.log(), "\n")
	require.Equal(t, 1, strings.Count(log, "send 12"))
	require.Equal(t, 1, strings.Count(log, "send 8"))
	require.Equal(t, "Powered off", w.host.PowerStatus)
	e, err = st.GetJournal(ctx, guid, store.OpPower)
	require.NoError(t, err)
	require.Equal(t, phaseDone, e.Step)
	require.True(t, e.HardActionSent)
	require.True(t, e.DeadlineAt.IsZero(), "a finished request is not due again")
	require.Equal(t, 3, w.writes, "Inventory writes for an ORDERED off that timed out")
}
