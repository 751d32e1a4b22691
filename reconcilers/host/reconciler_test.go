package host

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/reconcilers/internal/queue"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newReconciler(t *testing.T, w *world, clock func() time.Time, p Params) *Reconciler {
	t.Helper()
	if p == (Params{}) {
		p = testParams
	}
	r, err := New(Config{Params: p, Parallelism: 2, Log: zerolog.Nop(), Clock: clock}, w.deps())
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	return r
}

func hostID(w *world) ID { return NewID(w.host.GetTenantId(), w.host.GetUuid()) }

// waitFor reads events until one contains s.
func waitFor(t *testing.T, ch <-chan string, s string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if strings.Contains(ev, s) {
				return
			}
		case <-timeout:
			t.Fatalf("no event containing %q", s)
		}
	}
}

// waitForAll waits until each of want has been contained in some event, in any order.
func waitForAll(t *testing.T, ch <-chan string, want ...string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-ch:
			want = slices.DeleteFunc(want, func(s string) bool { return strings.Contains(ev, s) })
		case <-timeout:
			t.Fatalf("no events containing %q", want)
		}
	}
}

func TestNewRequiresDeps(t *testing.T) {
	_, err := New(Config{}, Deps{})
	require.ErrorContains(t, err, "missing dependencies [Devices Hosts Journal Power Presence Secrets Status]")
}

// An IMMEDIATE power off: read, status, journal intent (hard_action_sent) BEFORE the request, result after it;
// two Inventory writes in all.
func TestImmediateOffOrdering(t *testing.T) {
	w := newWorld(provisionedHost(psOff, immediate))
	clock := &fakeClock{t: t0}
	r := newReconciler(t, w, clock.Now, Params{})
	id := hostID(w)

	require.Equal(t, queue.Result{Requeue: true}, r.reconcile(context.Background(), id))
	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), id))
	require.Equal(t, []string{
		"read 2",
		`power POWER_STATE_ON "Powering off"`,
		"journal power hard_intent hard=true",
		"send 8",
		"journal power hard_sent hard=true",
		`power POWER_STATE_OFF "Powered off"`,
		"journal power done hard=true",
	}, w.log())
	require.Equal(t, 2, w.writes)
	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), id), "nothing more to do")
	require.Len(t, w.log(), 7)
}

// The answer to a hard action is lost and the process restarts: the new process reads the state once AMT had
// time to act and never sends the action again.
func TestRestartNeverRepeatsHardAction(t *testing.T) {
	for _, acted := range []bool{true, false} {
		t.Run(map[bool]string{true: "AMT acted", false: "AMT did not act"}[acted], func(t *testing.T) {
			w := newWorld(provisionedHost(psOff, immediate))
			w.sendErr = context.DeadlineExceeded
			clock := &fakeClock{t: t0}
			first := newReconciler(t, w, clock.Now, Params{})
			require.Equal(t, queue.Result{After: 10 * time.Second}, first.reconcile(context.Background(), hostID(w)))
			first.Stop()
			require.Equal(t, phaseHardIntent, w.journal[store.OpPower].Step)
			if acted {
				w.amt = amt.PowerOffSoft
			}

			clock.Add(11 * time.Second)
			second := newReconciler(t, w, clock.Now, Params{})
			second.reconcile(context.Background(), hostID(w))
			second.reconcile(context.Background(), hostID(w))
			require.Equal(t, 1, strings.Count(strings.Join(w.log(), "\n"), "send 8"), "sent again: %v", w.log())
			if acted {
				require.Equal(t, "Powered off", w.host.PowerStatus)
				require.Equal(t, phaseDone, w.journal[store.OpPower].Step)
			} else { // OFF is a level: AMT's state was read again, a retry is due after the backoff (levels_test.go)
				require.Equal(t, inProgress, w.host.PowerStatusIndicator)
				require.Equal(t, "Power off not confirmed: AMT's answer was lost and the host reports on; retrying "+
					"(1/5) in 10s", w.host.PowerStatus)
				require.Equal(t, phaseRetry, w.journal[store.OpPower].Step)
			}
		})
	}
}

// A restart between the soft off and its deadline resumes the wait, then forces the hard off once.
func TestRestartResumesOrderedOff(t *testing.T) {
	w := newWorld(provisionedHost(psOff, ordered))
	clock := &fakeClock{t: t0}
	first := newReconciler(t, w, clock.Now, Params{})
	w.amt = amt.PowerOn
	res := first.reconcile(context.Background(), hostID(w))
	require.Equal(t, 5*time.Second, res.After)
	require.Contains(t, w.log(), "send 12")
	w.amt = amt.PowerOn // the OS ignores the request
	first.Stop()

	clock.Add(31 * time.Second)
	second := newReconciler(t, w, clock.Now, Params{})
	res = second.reconcile(context.Background(), hostID(w))
	require.Equal(t, queue.Result{Requeue: true}, res)
	second.reconcile(context.Background(), hostID(w))
	log := strings.Join(w.log(), "\n")
	require.Contains(t, log, `"Soft power off timed out after 30s, forcing hard power off"`)
	require.Equal(t, 1, strings.Count(log, "send 8"))
	require.Equal(t, "Powered off", w.host.PowerStatus)
	require.Equal(t, 3, w.writes)
}

