package host

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want Outcome
	}{
		{"success", nil, Outcome{Kind: Accepted}},
		{"no session", fmt.Errorf("connect to AMT: %w", ErrNotSent), Outcome{Kind: NotSent, Reason: "not sent"}},
		{"AMT return value", fmt.Errorf("call: %w", &wsman.ReturnValueError{Method: "CIM_PowerManagementService.RequestPowerStateChange", Value: 2, Name: "NOT_READY"}),
			Outcome{Kind: Refused, Reason: "NOT_READY"}},
		{"credentials", &wsman.AuthError{Username: "admin", Attempts: 3}, Outcome{Kind: Refused, Reason: "authentication failed", Auth: true}},
		{"SOAP fault", &wsman.FaultError{Code: "Sender", Subcode: "ActionNotSupported"}, Outcome{Kind: Refused, Reason: "SOAP fault Sender/ActionNotSupported"}},
		{"HTTP status", &wsman.HTTPStatusError{StatusCode: 500, Reason: "Internal Server Error"}, Outcome{Kind: Refused, Reason: "HTTP 500"}},
		{"timeout after sending", context.DeadlineExceeded, Outcome{Kind: Uncertain, Reason: "context deadline exceeded"}},
		{"connection lost", errors.New("read: connection reset by peer"), Outcome{Kind: Uncertain, Reason: "read: connection reset by peer"}},
	} {
		t.Run(c.name, func(t *testing.T) { require.Equal(t, c.want, Classify(c.err)) })
	}
}

