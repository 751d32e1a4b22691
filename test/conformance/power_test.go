package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// State predicates for history.await.
func powerIs(p amtsim.PowerState) func(amtsim.State) bool {
	return func(s amtsim.State) bool { return s.PowerState == p }
}

func osUp(s amtsim.State) bool   { return s.PowerState == amtsim.PowerOn && s.OSRunning }
func osDown(s amtsim.State) bool { return !s.OSRunning }

// requireReturnValue asserts a typed *wsman.ReturnValueError with the given value and label.
func requireReturnValue(t *testing.T, err error, method string, value uint32, name string) {
	t.Helper()
	var rv *wsman.ReturnValueError
	require.True(t, errors.As(err, &rv), "want *wsman.ReturnValueError, got %T: %v", err, err)
	require.Equal(t, method, rv.Method)
	require.Equal(t, value, rv.Value)
	require.Equal(t, name, rv.Name)
}

// TestPowerStateAndActions drives every power action of §10.2 through the simulator's host model: hard actions,
// graceful actions with a running OS, and actions that do not apply to the current state.
func TestPowerStateAndActions(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	st, err := c.PowerState(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.PowerOn, st.PowerState)
	// §10.2 fixture order for a powered-on AMT.
	require.Equal(t, []amt.PowerState{10, 8, 5, 11, 4, 7, 14, 12}, st.AvailableRequestedPowerStates)

	steps := []struct {
		name   string
		action amt.PowerState
		expect []func(amtsim.State) bool
	}{
		{"power on while on is a no-op success", amt.PowerOn, nil},
		{"sleep (OS agent)", amt.SleepDeep, []func(amtsim.State) bool{powerIs(amtsim.PowerSleep)}},
		{"wake from sleep keeps the OS", amt.PowerOn, []func(amtsim.State) bool{osUp}},
		{"hibernate (OS agent)", amt.Hibernate, []func(amtsim.State) bool{powerIs(amtsim.PowerHibernate)}},
		{"power on from hibernate boots the OS", amt.PowerOn, []func(amtsim.State) bool{osUp}},
		{"reset", amt.MasterBusReset, []func(amtsim.State) bool{osDown, osUp}},
		{"power cycle", amt.PowerCycleOffSoft, []func(amtsim.State) bool{powerIs(amtsim.PowerOff), osUp}},
		{"soft-off graceful", amt.PowerOffSoftGraceful, []func(amtsim.State) bool{powerIs(amtsim.PowerOff)}},
		{"power on", amt.PowerOn, []func(amtsim.State) bool{osUp}},
		{"soft-reset graceful", amt.MasterBusResetGraceful, []func(amtsim.State) bool{osDown, osUp}},
		{"power down (hard)", amt.PowerOffSoft, []func(amtsim.State) bool{powerIs(amtsim.PowerOff)}},
	}
	for _, s := range steps {
		from := r.hist.mark()
		require.NoError(t, c.RequestPowerStateChange(ctx, s.action), s.name)
		r.hist.await(ctx, t, from, s.expect...)
	}

	// Host off: only power-up is offered; everything else is NOT_READY (§10.4, "Device must be powered on first").
	st, err = c.PowerState(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.PowerOffSoft, st.PowerState, "AMT reports S5 as 8")
	require.Equal(t, []amt.PowerState{amt.PowerOn}, st.AvailableRequestedPowerStates)
	for _, a := range []amt.PowerState{amt.SleepDeep, amt.Hibernate, amt.PowerCycleOffSoft, amt.PowerOffSoft,
		amt.MasterBusReset, amt.PowerOffSoftGraceful, amt.MasterBusResetGraceful} {
		err := c.RequestPowerStateChange(ctx, a)
		requireReturnValue(t, err, "CIM_PowerManagementService.RequestPowerStateChange", 2, "NOT_READY")
	}

	// 13 (Power Off – Hard Graceful) is not an action AMT offers (§10.2): INVALID_PARAMETER, in any state.
	from := r.hist.mark()
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.PowerOn))
	r.hist.await(ctx, t, from, osUp)
	err = c.RequestPowerStateChange(ctx, amt.PowerOffHardGraceful)
	requireReturnValue(t, err, "CIM_PowerManagementService.RequestPowerStateChange", 36, "INVALID_PARAMETER")
	require.Equal(t, amtsim.PowerOn, r.dev.State().PowerState)
}

// TestPowerHungOS: AMT accepts a graceful action (ReturnValue 0), but a hung OS never performs it, while hard
// actions still work (§10.2: graceful actions need the OS).
func TestPowerHungOS(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)
	r.dev.SetOSHung(true)

	for _, a := range []amt.PowerState{amt.PowerOffSoftGraceful, amt.MasterBusResetGraceful, amt.SleepDeep, amt.Hibernate} {
		from := r.hist.mark()
		require.NoError(t, c.RequestPowerStateChange(ctx, a), "AMT hands the request to the OS and succeeds")
		// Nothing signals "the OS ignored it": give the OS 25 times its shutdown delay to act, then check it did not.
		wait, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		<-wait.Done()
		cancel()
		for _, s := range r.hist.since(from) {
			require.Equal(t, amtsim.PowerOn, s.PowerState, "a hung OS must not act on %d", a)
			require.True(t, s.OSRunning)
		}
	}

	from := r.hist.mark()
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.PowerOffSoft), "hard power down needs no OS")
	r.hist.await(ctx, t, from, powerIs(amtsim.PowerOff))
}
