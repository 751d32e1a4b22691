package hip

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/hip/rig"
)

const (
	psOn      = computev1.PowerState_POWER_STATE_ON
	psOff     = computev1.PowerState_POWER_STATE_OFF
	psReset   = computev1.PowerState_POWER_STATE_RESET
	psCycle   = computev1.PowerState_POWER_STATE_POWER_CYCLE
	ordered   = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED
	immediate = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_IMMEDIATE
	idle      = statusv1.StatusIndication_STATUS_INDICATION_IDLE
)

// scenario is one HIP scenario. local, when set, is why it needs the local stack (it is skipped on a HIP rig).
type scenario struct {
	name  string
	local string
	run   func(t *testing.T, s *stack, host string)
}

var scenarios = []scenario{
	{name: "PowerOffOrdered", run: powerOffOrdered},
	{name: "HungOSHardOffAfterTimeout", run: hungOSHardOff,
		local: "needs a host whose OS ignores a graceful shutdown; a real OS cannot be hung on demand"},
	{name: "PowerOffImmediate", run: powerOffImmediate},
	{name: "Reset", run: resetHost},
	{name: "PowerCycle", run: powerCycle},
	{name: "NetworkCutDisconnectedAndBack", run: networkCut,
		local: "needs to cut AMT's network, which only the simulator's control offers"},
	{name: "Deactivation", run: deactivation},
}

// TestScenarios runs every scenario: in parallel on the local stack (one host each), one after another on a HIP
// rig (hosts are reused, each scenario starting from power ON).
func TestScenarios(t *testing.T) {
	s := newStack(t, len(scenarios))
	t.Run("scenarios", func(t *testing.T) {
		for i, sc := range scenarios {
			host := s.hosts[i%len(s.hosts)]
			t.Run(sc.name, func(t *testing.T) {
				if s.local == nil && sc.local != "" {
					t.Skip("not on a HIP rig: " + sc.local)
				}
				if s.local != nil {
					t.Parallel()
				}
				s.requireReady(t, host)
				sc.run(t, s, host)
			})
		}
	})
}

// requireReady checks that the host is activated and brings it to power ON.
func (s *stack) requireReady(t *testing.T, host string) {
	t.Helper()
	h, err := s.user.Host(t.Context(), host)
	require.NoError(t, err)
	require.Equal(t, computev1.AmtState_AMT_STATE_PROVISIONED, h.GetCurrentAmtState(),
		"host %s must be activated (current AMT state PROVISIONED) before the scenarios run; it reports %s",
		host, rig.Describe(h))
	if h.GetCurrentPowerState() != psOn || h.GetDesiredPowerState() != psOn {
		s.powerTo(t, host, psOn, ordered)
	}
}

// powerTo sets the desired power state and waits until dm-manager reports it reached, with no step in progress;
// why is added to a failure.
func (s *stack) powerTo(t *testing.T, host string, want computev1.PowerState, policy computev1.PowerCommandPolicy,
	why ...any,
) *computev1.HostResource {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, s.user.SetPower(ctx, host, want, policy))
	h, err := s.user.WaitHost(ctx, host, "power "+rig.Short(want), s.powerWait, func(h *computev1.HostResource) bool {
		return h.GetCurrentPowerState() == want && h.GetPowerStatusIndicator() == idle
	})
	require.NoError(t, err, why...)
	return h
}

// machine is the simulated device behind a host on the local stack (nil on a HIP rig).
func (s *stack) machine(host string) *amtsim.Device {
	if s.local == nil {
		return nil
	}
	return s.local.devices[host]
}

// requireMachine waits (briefly: AMT acts a moment after it accepts) for the simulated machine to match cond.
func requireMachine(t *testing.T, d *amtsim.Device, what string, cond func(amtsim.State) bool) {
	t.Helper()
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := d.WaitFor(ctx, cond)
	require.NoError(t, err, "the machine is not %s", what)
}

func poweredOff(s amtsim.State) bool { return s.PowerState == amtsim.PowerOff }
func poweredOn(s amtsim.State) bool  { return s.PowerState == amtsim.PowerOn }

// powerOffOrdered: ON -> OFF under ORDERED asks the OS to shut down first.
func powerOffOrdered(t *testing.T, s *stack, host string) {
	t0 := time.Now()
	h := s.powerTo(t, host, psOff, ordered)
	require.Equal(t, "Powered off", h.GetPowerStatus())
	seen := s.rec.powerStatuses(host, t0)
	require.True(t, anyContains(seen, "shutdown requested from the OS"), "the soft (OS) shutdown was not tried first: %q", seen)
	require.False(t, anyPrefix(seen, "Soft power off timed out"), "the OS shut down, yet the hard off was forced: %q", seen)
	requireMachine(t, s.machine(host), "off", poweredOff)
	s.powerTo(t, host, psOn, ordered)
	requireMachine(t, s.machine(host), "on", poweredOn)
}

// hungOSHardOff: the OS ignores the shutdown, so after -softPowerTimeout dm-manager forces a hard power off.
func hungOSHardOff(t *testing.T, s *stack, host string) {
	d := s.machine(host)
	d.SetOSHung(true)
	t.Cleanup(func() { d.SetOSHung(false) })
	t0 := time.Now()
	h := s.powerTo(t, host, psOff, ordered)
	took := time.Since(t0)
	seen := s.rec.powerStatuses(host, t0)
	require.True(t, anyPrefix(seen, "Soft power off timed out after "+s.softPowerTimeout.String()),
		"the soft power off timeout was not reported: %q", seen)
	require.Equal(t, "Powered off", h.GetPowerStatus())
	require.GreaterOrEqual(t, took, s.softPowerTimeout, "the hard off came before the soft timeout")
	requireMachine(t, d, "off", poweredOff)
	d.SetOSHung(false)
	s.powerTo(t, host, psOn, ordered)
	requireMachine(t, d, "on", poweredOn)
}

