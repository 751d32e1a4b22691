package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
)

const (
	psOn    = computev1.PowerState_POWER_STATE_ON
	psOff   = computev1.PowerState_POWER_STATE_OFF
	psReset = computev1.PowerState_POWER_STATE_RESET
	psCycle = computev1.PowerState_POWER_STATE_POWER_CYCLE

	amtProvisioned   = computev1.AmtState_AMT_STATE_PROVISIONED
	amtUnprovisioned = computev1.AmtState_AMT_STATE_UNPROVISIONED
	amtDisconnected  = computev1.AmtState_AMT_STATE_DISCONNECTED

	ordered   = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED
	immediate = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_IMMEDIATE
)

// TestProvisioned covers devices that were activated before dm-manager knew them (issue "Reconcilers" part 5):
// imported with their credentials, their CIRA tunnels come up, and every power request, a network cut,
// deactivation and tenant isolation are checked through Inventory and on the devices themselves. Each scenario
// has its own device and host, so they run in parallel against one dm-manager.
func TestProvisioned(t *testing.T) {
	d := startDM(t, "dmm_e2e_provisioned_test")
	tenant := d.newTenant(t)
	other := d.newTenant(t)

	scenarios := []struct {
		name string
		run  func(t *testing.T, d *dm, tenant, other string, dev *simDevice)
	}{
		{"ordered off, OS shuts down", orderedOff},
		{"ordered off, OS hung", orderedOffHung},
		{"immediate off", immediateOff},
		{"reset", reset},
		{"power cycle", powerCycle},
		{"network cut and reconnect", networkCut},
		{"deactivation", deactivation},
		{"tenant isolation", tenantIsolation},
	}
	devs := d.provisioned(t, tenant, len(scenarios))
	t.Run("scenarios", func(t *testing.T) {
		for i, sc := range scenarios {
			dev := devs[i]
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				sc.run(t, d, tenant, other, dev)
			})
		}
	})
}

// online registers a host for dev (vPro enabled, desired power ON, policy as given), brings the device's tunnel
// up and waits until Inventory shows it provisioned, connected and on.
func online(t *testing.T, d *dm, tenant string, dev *simDevice, policy computev1.PowerCommandPolicy) string {
	t.Helper()
	h := d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.PowerCommandPolicy = policy
	})
	d.connect(dev)
	dev.waitLink(t, true)
	id := h.GetResourceId()
	d.watch.waitHost(t, id, "provisioned and on", func(h *computev1.HostResource) bool {
		return amtIs(amtProvisioned, "AMT connected")(h) && powerIs(psOn, "Powered on")(h)
	})
	return id
}

func orderedOff(t *testing.T, d *dm, tenant, _ string, dev *simDevice) {
	id := online(t, d, tenant, dev, ordered)
	setDesiredPower(t, tenant, id, psOff)
	d.watch.waitHost(t, id, "powered off", powerIs(psOff, "Powered off"))

	require.Equal(t, amtsim.PowerOff, dev.State().PowerState)
	require.Equal(t, map[int]int{auditSoftOff: 1}, powerRequests(t, dev), "one graceful off, no hard off")
	require.Contains(t, d.watch.powerTexts(id), softText)
}

// softText is the status while an ORDERED off waits for the OS (-softPowerTimeout=2s).
const softText = "Powering off: shutdown requested from the OS; hard power off after 2s if it does not finish"

func orderedOffHung(t *testing.T, d *dm, tenant, _ string, dev *simDevice) {
	id := online(t, d, tenant, dev, ordered)
	dev.SetOSHung(true)
	asked := time.Now()
	setDesiredPower(t, tenant, id, psOff)
	d.watch.waitHost(t, id, "powered off", powerIs(psOff, "Powered off"))

	require.GreaterOrEqual(t, time.Since(asked), softPowerTimeout, "hard off only after the soft timeout")
	// AMT accepted the hard off, which is what Inventory reports; the host goes down within PowerDelay.
	dev.waitState(t, "powered off", poweredOff)
	require.Equal(t, map[int]int{auditSoftOff: 1, auditPowerOff: 1}, powerRequests(t, dev))
	texts := d.watch.powerTexts(id)
	require.Contains(t, texts, softText)
	require.Contains(t, texts, "Soft power off timed out after 2s, forcing hard power off")
}

func immediateOff(t *testing.T, d *dm, tenant, _ string, dev *simDevice) {
	id := online(t, d, tenant, dev, immediate)
	setDesiredPower(t, tenant, id, psOff)
	d.watch.waitHost(t, id, "powered off", powerIs(psOff, "Powered off"))

	dev.waitState(t, "powered off", poweredOff)
	require.Equal(t, map[int]int{auditPowerOff: 1}, powerRequests(t, dev), "the hard off at once, nothing graceful")
	require.NotContains(t, d.watch.powerTexts(id), softText)
}

func reset(t *testing.T, d *dm, tenant, _ string, dev *simDevice) {
	id := online(t, d, tenant, dev, ordered)
	setDesiredPower(t, tenant, id, psReset)
	d.watch.waitHost(t, id, "reset done", powerIs(psReset, "Reset done"))

	require.Equal(t, map[int]int{auditSoftReset: 1}, powerRequests(t, dev), "ORDERED: the OS restarts the host")
	dev.waitState(t, "on with the OS running", runningOS)
	require.Contains(t, d.watch.powerTexts(id), "Resetting: restart requested from the OS")
}

