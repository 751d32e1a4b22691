package host

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/reconcilers/internal/queue"
)

// settle reconciles the host until nothing is due at once, advancing the clock by what the reconciler asks to
// wait for (at most limit in all), and returns the clock's advance.
func settle(t *testing.T, r *Reconciler, w *world, clock *fakeClock, limit time.Duration) time.Duration {
	t.Helper()
	var waited time.Duration
	for n := 0; ; n++ {
		require.Less(t, n, 100, "no end: %v", w.log())
		res := r.reconcile(context.Background(), hostID(w))
		switch {
		case res.Requeue:
		case res.Err != nil:
			clock.Add(time.Second)
			waited += time.Second
		case res.After > 0 && waited+res.After <= limit:
			clock.Add(res.After)
			waited += res.After
		default:
			return waited
		}
	}
}

func sends(w *world, v amt.PowerState) int {
	return strings.Count(strings.Join(w.log(), "\n")+"\n", fmt.Sprintf("send %d\n", v))
}

// The case: ON's answer is lost, AMT did not act, the process restarts. The new process reads the state,
// finds the host off and, ON being a level, sends it again after the backoff, saying so meanwhile.
func TestLevelRetriedAfterLostAnswerAndRestart(t *testing.T) {
	w := newWorld(provisionedHost(psOn, immediate, current(psOff, "Powered off", idle)))
	w.amt = amt.PowerOffSoft
	w.sendErr = context.DeadlineExceeded // lost on the way: AMT did not act
	clock := &fakeClock{t: t0}
	first := newReconciler(t, w, clock.Now, Params{})
	require.Equal(t, queue.Result{After: 10 * time.Second}, first.reconcile(context.Background(), hostID(w)))
	first.Stop()
	require.Equal(t, phaseHardIntent, w.journal[store.OpPower].Step)

	clock.Add(11 * time.Second)
	second := newReconciler(t, w, clock.Now, Params{})
	require.Equal(t, queue.Result{After: 10 * time.Second}, second.reconcile(context.Background(), hostID(w)))
	require.Equal(t, "Power on not confirmed: AMT's answer was lost and the host reports powered off; retrying "+
		"(1/5) in 10s", w.host.PowerStatus)
	require.Equal(t, inProgress, w.host.PowerStatusIndicator)
	require.Equal(t, 1, sends(w, amt.PowerOn), "not sent again before the backoff ends")

	clock.Add(10 * time.Second)
	settle(t, second, w, clock, time.Minute)
	require.Equal(t, 2, sends(w, amt.PowerOn), "%v", w.log())
	require.Equal(t, amt.PowerOn, w.amt)
	require.Equal(t, "Powered on", w.host.PowerStatus)
	require.Equal(t, idle, w.host.PowerStatusIndicator)
	require.Equal(t, phaseDone, w.journal[store.OpPower].Step)
}

// AMT never acts and its answers are always lost: the level is retried LevelRetries times with a doubling
// backoff, then fails saying so. Nothing more happens until the user writes the same desired state again, which
// starts a new round; an unrelated read of the host does not.
func TestLevelRetriesExhaustedThenRewriteRetries(t *testing.T) {
	w := newWorld(provisionedHost(psOn, immediate, current(psOff, "Powered off", idle)))
	w.amt = amt.PowerOffSoft
	w.touch()
	w.onSend = func(amt.PowerState) { w.sendErr = context.DeadlineExceeded } // every answer lost, AMT never acts
	clock := &fakeClock{t: t0}
	p := testParams
	p.LevelRetries, p.RetryBackoff = 3, 2*time.Second
	r := newReconciler(t, w, clock.Now, p)

	waited := settle(t, r, w, clock, 10*time.Minute)
	require.Equal(t, 4, sends(w, amt.PowerOn), "first request and 3 retries: %v", w.log())
	// 4 times ActionSettle (10s) before each read, and backoffs of 2s, 4s, 8s.
	require.Equal(t, 4*10*time.Second+14*time.Second, waited)
	require.Contains(t, w.log(), `power POWER_STATE_OFF "Power on not confirmed: AMT's answer was lost and the host reports powered off; retrying (2/3) in 4s"`)
	require.Equal(t, "Power on not confirmed: AMT's answer was lost and the host reports powered off; gave up after "+
		"3 retries (set the desired power state again to retry)", w.host.PowerStatus)
	require.Equal(t, failure, w.host.PowerStatusIndicator)
	e := w.journal[store.OpPower]
	require.Equal(t, phaseFailed, e.Step)
	require.Equal(t, w.host.UpdatedAt, planOf(&e).Seen, "the failure's mark is the host after its report")

	clock.Add(time.Hour)
	settle(t, r, w, clock, 0)
	require.Equal(t, 4, sends(w, amt.PowerOn), "retried without a new request")

	w.mu.Lock()
	w.onSend = nil // the device answers again
	w.mu.Unlock()
	w.userWrites(psOn)
	settle(t, r, w, clock, time.Minute)
	require.Equal(t, 5, sends(w, amt.PowerOn), "writing ON again retries: %v", w.log())
	require.Equal(t, "Powered on", w.host.PowerStatus)
	require.Equal(t, amt.PowerOn, w.amt)
}

// An edge whose answer was lost and that did not show is never sent again: not by a restart, not by a retry and
// not by writing the same desired state again.
func TestEdgeNeverRepeatedEvenOnRewrite(t *testing.T) {
	w := newWorld(provisionedHost(psCycle, immediate))
	w.touch()
	w.sendErr = context.DeadlineExceeded
	w.onSend = func(amt.PowerState) { w.amt = amt.PowerOffSoft } // the cycle left the host off (as seen)
	clock := &fakeClock{t: t0}
	r := newReconciler(t, w, clock.Now, Params{})
	settle(t, r, w, clock, 10*time.Minute)
	require.Equal(t, 1, sends(w, amt.PowerCycleOffSoft))
	require.Equal(t, failure, w.host.PowerStatusIndicator)
	require.Contains(t, w.host.PowerStatus, "not repeated, to avoid a second power cycle")

	w.userWrites(computev1.PowerState_POWER_STATE_POWER_CYCLE)
	clock.Add(time.Hour)
	settle(t, r, w, clock, 10*time.Minute)
	require.Equal(t, 1, sends(w, amt.PowerCycleOffSoft), "an edge sent twice: %v", w.log())
}