// powerOffImmediate: IMMEDIATE goes straight to the hard power off, never asking the OS.
func powerOffImmediate(t *testing.T, s *stack, host string) {
	t0 := time.Now()
	h := s.powerTo(t, host, psOff, immediate)
	require.Equal(t, "Powered off", h.GetPowerStatus())
	seen := s.rec.powerStatuses(host, t0)
	require.False(t, anyContains(seen, "requested from the OS"), "IMMEDIATE asked the OS: %q", seen)
	requireMachine(t, s.machine(host), "off", poweredOff)
	s.powerTo(t, host, psOn, ordered)
}

// resetHost: RESET (ORDERED) restarts the OS; the host stays on and reports RESET done.
func resetHost(t *testing.T, s *stack, host string) {
	went := watchMachine(t, s.machine(host), func(st amtsim.State) bool { return !st.OSRunning })
	h := s.powerTo(t, host, psReset, ordered)
	require.Equal(t, "Reset done", h.GetPowerStatus())
	requireWent(t, went, "the OS did not restart")
	requireMachine(t, s.machine(host), "on with its OS running", func(st amtsim.State) bool {
		return st.PowerState == amtsim.PowerOn && st.OSRunning
	})
	s.powerTo(t, host, psOn, ordered, "after a done RESET the user asks for ON: current_power_state must become ON")
}

// powerCycle: POWER_CYCLE turns the machine off and on again in hardware.
func powerCycle(t *testing.T, s *stack, host string) {
	went := watchMachine(t, s.machine(host), poweredOff)
	h := s.powerTo(t, host, psCycle, ordered)
	require.Equal(t, "Power cycle done", h.GetPowerStatus())
	requireWent(t, went, "the machine was never powered off by the cycle")
	requireMachine(t, s.machine(host), "on", poweredOn)
	s.powerTo(t, host, psOn, ordered, "after a done POWER_CYCLE the user asks for ON: current_power_state must become ON")
}

// networkCut: AMT's network goes away; after the grace period the host is DISCONNECTED; back, it is PROVISIONED.
func networkCut(t *testing.T, s *stack, host string) {
	d := s.machine(host)
	d.SetReachable(false)
	t.Cleanup(func() { d.SetReachable(true) })
	ctx := t.Context()
	h, err := s.user.WaitHost(ctx, host, "AMT DISCONNECTED", s.disconnectGrace+s.powerWait, func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_DISCONNECTED
	})
	require.NoError(t, err)
	require.Equal(t, statusv1.StatusIndication_STATUS_INDICATION_ERROR, h.GetAmtStatusIndicator(), rig.Describe(h))
	d.SetReachable(true)
	_, err = s.user.WaitHost(ctx, host, "AMT PROVISIONED again", s.powerWait, func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED && h.GetAmtStatusIndicator() == idle
	})
	require.NoError(t, err)
}

// deactivation: desired UNPROVISIONED unprovisions AMT over CIRA; PROVISIONED again has the node agent activate it.
func deactivation(t *testing.T, s *stack, host string) {
	if !s.allowDeactivate {
		t.Skip("deactivation unprovisions AMT on the machine; set HIP_ALLOW_DEACTIVATION=1 to run it " +
			"(the node agent activates it again afterwards)")
	}
	ctx := t.Context()
	require.NoError(t, s.user.SetAMT(ctx, host, computev1.AmtState_AMT_STATE_UNPROVISIONED))
	h, err := s.user.WaitHost(ctx, host, "AMT UNPROVISIONED", s.amtWait, func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_UNPROVISIONED && h.GetAmtStatusIndicator() == idle
	})
	require.NoError(t, err)
	require.Equal(t, "AMT deactivated", h.GetAmtStatus())
	requireMachine(t, s.machine(host), "in pre-provisioning", func(st amtsim.State) bool {
		return st.Mode == amtsim.PreProvisioning
	})
	require.NoError(t, s.user.SetAMT(ctx, host, computev1.AmtState_AMT_STATE_PROVISIONED))
	_, err = s.user.WaitHost(ctx, host, "AMT PROVISIONED again", s.amtWait, func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED && h.GetAmtStatusIndicator() == idle
	})
	require.NoError(t, err)
	requireMachine(t, s.machine(host), "activated", func(st amtsim.State) bool { return st.Mode != amtsim.PreProvisioning })
}

// watchMachine reports (on the returned channel, closed when done) whether the machine passed through a state
// matching cond while the scenario runs; nil machine: nothing to watch.
func watchMachine(t *testing.T, d *amtsim.Device, cond func(amtsim.State) bool) <-chan bool {
	if d == nil {
		return nil
	}
	ch := make(chan bool, 1)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go func() {
		_, err := d.WaitFor(ctx, cond)
		ch <- err == nil
		close(ch)
	}()
	return ch
}

func requireWent(t *testing.T, went <-chan bool, msg string) {
	t.Helper()
	if went == nil {
		return
	}
	select {
	case ok := <-went:
		require.True(t, ok, msg)
	case <-time.After(5 * time.Second):
		t.Fatal(msg)
	}
}
