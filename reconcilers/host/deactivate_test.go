package host

import (
	"testing"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

func attempts(n int32, retryIn time.Duration, text string) func(*store.JournalEntry) {
	return func(e *store.JournalEntry) { e.Attempts, e.DeadlineAt, e.LastError = n, t0.Add(retryIn), text }
}

// TestDecideAMTAndDeactivation: AMT state reporting for unmanaged hosts, and flow 6.
func TestDecideAMTAndDeactivation(t *testing.T) {
	const (
		deleted   = computev1.HostState_HOST_STATE_DELETED
		untrusted = computev1.HostState_HOST_STATE_UNTRUSTED
		waitText  = "Cannot deactivate AMT: the device is not connected to mps.example.com:4433; deactivation resumes when it connects"
		forgetTxt = "Deactivating AMT: waiting for the device to connect to mps.example.com:4433; if it does not within " +
			"10m, dm-manager forgets it and AMT must be deactivated locally (rpc deactivate)"
		refused = "AMT deactivation failed: AMT refused it (NOT_PERMITTED); retrying"
	)
	marked := pj(psOn, phaseDone, 0, -1)
	unprovisionStep := want{amt: aw(amtProv, textAMTDeactivating, inProgress), action: ActUnprovision,
		journal: []journalWant{jDeact(stepUnprovisionSent)}}
	forgetStep := want{action: ActForget, amt: aw(amtUnprov, textAMTDeactivated, idle)}
	runDecideCases(t, []decideCase{
		// Hosts whose device is not activated.
		{name: "record says not activated, Inventory says provisioned: deactivated",
			host: provisionedHost(psOn, ordered), dev: notActivated, want: want{amt: aw(amtUnprov, textAMTDeactivated, idle)}},
		{name: "no device, UNPROVISIONED wanted, nothing reported yet: not activated",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov), amtCurrent(amtNone, "", unknown)),
			want: want{amt: aw(amtUnprov, textAMTNotActivated, idle)}},
		{name: "activation in progress: its texts are left to the activation flow",
			host: provisionedHost(psOn, ordered, amtCurrent(amtNone, "AMT Activation In Progress", inProgress)),
			dev:  DeviceFacts{Known: true}},
		{name: "host gone and no device: nothing"},
		{name: "connected: AMT connected replaces the activation text",
			host: provisionedHost(psOn, ordered, amtCurrent(amtNone, "AMT Activation Done", idle)), dev: connSynced, power: marked,
			want: want{amt: aw(amtProv, textAMTConnected, idle)}},

		// Deactivation while connected.
		{name: "UNPROVISIONED wanted, connected: Unprovision, intent journaled first",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: connSynced, want: unprovisionStep},
		{name: "deauthorised host: Unprovision",
			host: provisionedHost(psOn, ordered, hostState(untrusted)), dev: connSynced, want: unprovisionStep},
		{name: "deleted host: Unprovision",
			host: provisionedHost(psOn, ordered, hostState(deleted)), dev: connSynced, want: unprovisionStep},
		{name: "host gone from Inventory: Unprovision, nothing to report",
			dev: connSynced, want: want{action: ActUnprovision, journal: []journalWant{jDeact(stepUnprovisionSent)}}},
		{name: "Unprovision accepted: forget and report deactivated",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: connSynced, deact: dj(stepForget, time.Minute),
			want: forgetStep},
		{name: "answer lost, device still connected after AMT had time: ask again",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov), amtCurrent(amtProv, textAMTDeactivating, inProgress)),
			dev:  connSynced, deact: dj(stepUnprovisionSent, 20*time.Second),
			want: want{action: ActUnprovision, journal: []journalWant{jDeact(stepUnprovisionSent)}}},
		{name: "answer lost, device dropped briefly: wait for the grace period",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: goneBrief,
			deact: dj(stepUnprovisionSent, 20*time.Second), want: want{after: 40 * time.Second}},
		{name: "answer lost, device away for the grace period: it was deactivated",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: goneLong,
			deact: dj(stepUnprovisionSent, 2*time.Minute), want: forgetStep},
		{name: "sent, then the request was withdrawn: still finished (AMT may be deactivated)",
			host: provisionedHost(psOn, ordered), dev: goneLong, deact: dj(stepUnprovisionSent, 2*time.Minute),
			want: forgetStep},
		{name: "refused before: wait for the retry time, showing why",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: connSynced,
			deact: dj(stepWaiting, time.Minute, attempts(1, 20*time.Second, refused)),
			want:  want{amt: aw(amtProv, refused, failure), after: 20 * time.Second}},
		{name: "refused before, retry time reached: ask again",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: connSynced,
			deact: dj(stepWaiting, time.Minute, attempts(1, -time.Second, refused)), want: unprovisionStep},
		{name: "host gone, AMT refused before: wait for the retry time, nothing to report",
			dev: connSynced, deact: dj(stepWaiting, time.Minute, attempts(1, 20*time.Second, refused)),
			want: want{after: 20 * time.Second}},
		{name: "host gone, AMT kept refusing past the bound: forgotten with a warning",
			dev: connSynced, deact: dj(stepWaiting, 11*time.Minute, attempts(1, -time.Second, refused)),
			want: want{action: ActForget, warn: true}},
		{name: "deleted host whose AMT keeps refusing: forgotten after the bound, with a warning",
			host: provisionedHost(psOn, ordered, hostState(deleted)), dev: connSynced,
			deact: dj(stepWaiting, 11*time.Minute, attempts(3, time.Minute, refused)),
			want:  want{action: ActForget, warn: true}},

		// Deactivation while not connected.
		{name: "UNPROVISIONED wanted, not connected: keep trying, say why",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: goneBrief,
			want: want{amt: aw(amtProv, waitText, failure), journal: []journalWant{jDeact(stepWaiting)}, after: 50 * time.Second}},
		{name: "UNPROVISIONED wanted, gone beyond grace: DISCONNECTED with the same reason",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: goneLong, deact: dj(stepWaiting, 5*time.Minute),
			want: want{amt: aw(amtDisc, waitText, failure)}},
		{name: "deleted, not connected: wait, bounded",
			host: provisionedHost(psOn, ordered, hostState(deleted)), dev: goneLong,
			want: want{amt: aw(amtDisc, forgetTxt, inProgress), journal: []journalWant{jDeact(stepWaiting)}, after: 10 * time.Minute}},
		{name: "host gone, not connected: wait without status",
			dev: goneLong, deact: dj(stepWaiting, 3*time.Minute, func(e *store.JournalEntry) { e.DeadlineAt = t0.Add(7 * time.Minute) }),
			want: want{after: 7 * time.Minute}},
		{name: "deleted and not connected for the bound: forgotten with a warning",
			host: provisionedHost(psOn, ordered, hostState(deleted)), dev: goneLong, deact: dj(stepWaiting, 11*time.Minute),
			want: want{action: ActForget, warn: true}},
		{name: "deleted host whose device was never activated: forgotten quietly",
			host: provisionedHost(psOn, ordered, hostState(deleted)), dev: notActivated, want: want{action: ActForget}},
		{name: "record gone but the journal remains: finish the clean-up",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), deact: dj(stepUnprovisionSent, time.Minute),
			want: forgetStep},
		{name: "request withdrawn before anything was sent: cancelled",
			host: provisionedHost(psOn, ordered), dev: connSynced, power: marked, deact: dj(stepWaiting, time.Minute),
			want: want{journal: []journalWant{jDel(store.OpDeactivation)}}},
		{name: "session on another replica: it deactivates",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), dev: elsewhere},
		{name: "UNPROVISIONED wanted, device not activated: nothing to deactivate",
			host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov), amtCurrent(amtUnprov, textAMTDeactivated, idle)),
			dev:  notActivated},
		{name: "deactivation takes precedence over a pending power request",
			host: provisionedHost(psOff, immediate, desiredAMT(amtUnprov)), dev: connSynced, reading: read(amt.PowerOn),
			want: unprovisionStep},
	})
}