// TestSettle: how the outcome of a device request is recorded.
func TestSettle(t *testing.T) {
	in := func(prev *store.JournalEntry) Input {
		return Input{Now: t0, Params: testParams, Host: provisionedHost(psOff, ordered), Device: connSynced, Power: prev}
	}
	softOff := Decide(Input{Now: t0, Params: testParams, Host: provisionedHost(psOff, ordered), Device: connSynced,
		Reading: read(amt.PowerOn)})
	softReset := Decide(Input{Now: t0, Params: testParams, Host: provisionedHost(psReset, ordered), Device: connSynced,
		Reading: read(amt.PowerOn)})
	hardOff := Decide(Input{Now: t0, Params: testParams, Host: provisionedHost(psOff, immediate), Device: connSynced,
		Reading: read(amt.PowerOn)})
	require.Equal(t, amt.PowerOffSoftGraceful, softOff.PowerValue)
	require.Equal(t, amt.MasterBusResetGraceful, softReset.PowerValue)
	require.True(t, hardOff.Hard)
	unprov := Decide(Input{Now: t0, Params: testParams, Host: provisionedHost(psOn, ordered, desiredAMT(amtUnprov)), Device: connSynced})
	require.Equal(t, ActUnprovision, unprov.Action)
	marker := pj(psOn, phaseDone, 0, -1)
	refusedOff := Outcome{Kind: Refused, Reason: "NOT_READY"}

	for _, c := range []struct {
		name string
		in   Input
		st   Step
		out  Outcome
		want want
	}{
		{"soft accepted: recorded, check in 5s", in(nil), softOff, Outcome{Kind: Accepted}, want{after: 5 * time.Second,
			journal: []journalWant{jPower(phaseSoftAccepted, psOff, false, amt.PowerOffSoftGraceful)}}},
		{"soft reset accepted: recorded, look when its time is up", in(nil), softReset, Outcome{Kind: Accepted},
			want{after: 30 * time.Second, journal: []journalWant{jPower(phaseSoftAccepted, psReset, false, amt.MasterBusResetGraceful)}}},
		{"soft refused: record AMT's reason", in(nil), softOff, refusedOff,
			want{journal: []journalWant{jPower(phaseSoftRefused, psOff, false, amt.PowerOffSoftGraceful)}, requeue: true}},
		{"soft not sent: intent removed, retry", in(nil), softOff, Outcome{Kind: NotSent},
			want{journal: []journalWant{jDel(store.OpPower)}, retry: true}},
		{"soft not sent: previous entry restored", in(marker), softOff, Outcome{Kind: NotSent},
			want{journal: []journalWant{jPower(phaseDone, psOn, false, 0)}, retry: true}},
		{"soft answer lost: stays possibly sent, checked", in(nil), softOff, Outcome{Kind: Uncertain}, want{after: 5 * time.Second}},
		{"hard accepted", in(nil), hardOff, Outcome{Kind: Accepted},
			want{journal: []journalWant{jPower(phaseHardSent, psOff, true, amt.PowerOffSoft)}, requeue: true}},
		{"hard refused: failed with the reason", in(nil), hardOff, refusedOff,
			want{journal: []journalWant{jPower(phaseFailed, psOff, true, amt.PowerOffSoft)}, requeue: true}},
		{"hard answer lost: keep the intent, look after AMT had time", in(nil), hardOff, Outcome{Kind: Uncertain},
			want{after: 10 * time.Second}},
		{"hard not sent: safe to send later", in(nil), hardOff, Outcome{Kind: NotSent},
			want{journal: []journalWant{jDel(store.OpPower)}, retry: true}},
		{"unprovision accepted: forget next", in(nil), unprov, Outcome{Kind: Accepted},
			want{journal: []journalWant{jDeact(stepForget)}, requeue: true}},
		{"unprovision refused: wait and retry", in(nil), unprov, Outcome{Kind: Refused, Reason: "NOT_PERMITTED"},
			want{journal: []journalWant{jDeact(stepWaiting)}, requeue: true}},
		{"unprovision not sent", in(nil), unprov, Outcome{Kind: NotSent},
			want{journal: []journalWant{jDel(store.OpDeactivation)}, retry: true}},
		{"unprovision answer lost", in(nil), unprov, Outcome{Kind: Uncertain}, want{after: 10 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) { checkStep(t, c.want, Settle(c.in, c.st, c.out)) })
	}

	t.Run("texts recorded for the next decision", func(t *testing.T) {
		st := Settle(in(nil), hardOff, refusedOff)
		require.Equal(t, "Power off failed: AMT refused it (NOT_READY)", st.Journal[0].Entry.LastError)
		st = Settle(in(nil), hardOff, Classify(&wsman.AuthError{}))
		require.Equal(t, "Power off failed: AMT rejected dm-manager's credentials; deactivate and re-activate the device",
			st.Journal[0].Entry.LastError)
		st = Settle(in(nil), softOff, refusedOff)
		require.Equal(t, "NOT_READY", st.Journal[0].Entry.LastError)
		st = Settle(in(nil), unprov, Outcome{Kind: Refused, Reason: "NOT_PERMITTED"})
		e := st.Journal[0].Entry
		require.Equal(t, "AMT deactivation failed: AMT refused it (NOT_PERMITTED); retrying", e.LastError)
		require.Equal(t, int32(1), e.Attempts)
		require.Equal(t, t0.Add(30*time.Second), e.DeadlineAt)
	})
}

func TestDeactivationBackoff(t *testing.T) {
	for n, want := range map[int32]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute,
		5: 8 * time.Minute, 6: 10 * time.Minute, 40: 10 * time.Minute} {
		require.Equal(t, want, deactivationBackoff(n), "attempt %d", n)
	}
}

