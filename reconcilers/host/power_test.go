package host

import (
	"errors"
	"testing"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
)

type decideCase struct {
	name    string
	host    *computev1.HostResource
	dev     DeviceFacts
	power   *store.JournalEntry
	deact   *store.JournalEntry
	reading *Reading
	want    want
}

func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Now: t0, Params: testParams, Host: c.host, Device: c.dev, Power: c.power,
				Deactivation: c.deact, Reading: c.reading}
			checkStep(t, c.want, Decide(in))
		})
	}
}

const (
	softOffText = "Powering off: shutdown requested from the OS; hard power off after 30s if it does not finish"
	timeoutText = "Soft power off timed out after 30s, forcing hard power off"
)

// TestDecidePowerConnected: the power decision for a provisioned host whose session is on this replica.
func TestDecidePowerConnected(t *testing.T) {
	runDecideCases(t, []decideCase{
		// Steady state and sync with what AMT reports.
		{name: "on wanted and reported: first time only the journal marker is written",
			host: provisionedHost(psOn, ordered), dev: connSynced,
			want: want{journal: []journalWant{jPower(phaseDone, psOn, false, 0)}}},
		{name: "on wanted, reported and marked: nothing at all",
			host: provisionedHost(psOn, ordered), dev: connSynced, power: pj(psOn, phaseDone, 0, -1)},
		{name: "new session: read the power state first",
			host: provisionedHost(psOn, ordered), dev: connUnsynced, want: want{action: ActReadPower}},
		{name: "new session, AMT agrees: marker only",
			host: provisionedHost(psOn, ordered), dev: connUnsynced, reading: read(amt.PowerOn),
			want: want{journal: []journalWant{jPower(phaseDone, psOn, false, 0)}}},
		{name: "reconnect after unknown: report what AMT says and AMT connected",
			host: provisionedHost(psOn, ordered, current(psUnspecified, textPowerUnknown, unknown),
				amtCurrent(amtDisc, "AMT disconnected…", failure)),
			dev: connUnsynced, power: pj(psOn, phaseDone, 0, -1), reading: read(amt.PowerOn),
			want: want{power: pw(psOn, "Powered on", idle), amt: aw(amtProv, textAMTConnected, idle)}},
		{name: "drift: host found off while on is wanted is powered on again",
			host: provisionedHost(psOn, ordered), dev: connUnsynced, power: pj(psOn, phaseDone, 0, -1),
			reading: read(amt.PowerOffSoft),
			want: want{power: pw(psOff, "Powering on", inProgress), action: ActSendPower, value: amt.PowerOn,
				hard: true, journal: []journalWant{jPower(phaseHardIntent, psOn, true, amt.PowerOn)}}},
		{name: "off wanted and already off: one write, nothing sent",
			host: provisionedHost(psOff, immediate), dev: connSynced, reading: read(amt.PowerOffSoft),
			want: want{power: pw(psOff, "Powered off", idle), journal: []journalWant{jPower(phaseDone, psOff, false, 0)}}},
		{name: "a status left in progress by an abandoned request is tidied",
			host: provisionedHost(psUnspecified, ordered, current(psOn, "Powering off", inProgress)),
			dev:  connUnsynced, reading: read(amt.PowerOn), want: want{power: pw(psOn, "Powered on", idle)}},
		{name: "nothing desired: nothing to do", host: provisionedHost(psUnspecified, ordered), dev: connSynced},

		// OFF.
		{name: "off pending: read before acting", host: provisionedHost(psOff, immediate), dev: connSynced,
			want: want{action: ActReadPower}},
		{name: "IMMEDIATE off: hard off 8, journaled before sending",
			host: provisionedHost(psOff, immediate), dev: connSynced, reading: read(amt.PowerOn),
			want: want{power: pw(psOn, "Powering off", inProgress), action: ActSendPower, value: amt.PowerOffSoft,
				hard: true, journal: []journalWant{jPower(phaseHardIntent, psOff, true, amt.PowerOffSoft)}}},
		{name: "ORDERED off: soft off 12 through the OS",
			host: provisionedHost(psOff, ordered), dev: connSynced, reading: read(amt.PowerOn),
			want: want{power: pw(psOn, softOffText, inProgress), action: ActSendPower,
				value: amt.PowerOffSoftGraceful, journal: []journalWant{jPower(phaseSoftSent, psOff, false, amt.PowerOffSoftGraceful)}}},
		{name: "unspecified policy is ORDERED (Inventory's default)",
			host: provisionedHost(psOff, noPolicy), dev: connSynced, reading: read(amt.PowerOn),
			want: want{power: pw(psOn, softOffText, inProgress), action: ActSendPower,
				value: amt.PowerOffSoftGraceful, journal: []journalWant{jPower(phaseSoftSent, psOff, false, amt.PowerOffSoftGraceful)}}},
		{name: "ORDERED off of a sleeping host: no OS to shut down, hard off",
			host: provisionedHost(psOff, ordered, current(psSleep, "Asleep", idle)), dev: connSynced,
			reading: read(amt.SleepDeep),
			want: want{power: pw(psSleep, "Powering off", inProgress), action: ActSendPower, value: amt.PowerOffSoft,
				hard: true, journal: []journalWant{jPower(phaseHardIntent, psOff, true, amt.PowerOffSoft)}}},
		{name: "soft off sent: read at the check", host: provisionedHost(psOff, ordered, current(psOn, softOffText, inProgress)),
			dev: connSynced, power: pj(psOff, phaseSoftSent, amt.PowerOffSoftGraceful, 10*time.Second),
			want: want{action: ActReadPower}},
		{name: "soft off sent, OS still running: check again in 5s",
			host: provisionedHost(psOff, ordered, current(psOn, softOffText, inProgress)), dev: connSynced,
			power: pj(psOff, phaseSoftSent, amt.PowerOffSoftGraceful, 10*time.Second), reading: read(amt.PowerOn),
			want: want{after: 5 * time.Second}},
		{name: "soft off sent, last check before the deadline is shorter",
			host: provisionedHost(psOff, ordered, current(psOn, softOffText, inProgress)), dev: connSynced,
			power: pj(psOff, phaseSoftSent, amt.PowerOffSoftGraceful, 28*time.Second), reading: read(amt.PowerOn),
			want: want{after: 2 * time.Second}},
		{name: "soft off: OS shut down, powered off",
			host: provisionedHost(psOff, ordered, current(psOn, softOffText, inProgress)), dev: connSynced,
			power: pj(psOff, phaseSoftSent, amt.PowerOffSoftGraceful, 10*time.Second), reading: read(amt.PowerOffSoft),
			want: want{power: pw(psOff, "Powered off", idle), journal: []journalWant{jPower(phaseDone, psOff, false, 0)}}},
		{name: "soft off timed out: hard off with EMF's text",
			host: provisionedHost(psOff, ordered, current(psOn, softOffText, inProgress)), dev: connSynced,
			power: pj(psOff, phaseSoftSent, amt.PowerOffSoftGraceful, 31*time.Second), reading: read(amt.PowerOn),
			want: want{power: pw(psOn, timeoutText, inProgress), action: ActSendPower, value: amt.PowerOffSoft, hard: true,
				journal: []journalWant{jPower(phaseHardIntent, psOff, true, amt.PowerOffSoft)}}},
		{name: "soft off refused (no OS agent): hard off at once",
			host: provisionedHost(psOff, ordered, current(psOn, softOffText, inProgress)), dev: connSynced,
			power: pj(psOff, phaseSoftRefused, amt.PowerOffSoftGraceful, 1*time.Second, lastError("NOT_READY")),
			want: want{power: pw(psOn, "Soft power off not available (AMT: NOT_READY), forcing hard power off", inProgress),
				action: ActSendPower, value: amt.PowerOffSoft, hard: true,
				journal: []journalWant{jPower(phaseHardIntent, psOff, true, amt.PowerOffSoft)}}},
		{name: "hard off accepted: powered off",
			host: provisionedHost(psOff, immediate, current(psOn, "Powering off", inProgress)), dev: connSynced,
			power: pj(psOff, phaseHardSent, amt.PowerOffSoft, time.Second),
			want:  want{power: pw(psOff, "Powered off", idle), journal: []journalWant{jPower(phaseDone, psOff, true, 0)}}},
		{name: "hard off accepted, then CIRA dropped: still powered off, grace timer kept",
			host: provisionedHost(psOff, immediate, current(psOn, "Powering off", inProgress)), dev: goneBrief,
			power: pj(psOff, phaseHardSent, amt.PowerOffSoft, time.Second),
			want: want{power: pw(psOff, "Powered off", idle), journal: []journalWant{jPower(phaseDone, psOff, true, 0)},
				after: 50 * time.Second}},
		{name: "hard intent without result: wait for AMT to act before looking",
			host: provisionedHost(psOff, immediate, current(psOn, "Powering off", inProgress)), dev: connSynced,
			power: pj(psOff, phaseHardIntent, amt.PowerOffSoft, 3*time.Second), want: want{after: 7 * time.Second}},
		{name: "hard intent without result (restart): state confirms, done without resending",
			host: provisionedHost(psOff, immediate, current(psOn, "Powering off", inProgress)), dev: connUnsynced,
			power: pj(psOff, phaseHardIntent, amt.PowerOffSoft, 20*time.Second), reading: read(amt.PowerOffSoft),
			want: want{power: pw(psOff, "Powered off", idle), journal: []journalWant{jPower(phaseDone, psOff, true, 0)}}},
		{name: "hard intent without result: state contradicts, OFF (a level) retried after a backoff",
			host: provisionedHost(psOff, immediate, current(psOn, "Powering off", inProgress)), dev: connUnsynced,
			power: pj(psOff, phaseHardIntent, amt.PowerOffSoft, 20*time.Second), reading: read(amt.PowerOn),
			want: want{power: pw(psOn, "Power off not confirmed: AMT's answer was lost and the host reports on; "+
				"retrying (1/5) in 10s", inProgress),
				journal: []journalWant{jPower(phaseRetry, psOff, false, 0)}, after: 10 * time.Second}},
		{name: "hard intent without result, third retry: backoff doubled twice",
			host: provisionedHost(psOff, immediate, current(psOn, "Powering off", inProgress)), dev: connUnsynced,
			power: pj(psOff, phaseHardIntent, amt.PowerOffSoft, 20*time.Second, tries(2)), reading: read(amt.PowerOn),
			want: want{power: pw(psOn, "Power off not confirmed: AMT's answer was lost and the host reports on; "+
				"retrying (3/5) in 40s", inProgress),
				journal: []journalWant{jPower(phaseRetry, psOff, false, 0)}, after: 40 * time.Second}},
		{name: "hard intent without result, retries used up: failed until the desired state is written again",
			host: provisionedHost(psOff, immediate, current(psOn, "Powering off", inProgress)), dev: connUnsynced,
			power: pj(psOff, phaseHardIntent, amt.PowerOffSoft, 20*time.Second, tries(5)), reading: read(amt.PowerOn),
			want: want{power: pw(psOn, "Power off not confirmed: AMT's answer was lost and the host reports on; gave "+
				"up after 5 retries (set the desired power state again to retry)", failure),
				journal: []journalWant{jPower(phaseFailed, psOff, true, 0)}, requeue: true}},
		{name: "power cycle (an edge) without result, state contradicts: failed, never resent",
			host: provisionedHost(psCycle, immediate, current(psOn, "Power cycling", inProgress)), dev: connUnsynced,
			power: pj(psCycle, phaseHardIntent, amt.PowerCycleOffSoft, 20*time.Second), reading: read(amt.PowerOffSoft),
			want: want{power: pw(psOff, "Power cycle not confirmed: AMT's answer was lost and the host reports powered "+
				"off; not repeated, to avoid a second power cycle (request it anew to retry)", failure),
				journal: []journalWant{jPower(phaseFailed, psCycle, true, 0)}}},
		{name: "failed off is not retried while the request stays",
			host: provisionedHost(psOff, immediate, current(psOn, "Power off failed: AMT refused it (NOT_READY)", failure)),
			dev:  connSynced, power: pj(psOff, phaseFailed, amt.PowerOffSoft, time.Minute, lastError("Power off failed: AMT refused it (NOT_READY)"))},
		{name: "failed text is written once by the next decision",
			host: provisionedHost(psOff, immediate, current(psOn, "Powering off", inProgress)), dev: connSynced,
			power: pj(psOff, phaseFailed, amt.PowerOffSoft, time.Second, lastError("Power off failed: AMT refused it (NOT_READY)")),
			want:  want{power: pw(psOn, "Power off failed: AMT refused it (NOT_READY)", failure)}},
		{name: "requests are spaced: AMT gets 10s to finish the previous action",
			host: provisionedHost(psOff, immediate), dev: connSynced, reading: read(amt.PowerOn),
			power: pj(psOn, phaseDone, amt.PowerOn, 3*time.Second), want: want{after: 7 * time.Second}},

		// ON and POWER_CYCLE (no graceful form).
		{name: "on from off: 2, under ORDERED too",
			host: provisionedHost(psOn, ordered, current(psOff, "Powered off", idle)), dev: connSynced, reading: read(amt.PowerOffSoft),
			want: want{power: pw(psOff, "Powering on", inProgress), action: ActSendPower, value: amt.PowerOn, hard: true,
				journal: []journalWant{jPower(phaseHardIntent, psOn, true, amt.PowerOn)}}},
		{name: "on accepted: powered on, power_on_time set",
			host: provisionedHost(psOn, ordered, current(psOff, "Powering on", inProgress)), dev: connSynced,
			power: pj(psOn, phaseHardSent, amt.PowerOn, time.Second),
			want:  want{power: pw(psOn, "Powered on", idle), powerTime: true, journal: []journalWant{jPower(phaseDone, psOn, true, 0)}}},
		{name: "power cycle: 5 under ORDERED",
			host: provisionedHost(psCycle, ordered), dev: connSynced, reading: read(amt.PowerOn),
			want: want{power: pw(psOn, "Power cycling", inProgress), action: ActSendPower, value: amt.PowerCycleOffSoft,
				hard: true, journal: []journalWant{jPower(phaseHardIntent, psCycle, true, amt.PowerCycleOffSoft)}}},
		{name: "power cycle accepted: done, power_on_time set",
			host: provisionedHost(psCycle, ordered, current(psOn, "Power cycling", inProgress)), dev: connSynced,
			power: pj(psCycle, phaseHardSent, amt.PowerCycleOffSoft, time.Second),
			want: want{power: pw(psCycle, "Power cycle done", idle), powerTime: true,
				journal: []journalWant{jPower(phaseDone, psCycle, true, 0)}}},

		// Read failures.
		{name: "read refused (credentials): shown, retried with backoff",
			host: provisionedHost(psOff, immediate), dev: connSynced, reading: &Reading{Err: &wsman.AuthError{Username: "admin"}},
			want: want{power: pw(psOn, "Cannot read the power state: AMT rejected dm-manager's credentials; "+
				"deactivate and re-activate the device", failure), retry: true}},
		{name: "read failed on the way: retried quietly",
			host: provisionedHost(psOff, immediate), dev: connSynced, reading: &Reading{Err: errors.New("EOF")},
			want: want{retry: true}},
	})
}