// TestDecideUnlinkedDevice: a device whose record names no host (imported, or dialling in before Inventory has its
// host) is not deactivated or forgotten when Inventory has no host for it; once the host exists it is handled as
// any other. A linked device whose host is gone is deleted (the rows above).
func TestDecideUnlinkedDevice(t *testing.T) {
	runDecideCases(t, []decideCase{
		{name: "no host yet, connected: nothing, no status to write", dev: unlinked(connSynced)},
		{name: "no host yet, session not read: nothing", dev: unlinked(connUnsynced)},
		{name: "no host yet, not connected beyond grace: nothing", dev: unlinked(goneLong)},
		{name: "no host yet, session on another replica: nothing", dev: unlinked(elsewhere)},
		{name: "no host yet, device not activated: not forgotten", dev: notActivated},
		{name: "no host yet, a deactivation wait left by an earlier version: cancelled, nothing sent",
			dev: unlinked(goneLong), deact: dj(stepWaiting, 3*time.Minute),
			want: want{journal: []journalWant{jDel(store.OpDeactivation)}}},
		{name: "no host yet, power journal marked: left alone",
			dev: unlinked(connSynced), power: pj(psOn, phaseDone, 0, -1)},
		{name: "linked and the host is gone: deactivation as before",
			dev: connSynced, want: want{action: ActUnprovision, journal: []journalWant{jDeact(stepUnprovisionSent)}}},
		{name: "linked and never activated, host gone: forgotten quietly",
			dev: DeviceFacts{Known: true, Linked: true}, want: want{action: ActForget}},
		{name: "host present, record not linked yet: power handled as usual",
			host: provisionedHost(psOff, immediate), dev: unlinked(connSynced), reading: read(amt.PowerOn),
			want: want{power: pw(psOn, "Powering off", inProgress), action: ActSendPower, value: amt.PowerOffSoft,
				hard: true, journal: []journalWant{jPower(phaseHardIntent, psOff, true, amt.PowerOffSoft)}}},
		{name: "host present, record not linked yet: AMT connected reported",
			host: provisionedHost(psOn, ordered, amtCurrent(amtNone, "", unknown)), dev: unlinked(connSynced),
			power: pj(psOn, phaseDone, 0, -1), want: want{amt: aw(amtProv, textAMTConnected, idle)}},
		{name: "host present and deleted, record not linked yet: deactivated",
			host: provisionedHost(psOn, ordered, hostState(computev1.HostState_HOST_STATE_DELETED)),
			dev:  unlinked(connSynced), want: want{amt: aw(amtProv, textAMTDeactivating, inProgress),
				action: ActUnprovision, journal: []journalWant{jDeact(stepUnprovisionSent)}}},
	})
}
