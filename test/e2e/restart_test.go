package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// TestRestartMidSequence stops dm-manager right after it asked a hung OS to shut down (graceful off sent, journal
// written), then starts a new one on the same database: the new process picks the ORDERED sequence up where it
// was, forces the hard off once the soft timeout has passed, and neither the graceful nor the hard off reaches the
// device twice.
func TestRestartMidSequence(t *testing.T) {
	d := startDM(t, "dmm_e2e_restart_test")
	tenant := d.newTenant(t)
	dev := d.provisioned(t, tenant, 1)[0]
	id := online(t, d, tenant, dev, ordered)
	rootCA := d.ready.GatewayRootCAPEM

	dev.SetOSHung(true)
	setDesiredPower(t, tenant, id, psOff)
	ctx := context.Background()
	// What the device received and the journal's record of a hard action are asserted, not the reconciler's step
	// names: they are its own business.
	eventually(t, waitLong, "graceful off journaled and received", func() (bool, string) {
		if _, err := d.st.GetJournal(ctx, dev.guid, store.OpPower); err != nil {
			return false, "journal: " + errText(err)
		}
		return powerRequests(t, dev)[auditSoftOff] == 1, "the device has not received the graceful off"
	})

	d.stopRun(t)
	stoppedAt := time.Now()
	dev.waitLink(t, false)
	e, err := d.st.GetJournal(ctx, dev.guid, store.OpPower)
	require.NoError(t, err, "the power request in flight survives the stop")
	require.False(t, e.HardActionSent)
	require.Equal(t, map[int]int{auditSoftOff: 1}, powerRequests(t, dev))
	require.Equal(t, amtsim.PowerOn, dev.State().PowerState, "the hung OS ignored the graceful off")

	d.run(t)
	t.Logf("restarted after %s", time.Since(stoppedAt).Round(time.Millisecond))
	require.Equal(t, rootCA, d.ready.GatewayRootCAPEM, "the gateway CA is kept in the secrets, so devices still trust it")
	dev.waitLink(t, true)
	d.watch.waitHost(t, id, "powered off", powerIs(psOff, "Powered off"))
	dev.waitState(t, "powered off", poweredOff)

	require.Equal(t, map[int]int{auditSoftOff: 1, auditPowerOff: 1}, powerRequests(t, dev),
		"one graceful off before the restart, one hard off after it")
	require.Contains(t, d.watch.powerTexts(id), "Soft power off timed out after 2s, forcing hard power off")
	e, err = d.st.GetJournal(ctx, dev.guid, store.OpPower)
	require.NoError(t, err)
	require.True(t, e.HardActionSent, "the hard off is recorded as possibly sent, so it is never sent again")
}

// TestRestartAfterLostHardAction: AMT carries out a hard power cycle but its answer is lost (the network goes at
// that moment), and dm-manager is stopped before it learns more. The cycle may have happened, so it must never be
// sent again: once AMT has had time to act, the new process reads the power state, which shows the host on as it was
// before, and reports the cycle's outcome as unknown.
// A power cycle rather than an off, because a second one would be carried out (and audited) by the device.
func TestRestartAfterLostHardAction(t *testing.T) {
	d := startDM(t, "dmm_e2e_restart_lost_test")
	tenant := d.newTenant(t)
	var fired, wentOff atomic.Bool
	cut := make(chan struct{})
	var dev *simDevice
	dev = newDevice(t, amtsim.Config{OnChange: func(_ *amtsim.Device, s amtsim.State) {
		// Runs in the WS-Man handler right after AMT accepted the request, before the answer is written.
		if n, _ := auditCounts(dev); n[auditPowerCycle] == 1 && fired.CompareAndSwap(false, true) {
			dev.SetReachable(false) // calls this hook again, which then does nothing
			close(cut)
		}
		if fired.Load() && s.PowerState == amtsim.PowerOff {
			wentOff.Store(true)
		}
	}})
	id := d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.PowerCommandPolicy = immediate
	}).GetResourceId()
	d.activated(t, dev, tenant)
	d.connect(dev)
	dev.waitLink(t, true)
	d.watch.waitHost(t, id, "provisioned and on", func(h *computev1.HostResource) bool {
		return amtIs(amtProvisioned, "AMT connected")(h) && powerIs(psOn, "Powered on")(h)
	})

	setDesiredPower(t, tenant, id, psCycle)
	select {
	case <-cut:
	case <-time.After(waitLong):
		t.Fatal("the power cycle never reached the device")
	}
	dev.waitLink(t, false)
	// The cycle runs its course on the host: off, then on again with the OS up.
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err := dev.WaitFor(ctx, func(s amtsim.State) bool {
		return wentOff.Load() && s.PowerState == amtsim.PowerOn && s.OSRunning
	})
	require.NoError(t, err)
	d.stopRun(t)
	e, err := d.st.GetJournal(ctx, dev.guid, store.OpPower)
	require.NoError(t, err)
	t.Logf("journal after the stop: step %q, hard action sent %v", e.Step, e.HardActionSent)

	d.run(t)
	dev.SetReachable(true)
	dev.waitLink(t, true)
	h := d.watch.waitHost(t, id, "power cycle reported", powerIs(psCycle, ""))
	require.Equal(t, map[int]int{auditPowerCycle: 1}, powerRequests(t, dev), "the power cycle is never sent twice")
	// The host reads "on" after a power cycle as before it: from AMT's state alone it cannot be told whether it ran.
	require.Equal(t, "Power cycle outcome unknown: the request may or may not have reached AMT (its answer was lost, "+
		"or dm-manager stopped while sending it) and the host reads on either way; not repeated, to avoid a second "+
		"power cycle (request it anew to retry)", h.GetPowerStatus())
}