func TestDeviceFacts(t *testing.T) {
	const tenant = "11111111-1111-1111-1111-111111111111"
	started := t0.Add(-30 * time.Minute)
	dev := func(opts ...func(*store.Device)) *store.Device {
		d := &store.Device{TenantID: tenant, ActivationState: store.StateActivated, ConnectionState: store.ConnectionNever,
			UpdatedAt: t0.Add(-2 * time.Hour)}
		for _, o := range opts {
			o(d)
		}
		return d
	}
	conn := func(owner string, seenAgo time.Duration) func(*store.Device) {
		return func(d *store.Device) {
			d.ConnectionState, d.OwnerReplica = store.ConnectionConnected, owner
			d.ConnectedAt, d.LastSeenAt = t0.Add(-time.Hour), t0.Add(-seenAgo)
		}
	}
	for _, c := range []struct {
		name string
		dev  *store.Device
		pv   presenceView
		want DeviceFacts
	}{
		{"no record", nil, presenceView{}, DeviceFacts{}},
		{"another tenant's record", dev(func(d *store.Device) { d.TenantID = "33333333-3333-3333-3333-333333333333" }),
			presenceView{}, DeviceFacts{}},
		{"activating", dev(func(d *store.Device) { d.ActivationState = store.StateActivating }), presenceView{},
			DeviceFacts{Known: true, NeverConnected: true, Since: started}},
		{"linked to its host", dev(func(d *store.Device) { d.HostResourceID = "host-12345678" }), presenceView{},
			DeviceFacts{Known: true, Linked: true, Provisioned: true, NeverConnected: true, Since: started}},
		{"local session, read", dev(), presenceView{Local: true, SessionAt: t0.Add(-time.Minute), Synced: true},
			DeviceFacts{Known: true, Provisioned: true, Connected: true, Since: t0.Add(-time.Minute), PowerSynced: true}},
		{"disconnect seen by this process wins", dev(conn("replica-a", time.Minute)),
			presenceView{LastDisconnect: t0.Add(-20 * time.Second)},
			DeviceFacts{Known: true, Provisioned: true, Since: t0.Add(-20 * time.Second)}},
		{"store records the disconnect", dev(func(d *store.Device) {
			d.ConnectionState, d.DisconnectedAt = store.ConnectionDisconnected, t0.Add(-3*time.Minute)
		}), presenceView{}, DeviceFacts{Known: true, Provisioned: true, Since: t0.Add(-3 * time.Minute)}},
		{"fresh session on another replica", dev(conn("replica-b", time.Minute)), presenceView{},
			DeviceFacts{Known: true, Provisioned: true, Elsewhere: true, Since: t0.Add(-time.Hour)}},
		{"stale session of a dead replica: missing since this process started", dev(conn("replica-b", time.Hour)),
			presenceView{}, DeviceFacts{Known: true, Provisioned: true, Since: started}},
		{"our own stale record after a restart", dev(conn("replica-a", time.Minute)), presenceView{},
			DeviceFacts{Known: true, Provisioned: true, Since: t0.Add(-time.Minute)}},
		{"never connected, activated recently", dev(func(d *store.Device) { d.UpdatedAt = t0.Add(-time.Minute) }),
			presenceView{}, DeviceFacts{Known: true, Provisioned: true, NeverConnected: true, Since: t0.Add(-time.Minute)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, deviceFacts(c.dev, tenant, c.pv, started, t0, testParams))
		})
	}
}

func TestID(t *testing.T) {
	id := NewID("11111111-1111-1111-1111-111111111111", "ABCDEF01-2345-6789-ABCD-EF0123456789")
	require.Equal(t, "11111111-1111-1111-1111-111111111111_abcdef01-2345-6789-abcd-ef0123456789", id.String())
	require.Equal(t, "11111111-1111-1111-1111-111111111111", id.Tenant())
	require.Equal(t, "abcdef01-2345-6789-abcd-ef0123456789", id.GUID())
}

func TestClip(t *testing.T) {
	long := make([]byte, 0, 1100)
	for len(long) < 1100 {
		long = append(long, "é"...)
	}
	got := clip(string(long))
	require.LessOrEqual(t, len(got), maxStatusLen)
	require.Equal(t, 1024, len(got))
	require.Equal(t, "short", clip("short"))
}

func TestHumanDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Second: "30s", time.Minute: "1m", 90 * time.Second: "1m30s",
		10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Minute: "1h30m", 300 * time.Millisecond: "300ms"} {
		require.Equal(t, want, human(d))
	}
}