// Through the queue with real timers: the soft off times out and the hard off follows; no polling in between
// beyond the journal timers.
func TestOrderedOffTimersThroughQueue(t *testing.T) {
	w := newWorld(provisionedHost(psOff, ordered))
	w.notify = make(chan string, 100)
	p := testParams
	p.SoftOffTimeout, p.StateCheckInterval, p.ActionSettle = 300*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	r := newReconciler(t, w, time.Now, p)
	w.mu.Lock()
	w.amt = amt.PowerOn
	w.mu.Unlock()
	// The OS ignores the graceful request: a fake that leaves the state on for 12.
	r.deps.Power = hungOS{w}
	r.Enqueue(w.host.GetTenantId(), w.host.GetUuid())
	waitFor(t, w.notify, "Soft power off timed out after 300ms")
	waitFor(t, w.notify, `"Powered off"`)
	reads := strings.Count(strings.Join(w.log(), "\n"), "read ")
	require.LessOrEqual(t, reads, 6, "reads: %v", w.log())
}

type hungOS struct{ *world }

func (h hungOS) RequestPowerStateChange(ctx context.Context, tenant, guid string, v amt.PowerState) error {
	if v == amt.PowerOffSoftGraceful {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.record("send %d", v)
		return nil
	}
	return h.world.RequestPowerStateChange(ctx, tenant, guid, v)
}

// A disconnect is reported once the grace period ends (a timer, not polling); a reconnect reads the state once.
func TestPresenceGrace(t *testing.T) {
	w := newWorld(provisionedHost(psOn, ordered))
	w.journal[store.OpPower] = store.JournalEntry{Kind: store.OpPower, Desired: int32(psOn), Step: phaseDone}
	w.notify = make(chan string, 100)
	p := testParams
	p.DisconnectGrace = 200 * time.Millisecond
	r := newReconciler(t, w, time.Now, p)

	w.mu.Lock()
	w.local = false
	w.mu.Unlock()
	r.PresenceChanged(w.host.GetTenantId(), w.host.GetUuid(), false, time.Now())
	waitFor(t, w.notify, "amt AMT_STATE_DISCONNECTED")
	waitFor(t, w.notify, textPowerUnknown)

	w.mu.Lock()
	w.local, w.session = true, time.Now()
	w.mu.Unlock()
	r.PresenceChanged(w.host.GetTenantId(), w.host.GetUuid(), true, time.Now())
	waitFor(t, w.notify, "read 2")
	// The AMT and power status writes of one reconcile may come in either order.
	waitForAll(t, w.notify, `amt AMT_STATE_PROVISIONED "AMT connected"`, "power POWER_STATE_ON")
	w.mu.Lock()
	defer w.mu.Unlock()
	require.Equal(t, psOn, w.host.GetCurrentPowerState())
}

// Deactivation: intent, Unprovision, then secrets, journal and record dropped in an order a crash can resume.
func TestDeactivationForgetsInOrder(t *testing.T) {
	w := newWorld(provisionedHost(psOn, ordered, desiredAMT(amtUnprov)))
	clock := &fakeClock{t: t0}
	r := newReconciler(t, w, clock.Now, Params{})
	require.Equal(t, queue.Result{Requeue: true}, r.reconcile(context.Background(), hostID(w)))
	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), hostID(w)))
	require.Equal(t, []string{
		`amt AMT_STATE_PROVISIONED "Deactivating AMT"`,
		"journal deactivation unprovision_sent hard=false",
		"unprovision",
		"journal deactivation forget hard=false",
		`amt AMT_STATE_UNPROVISIONED "AMT deactivated"`,
		"delete secret tenants/11111111-1111-1111-1111-111111111111/devices/22222222-2222-2222-2222-222222222222",
		"delete device",
		"journal deactivation deleted",
	}, w.log())
	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), hostID(w)), "nothing left to do")
}

