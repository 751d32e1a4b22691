package host

import (
	"fmt"
	"testing"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// TestDecideSteadyAfterAction: a steady state wanted after a done action (or after an error) that AMT already
// reads is reported reached with its steady text: one Inventory write, nothing sent.
func TestDecideSteadyAfterAction(t *testing.T) {
	const resetFailed = "Reset failed: AMT refused it (NOT_READY)"
	onReported := want{power: pw(psOn, "Powered on", idle), journal: []journalWant{jPower(phaseDone, psOn, false, 0)}}
	runDecideCases(t, []decideCase{
		{name: "RESET done, desired ON: read first (current RESET is not ON)",
			host: provisionedHost(psOn, ordered, current(psReset, "Reset done", idle)), dev: connSynced,
			power: pj(psReset, phaseDone, amt.MasterBusResetGraceful, time.Minute), want: want{action: ActReadPower}},
		{name: "RESET done, desired ON, AMT reads on: ON reported, no action",
			host: provisionedHost(psOn, ordered, current(psReset, "Reset done", idle)), dev: connSynced,
			power: pj(psReset, phaseDone, amt.MasterBusResetGraceful, time.Minute), reading: read(amt.PowerOn),
			want: onReported},
		{name: "RESET done a moment ago, desired ON: no wait for the settle time either",
			host: provisionedHost(psOn, immediate, current(psReset, "Reset done", idle)), dev: connSynced,
			power: pj(psReset, phaseDone, amt.MasterBusReset, time.Second), reading: read(amt.PowerOn),
			want: onReported},
		{name: "POWER_CYCLE done, desired ON, AMT reads on: ON reported, no action",
			host: provisionedHost(psOn, ordered, current(psCycle, "Power cycle done", idle)), dev: connSynced,
			power: pj(psCycle, phaseDone, amt.PowerCycleOffSoft, time.Minute), reading: read(amt.PowerOn),
			want: onReported},
		{name: "RESET_REPEAT done, desired ON, AMT reads on: ON reported, no action",
			host: provisionedHost(psOn, ordered, current(psResetRepeat, "Reset done", idle)), dev: connSynced,
			power: pj(psResetRepeat, phaseDone, amt.MasterBusResetGraceful, time.Minute), reading: read(amt.PowerOn),
			want: onReported},
		{name: "RESET done, desired ON, already reported and marked: nothing",
			host: provisionedHost(psOn, ordered), dev: connSynced, power: pj(psOn, phaseDone, 0, -1),
			reading: read(amt.PowerOn)},
		{name: "RESET done, desired ON, AMT reads off: powered on",
			host: provisionedHost(psOn, ordered, current(psReset, "Reset done", idle)), dev: connSynced,
			power: pj(psReset, phaseDone, amt.MasterBusReset, time.Minute), reading: read(amt.PowerOffSoft),
			want: want{power: pw(psOff, "Powering on", inProgress), action: ActSendPower, value: amt.PowerOn, hard: true,
				journal: []journalWant{jPower(phaseHardIntent, psOn, true, amt.PowerOn)}}},
		{name: "RESET done, desired OFF: not reached yet, powered off",
			host: provisionedHost(psOff, immediate, current(psReset, "Reset done", idle)), dev: connSynced,
			power: pj(psReset, phaseDone, amt.MasterBusReset, time.Minute), reading: read(amt.PowerOn),
			want: want{power: pw(psOn, "Powering off", inProgress), action: ActSendPower, value: amt.PowerOffSoft,
				hard: true, journal: []journalWant{jPower(phaseHardIntent, psOff, true, amt.PowerOffSoft)}}},
		{name: "reported hibernating, desired OFF, AMT reads off: OFF reported",
			host: provisionedHost(psOff, ordered, current(psHibernate, "Hibernated", idle)), dev: connSynced,
			power: pj(psHibernate, phaseDone, 0, time.Minute), reading: read(amt.PowerOffSoft),
			want: want{power: pw(psOff, "Powered off", idle), journal: []journalWant{jPower(phaseDone, psOff, false, 0)}}},
		{name: "failed RESET, desired ON: read to confirm before clearing the error",
			host: provisionedHost(psOn, ordered, current(psOn, resetFailed, failure)), dev: connSynced,
			power: pj(psReset, phaseFailed, amt.MasterBusReset, time.Minute, lastError(resetFailed)),
			want:  want{action: ActReadPower}},
		{name: "failed RESET, desired ON, AMT reads on: the error is replaced",
			host: provisionedHost(psOn, ordered, current(psOn, resetFailed, failure)), dev: connSynced,
			power:   pj(psReset, phaseFailed, amt.MasterBusReset, time.Minute, lastError(resetFailed)),
			reading: read(amt.PowerOn), want: onReported},
		{name: "desired HIBERNATE, AMT reads off: off is kept (S5 is not proof of S4)",
			host: provisionedHost(psHibernate, ordered, current(psOff, "Powered off", idle)), dev: connSynced,
			power: pj(psHibernate, phaseDone, 0, -1), reading: read(amt.PowerOffSoft)},
	})
}

// TestPowerThenOn runs each action and then ON, under every policy and behaviour, and checks each change on its
// own: at most 3 Inventory writes, ON reached without a device request when the action left the host on, and a
// stable end.
func TestPowerThenOn(t *testing.T) {
	actions := []computev1.PowerState{psReset, psCycle, psResetRepeat, psOff, psSleep}
	policies := []computev1.PowerCommandPolicy{immediate, ordered}
	for _, d := range actions {
		for _, pol := range policies {
			for b := range behaviourNames {
				t.Run(fmt.Sprintf("%s/%s/%s", d, pol, behaviourNames[b]), func(t *testing.T) {
					h := provisionedHost(psOn, pol)
					r := &simRun{t: t, host: h, dev: &simDevice{b: behaviour(b), state: amt.PowerOn, osUp: true},
						now: t0, synced: true, power: pj(psOn, phaseDone, 0, -1)}
					runChange(t, r, d)
					onBefore := r.dev.state == amt.PowerOn
					sent := len(r.dev.sent)
					runChange(t, r, psOn)
					if onBefore {
						require.Len(t, r.dev.sent, sent, "ON sent a request to a host that is on: %v", r.dev.sent[sent:])
						require.Equal(t, psOn, r.host.GetCurrentPowerState(), "status %q", r.host.GetPowerStatus())
						require.Equal(t, "Powered on", r.host.GetPowerStatus())
						require.Equal(t, idle, r.host.GetPowerStatusIndicator())
					}
				})
			}
		}
	}
}

// runChange sets the desired state, as a user does, and runs the reconciles it causes to their end.
func runChange(t *testing.T, r *simRun, d computev1.PowerState) {
	t.Helper()
	r.host.DesiredPowerState, r.writes = d, 0
	for n := 0; r.step(); n++ {
		require.Less(t, n, 200, "no end: journal %+v", r.power)
	}
	require.NotEqual(t, inProgress, r.host.GetPowerStatusIndicator(), "left in progress: %q", r.host.GetPowerStatus())
	most := 3
	if steady(d) { // a level's retries write "retrying" and the request again
		most += 2 * defaultRetries
	}
	require.LessOrEqual(t, r.writes, most, "more Inventory writes than the sequence and its retries need for %s", d)

	// Stable: a later reconcile, with or without a fresh read, does nothing.
	r.now = r.now.Add(time.Hour)
	r.dev.tick(r.now)
	in := r.input()
	st := Decide(in)
	if st.Action == ActReadPower {
		in.Reading = read(r.dev.state)
		st = Decide(in)
	}
	require.Equal(t, ActNone, st.Action, "acts again later after %s: %v", d, r.dev.sent)
	require.Nil(t, st.Power, "writes again later after %s", d)
	require.Empty(t, st.Journal, "journals again later after %s", d)
}
