package host

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
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

	w, clock, start, id := withStore(t, st, provisionedHost(psOff, ordered))
	guid := w.host.GetUuid()

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
	require.Equal(t, phaseSoftAccepted, e.Step, "AMT accepted the soft off")
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

// errKilled stands for kill -9 of the replica at the moment it sends: the intent is in Postgres, nothing after it.
var errKilled = errors.New("replica killed while sending")

// A RESET journaled as in flight by a replica killed before its request went out: the replica that takes the device
// over never sends it again, and once its time is up reports the outcome as unknown, not "Reset done" (the host
// reads "on" with or without the reset). The journal is in a real Postgres, written by the killed replica itself.
func TestEdgeInFlightOnKilledReplicaWithRealStore(t *testing.T) {
	ctx := context.Background()
	st := testdb.Store(t, "dmm_reconcilers_test")
	for _, c := range []struct {
		name   string
		policy computev1.PowerCommandPolicy
		phase  string
		action amt.PowerState
		wait   time.Duration
	}{
		{"ORDERED soft reset", ordered, phaseSoftSent, amt.MasterBusResetGraceful, 31 * time.Second},
		{"IMMEDIATE hard reset", immediate, phaseHardIntent, amt.MasterBusReset, 11 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := provisionedHost(psReset, c.policy)
			h.Uuid = uuid.NewString() // one database for both cases
			w, clock, start, id := withStore(t, st, h)
			guid := w.host.GetUuid()

			// The first replica journals the reset and dies as it sends: AMT never gets it.
			w.onSend = func(amt.PowerState) { panic(errKilled) }
			killed := start()
			func() {
				defer func() {
					if r := recover(); r != nil && r != errKilled { //nolint:errorlint // the sentinel itself
						panic(r)
					}
				}()
				killed.reconcile(ctx, id)
			}()
			killed.Stop()
			e, err := st.GetJournal(ctx, guid, store.OpPower)
			require.NoError(t, err)
			require.Equal(t, c.phase, e.Step, "the intent is in Postgres")
			w.mu.Lock()
			w.onSend = nil
			w.mu.Unlock()
			before := len(w.log())

			// The new owner: nothing is sent before the reset's time is up, then AMT is read, not asked again.
			next := start()
			require.Positive(t, next.reconcile(ctx, id).After)
			clock.Add(c.wait)
			next.reconcile(ctx, id)
			next.reconcile(ctx, id) // a later reconcile does not send it either
			for _, ev := range w.log()[before:] {
				require.False(t, strings.HasPrefix(ev, "send "), "a possibly-sent reset is never re-sent: %s", ev)
			}
			require.Equal(t, computev1.PowerState_POWER_STATE_RESET, w.host.GetCurrentPowerState())
			require.Equal(t, idle, w.host.GetPowerStatusIndicator())
			require.True(t, strings.HasPrefix(w.host.GetPowerStatus(), "Reset outcome unknown: "), w.host.GetPowerStatus())
			e, err = st.GetJournal(ctx, guid, store.OpPower)
			require.NoError(t, err)
			require.Equal(t, phaseDone, e.Step, "the request is over: never sent again")
		})
	}
}

// withStore registers h's tenant and activated device in st and returns h's world with st as its device store and
// journal, the clock of its reconcilers, a start that makes one (stopped when the test ends), and h's id.
func withStore(t *testing.T, st *store.Store, h *computev1.HostResource) (*world, *fakeClock, func() *Reconciler, ID) {
	t.Helper()
	ctx := context.Background()
	w := newWorld(h)
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
	return w, clock, start, NewID(tenant, guid)
}