// The journal sweep reconciles hosts whose entries are due (a previous process's timers are gone).
func TestSweepEnqueuesDueEntries(t *testing.T) {
	w := newWorld(provisionedHost(psReset, ordered))
	e := *pj(psReset, phaseSoftAccepted, amt.MasterBusResetGraceful, time.Minute)
	e.TenantID, e.GUID = w.host.GetTenantId(), w.host.GetUuid()
	w.journal[store.OpPower] = e
	w.notify = make(chan string, 100)
	r := newReconciler(t, w, func() time.Time { return t0 }, Params{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	waitFor(t, w.notify, `"Reset done"`)
}

// A host deleted from Inventory while dm-manager was down: the start-up sweep finds its device, which is not
// connected, and starts the bounded wait before forgetting it.
func TestStartSweepFindsDeletedHosts(t *testing.T) {
	w := newWorld(provisionedHost(psOn, ordered))
	w.host, w.local = nil, false
	w.notify = make(chan string, 100)
	r := newReconciler(t, w, func() time.Time { return t0 }, Params{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	waitFor(t, w.notify, "journal deactivation waiting")
	w.mu.Lock()
	defer w.mu.Unlock()
	require.Equal(t, t0.Add(10*time.Minute), w.journal[store.OpDeactivation].DeadlineAt)
}

// An imported device (no host_resource_id) dials in before Inventory has its host: nothing is done to it. When the
// host appears the record is linked before anything else; from then on the host's disappearance is a deletion.
func TestImportedDeviceLinkedWhenHostAppears(t *testing.T) {
	h := provisionedHost(psOn, ordered)
	w := newWorld(h)
	w.host, w.dev.HostResourceID = nil, ""
	w.journal[store.OpPower] = store.JournalEntry{Kind: store.OpPower, Desired: int32(psOn), Step: phaseDone}
	clock := &fakeClock{t: t0}
	r := newReconciler(t, w, clock.Now, Params{})
	id := NewID(h.GetTenantId(), h.GetUuid())

	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), id))
	require.Empty(t, w.log(), "no deactivation, no forget, nothing written")
	require.NotNil(t, w.dev, "the record is kept")

	w.mu.Lock()
	w.host = h
	w.mu.Unlock()
	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), id))
	require.Equal(t, []string{"link device host-12345678", "read 2"}, w.log())
	require.Equal(t, "host-12345678", w.dev.HostResourceID)
	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), id))
	require.Len(t, w.log(), 2, "linked once; the host already shows what AMT reports")

	w.mu.Lock()
	w.host = nil
	w.mu.Unlock()
	r.reconcile(context.Background(), id)
	require.Equal(t, []string{"journal deactivation unprovision_sent hard=false", "unprovision"}, w.log()[2:4],
		"a linked device whose host is gone is deactivated")
}

// Stop with timers pending: no panic later, no goroutines left.
func TestStopWithPendingTimers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w := newWorld(provisionedHost(psOn, ordered))
	w.mu.Lock()
	w.local = false
	w.mu.Unlock()
	r, err := New(Config{Params: testParams, Log: zerolog.Nop()}, w.deps())
	require.NoError(t, err)
	w.notify = make(chan string, 10)
	r.PresenceChanged(w.host.GetTenantId(), w.host.GetUuid(), false, time.Now()) // within grace: a 1m timer
	r.Enqueue(w.host.GetTenantId(), w.host.GetUuid())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	cancel()
	require.NoError(t, <-done)
	r.Stop()
	r.Enqueue(w.host.GetTenantId(), w.host.GetUuid()) // after Stop: ignored
}

// A reconcile that writes both triplets compares the second write with the host as the first left it, not as
// gathered: a stale comparison would skip writes that are due.
func TestStatusWritesCompareWithOwnWrites(t *testing.T) {
	w := newWorld(provisionedHost(psOn, immediate, current(psOff, "Powered off", idle),
		amtCurrent(amtNone, "", idle)))
	r := newReconciler(t, w, (&fakeClock{t: t0}).Now, Params{})

	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), hostID(w)))
	require.Equal(t, []string{
		"read 2",
		`amt AMT_STATE_PROVISIONED "AMT connected"`,
		`power POWER_STATE_ON "Powered on"`,
		"journal power done hard=false",
	}, w.log())
}

// A linked device's host is read by its resource ID, one read per reconcile; a link gone stale (the host was
// re-created under a new ID) falls back to the search by UUID and is repaired.
func TestHostReadByLinkedResourceID(t *testing.T) {
	w := newWorld(provisionedHost(psOn, ordered))
	r := newReconciler(t, w, (&fakeClock{t: t0}).Now, Params{})
	id := hostID(w)
	reads := func() [2]int {
		w.mu.Lock()
		defer w.mu.Unlock()
		return [2]int{w.readsByID, w.readsByUUID}
	}

	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), id))
	require.Equal(t, [2]int{1, 0}, reads(), "linked: one read by ID")

	w.mu.Lock()
	w.host.ResourceId = "host-87654321"
	w.mu.Unlock()
	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), id))
	require.Equal(t, [2]int{2, 1}, reads(), "stale link: by ID, then by UUID")
	require.Contains(t, w.log(), "link device host-87654321")
	require.Equal(t, queue.Result{}, r.reconcile(context.Background(), id))
	require.Equal(t, [2]int{3, 1}, reads(), "relinked: by ID again")
}
