package app

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/events"
	"github.com/dmrm/dm-manager/reconcilers/host"
)

func TestPowerActionNames(t *testing.T) {
	for _, tc := range []struct {
		s      amt.PowerState
		action string
		soft   bool
	}{
		{amt.PowerOn, "on", false},
		{amt.PowerOffSoft, "off", false},
		{amt.PowerOffSoftGraceful, "graceful_off", true},
		{amt.MasterBusReset, "reset", false},
		{amt.MasterBusResetGraceful, "graceful_reset", true},
		{amt.PowerCycleOffSoft, "power_cycle", false},
		{amt.SleepDeep, "sleep", true},
		{amt.Hibernate, "hibernate", true},
		{amt.DiagnosticInterrupt, "other", false},
	} {
		a, soft := powerAction(tc.s)
		require.Equal(t, tc.action, a, "%d", tc.s)
		require.Equal(t, tc.soft, soft, "%d", tc.s)
	}
}

func TestOutcomesAndWriteResults(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, events.OutcomeOK},
		{fmt.Errorf("%w: no session", host.ErrNotSent), events.OutcomeNotSent},
		{&wsman.ExchangeError{Written: wsman.NotWritten, Err: ciragw.ErrSessionClosed}, events.OutcomeNotSent},
		{&wsman.ExchangeError{Written: wsman.PossiblyWritten, Err: ciragw.ErrSessionClosed}, events.OutcomeUnknown},
		{errors.New("AMT said no"), events.OutcomeError},
	} {
		require.Equal(t, tc.want, powerOutcome(tc.err), "%v", tc.err)
	}
	require.Equal(t, "unchanged", writeResult(nil, false))
	require.Equal(t, "written", writeResult(nil, true))
	require.Equal(t, "error", writeResult(errors.New("x"), true))
}

// The activation adapter measures from the start it heard of and publishes by op and result.
func TestActivationEventKinds(t *testing.T) {
	var got []events.Event
	sink := sinkFunc(func(e events.Event) { got = append(got, e) })
	a := newActivationEvents(sink)
	at := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	a.start("t", "g", "activate", at)
	d := a.ended("t", "g", "activate", "ccm", "ok", true, at.Add(3e9))
	require.Equal(t, 3e9, float64(d))
	a.start("t", "g", "deactivate", at)
	a.ended("t", "g", "deactivate", "", "refused", false, at.Add(1e9))
	a.start("t", "g", "maintenance", at)
	a.ended("t", "g", "maintenance", "", "", true, at)
	var kinds []events.Kind
	for _, e := range got {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []events.Kind{events.ActivationStarted, events.ActivationSucceeded, events.DeactivationStarted,
		events.DeactivationFailed}, kinds, "maintenance publishes nothing")
	require.Equal(t, "ccm", got[1].Mode)
	require.Empty(t, a.started, "no start kept after the outcome")
}

type sinkFunc func(events.Event)

func (f sinkFunc) Emit(e events.Event) { f(e) }