func powerCycle(t *testing.T, d *dm, tenant, _ string, dev *simDevice) {
	id := online(t, d, tenant, dev, ordered)
	setDesiredPower(t, tenant, id, psCycle)
	d.watch.waitHost(t, id, "power cycle done", powerIs(psCycle, "Power cycle done"))

	dev.waitState(t, "on with the OS running", runningOS)
	require.Equal(t, map[int]int{auditPowerCycle: 1}, powerRequests(t, dev))
}

func networkCut(t *testing.T, d *dm, tenant, _ string, dev *simDevice) {
	id := online(t, d, tenant, dev, ordered)
	cut := time.Now()
	dev.SetReachable(false)
	dev.waitLink(t, false)
	h := d.watch.waitHost(t, id, "disconnected", amtIs(amtDisconnected, ""))
	require.GreaterOrEqual(t, time.Since(cut), disconnectGrace, "DISCONNECTED only after the grace period")
	require.Equal(t, "AMT disconnected for more than 2s: check the host's network and that it can reach "+advertisedCIRA,
		h.GetAmtStatus())
	d.watch.waitHost(t, id, "power unknown", powerIs(computev1.PowerState_POWER_STATE_UNSPECIFIED,
		"Power state unknown: AMT disconnected"))

	dev.SetReachable(true)
	dev.waitLink(t, true)
	d.watch.waitHost(t, id, "connected again and on", func(h *computev1.HostResource) bool {
		return amtIs(amtProvisioned, "AMT connected")(h) && powerIs(psOn, "Powered on")(h)
	})
	require.Empty(t, powerRequests(t, dev), "a reconnect sends no power request")
}

func deactivation(t *testing.T, d *dm, tenant, _ string, dev *simDevice) {
	id := online(t, d, tenant, dev, ordered)
	setDesiredAMT(t, tenant, id, amtUnprovisioned)
	d.watch.waitHost(t, id, "deactivated", amtIs(amtUnprovisioned, "AMT deactivated"))

	s := dev.waitState(t, "unprovisioned", func(s amtsim.State) bool { return s.Mode == amtsim.PreProvisioning })
	require.False(t, s.CIRAConfigured, "unprovisioning clears AMT's CIRA configuration")
	dev.waitLink(t, false)

	ctx := context.Background()
	eventually(t, waitLong, "device record and secrets dropped", func() (bool, string) {
		_, err := d.st.GetDevice(ctx, dev.guid)
		if !errors.Is(err, store.ErrNotFound) {
			return false, "device record: " + errText(err)
		}
		p, perr := secrets.Device(tenant, dev.guid)
		require.NoError(t, perr)
		_, err = d.sec.Get(ctx, p)
		return errors.Is(err, secrets.ErrNotFound), "device secrets: " + errText(err)
	})
}

func errText(err error) string {
	if err == nil {
		return "still there"
	}
	return err.Error()
}

// tenantIsolation: another tenant's agent or user learns nothing about, and can do nothing to, this tenant's device.
func tenantIsolation(t *testing.T, d *dm, tenant, other string, dev *simDevice) {
	online(t, d, tenant, dev, ordered)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &pb.ActivationRequest{HostId: dev.guid}

	_, err := d.sb.RetrieveActivationDetails(agentCtx(ctx, t, tenant), req)
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "own agent: nothing to do, already provisioned: %v", err)
	_, err = d.sb.RetrieveActivationDetails(agentCtx(ctx, t, other), req)
	require.Equal(t, codes.NotFound, status.Code(err), "other tenant's agent: %v", err)
	_, err = d.sb.ReportActivationResults(agentCtx(ctx, t, other),
		&pb.ActivationResultRequest{HostId: dev.guid, ActivationStatus: pb.ActivationStatus_ACTIVATION_FAILED})
	require.Equal(t, codes.NotFound, status.Code(err), "other tenant's agent reporting: %v", err)
	_, err = d.sb.RetrieveActivationDetails(ctx, req)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "no token: %v", err)

	own, stranger := userToken(t, tenant), userToken(t, other)
	// The gateway records presence in batches: the record says connected a moment after the session is up.
	eventually(t, waitLong, "device record connected", func() (bool, string) {
		code, body := d.rest(t, http.MethodGet, tenant, "devices/"+dev.guid, own, nil)
		return code == http.StatusOK && strings.Contains(body, `"connectionStatus":true`), body
	})
	code, body := d.rest(t, http.MethodGet, tenant, "devices/"+dev.guid, stranger, nil)
	require.Equal(t, http.StatusForbidden, code, "other tenant's user on this tenant's path: %s", body)
	for _, path := range []string{"devices/" + dev.guid, "amt/version/" + dev.guid, "amt/log/audit/" + dev.guid} {
		code, body = d.rest(t, http.MethodGet, other, path, stranger, nil)
		require.Equal(t, http.StatusNotFound, code, "%s on the other tenant's path: %s", path, body)
	}
	code, body = d.rest(t, http.MethodGet, tenant, "amt/version/"+dev.guid, own, nil)
	require.Equal(t, http.StatusOK, code, body)
}
