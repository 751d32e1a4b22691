package host

import (
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/store"
)

// Levels (ON, OFF, SLEEP, HIBERNATE) are re-established after an uncertain outcome, with bounded retries; a failed
// one is asked for again by an update of the host in Inventory. Edges never come here (see decide.go).

// stillFailed: the last request for d failed and nothing asks for it again. A failed level is asked for again by
// any update of the host in Inventory after the failure was reported (its updated_at differs from the one the
// journal noted): the user writing the same desired state again is one. A failed reset or power cycle is not,
// since an unrelated update must never reset a host; a new request (another state, or RESET_REPEAT) is needed.
func stillFailed(e *store.JournalEntry, d computev1.PowerState, h *computev1.HostResource) bool {
	if !failedFor(e, d) {
		return false
	}
	if isAction(d) {
		return true
	}
	seen := planOf(e).Seen
	return seen == "" || h.GetUpdatedAt() == "" || seen == h.GetUpdatedAt()
}

// noteSeen records in a failed level's entry the host's updated_at once the failure is reported: the mark later
// updates are compared with (stillFailed). It is noted by a step that writes nothing to Inventory, so that the
// mark includes dm-manager's own writes; a step that writes looks again at once.
func noteSeen(in Input, st *Step) {
	e, h := in.Power, in.Host
	if e == nil || e.Step != phaseFailed || psOf(e.Desired) != h.GetDesiredPowerState() || isAction(psOf(e.Desired)) ||
		h.GetUpdatedAt() == "" || planOf(e).Seen != "" {
		return
	}
	if st.AMT != nil || st.Power != nil || len(st.Journal) > 0 || st.Action != ActNone {
		st.Requeue = true
		return
	}
	plan := planOf(e)
	plan.Seen = h.GetUpdatedAt()
	n := *e
	n.Sequence = plan.encode()
	st.Journal = []JournalOp{{Entry: n}}
}

func doneFor(e *store.JournalEntry, d computev1.PowerState) bool {
	return e != nil && psOf(e.Desired) == d && e.Step == phaseDone
}

// retryOrFail follows a level not reached after an uncertain outcome: AMT's state is read again and the level
// re-established after a backoff, up to Params.LevelRetries times; then the request fails, and only a new write
// of the desired state (stillFailed) starts another round. Edges never come here.
func retryOrFail(in Input, d, obs computev1.PowerState, why string) Step {
	n := int32(1)
	if pj := in.Power; pj != nil && psOf(pj.Desired) == d {
		n = pj.Attempts + 1
	}
	if int(n) > in.Params.LevelRetries {
		return fail(in, d, obs, exhaustedText(why, in.Params.LevelRetries))
	}
	wait := retryBackoff(in.Params, n)
	e := newEntry(in, d, phaseRetry, powerPlan{})
	e.Attempts, e.LastError = n, clip(why)
	e.StepStartedAt, e.DeadlineAt = in.Now, in.Now.Add(wait)
	text := retryText(why, n, in.Params.LevelRetries, wait)
	return Step{Power: powerReport(in.Host, obs, text, inProgress, nil), Journal: []JournalOp{{Entry: e}}, After: wait}
}

// maxRetryBackoff caps the doubling wait between retries of a level.
const maxRetryBackoff = 5 * time.Minute

// retryBackoff is the wait before retry n (1-based): RetryBackoff doubled n-1 times, at most maxRetryBackoff.
func retryBackoff(p Params, n int32) time.Duration {
	d := p.RetryBackoff
	for i := int32(1); i < n && d < maxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, maxRetryBackoff)
}
