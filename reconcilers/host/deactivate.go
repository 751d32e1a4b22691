package host

import (
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/store"
)

// Deactivation journal phases (JournalEntry.Step of kind deactivation).
const (
	stepWaiting         = "waiting"          // wanted, not sent; CreatedAt is when it was first wanted
	stepUnprovisionSent = "unprovision_sent" // Unprovision possibly sent at StepStartedAt, written before sending
	stepForget          = "forget"           // AMT accepted Unprovision: drop the device's secrets and records
)

// decideDeactivation handles flow 6: desired AMT state UNPROVISIONED, or a provisioned host deauthorised
// (desired_state UNTRUSTED) or deleted (desired_state DELETED, or gone from Inventory). It reports handled=false
// when there is nothing of that kind to do, and the rest of Decide runs.
//
// A deleted host's device that does not connect is forgotten after ForgetAfter: the host is gone, so nobody could
// ever act on the device through dm-manager again, and keeping its secrets only keeps credentials alive. Its AMT
// stays activated and must be deactivated locally. A deauthorised host, or one whose owner asked for
// UNPROVISIONED, still exists in Inventory: dm-manager keeps trying for as long as it does.
func decideDeactivation(in Input) (Step, bool) {
	h, dj, dev := in.Host, in.Deactivation, in.Device
	deleting := in.hostDeleted()
	switch {
	case dj != nil && dj.Step == stepForget:
		return forget(in, true), true
	case !dev.Known:
		if dj != nil { // the record went away under us: finish the clean-up
			return forget(in, dj.Step == stepUnprovisionSent), true
		}
		return Step{}, false
	case !dev.Provisioned:
		if deleting {
			return forget(in, false), true
		}
		return Step{}, false
	}
	want := deleting || h.GetDesiredState() == computev1.HostState_HOST_STATE_UNTRUSTED ||
		h.GetDesiredAmtState() == computev1.AmtState_AMT_STATE_UNPROVISIONED
	sent := dj != nil && dj.Step == stepUnprovisionSent
	switch {
	case !want && !sent:
		return Step{}, false
	case dev.Elsewhere:
		return Step{}, true // the replica holding the session deactivates
	case sent:
		return unprovisionSent(in), true
	case dev.Connected:
		return unprovision(in), true
	}
	return deactivationWaiting(in, deleting), true
}

// unprovision journals the intent and asks AMT to deactivate.
func unprovision(in Input) Step {
	h, dj := in.Host, in.Deactivation
	if dj != nil && dj.Attempts > 0 {
		if in.hostDeleted() && !in.Now.Before(wantedSince(dj, in.Now).Add(in.Params.ForgetAfter)) {
			st := forget(in, false)
			st.Warn = "AMT kept refusing deactivation of a deleted host's device; forgetting it with AMT still " +
				"activated: deactivate it locally (rpc deactivate)"
			return st
		}
		if in.Now.Before(dj.DeadlineAt) { // a refused attempt: wait for the retry time
			st := Step{After: dj.DeadlineAt.Sub(in.Now)}
			if h != nil {
				st.AMT = amtReport(h, computev1.AmtState_AMT_STATE_PROVISIONED, dj.LastError, failure)
			}
			return st
		}
	}
	e := store.JournalEntry{Kind: store.OpDeactivation}
	if dj != nil {
		e = *dj
	}
	e.Step, e.StepStartedAt, e.DeadlineAt = stepUnprovisionSent, in.Now, in.Now.Add(in.Params.ActionSettle)
	st := Step{Journal: []JournalOp{{Entry: e}}, Action: ActUnprovision}
	if h != nil {
		st.AMT = amtReport(h, computev1.AmtState_AMT_STATE_PROVISIONED, textAMTDeactivating, inProgress)
	}
	return st
}

// unprovisionSent: Unprovision went out but its answer was lost. A deactivated AMT drops its CIRA session and
// never dials in again, so a device still (or again) connected after AMT had time to act was not deactivated and
// is asked again (Unprovision is idempotent); one that stays away for the grace period was.
func unprovisionSent(in Input) Step {
	dj := in.Deactivation
	if in.Device.Connected {
		if q := dj.StepStartedAt.Add(in.Params.ActionSettle); in.Now.Before(q) {
			return Step{After: q.Sub(in.Now)}
		}
		return unprovision(in)
	}
	if q := dj.StepStartedAt.Add(in.Params.DisconnectGrace); in.Now.Before(q) {
		return Step{After: q.Sub(in.Now)}
	}
	return forget(in, true)
}

// deactivationWaiting: deactivation is wanted and the device is not connected.
func deactivationWaiting(in Input, deleting bool) Step {
	h, dj := in.Host, in.Deactivation
	e := store.JournalEntry{Kind: store.OpDeactivation, Step: stepWaiting, StepStartedAt: in.Now}
	if dj != nil {
		e = *dj
	}
	var st Step
	if deleting {
		forgetAt := wantedSince(dj, in.Now).Add(in.Params.ForgetAfter)
		if !in.Now.Before(forgetAt) {
			st = forget(in, false)
			st.Warn = "deleted host's device did not connect to be deactivated; forgetting it with AMT still " +
				"activated: deactivate it locally (rpc deactivate)"
			return st
		}
		if dj == nil || !e.DeadlineAt.Equal(forgetAt) {
			e.DeadlineAt = forgetAt
			st.Journal = []JournalOp{{Entry: e}}
		}
		st.After = forgetAt.Sub(in.Now)
		if h != nil {
			st.AMT = amtReport(h, amtStateNow(in), deactivationWaitText(in.Params, true), inProgress)
		}
		return st
	}
	if dj == nil {
		st.Journal = []JournalOp{{Entry: e}}
	}
	st.AMT = amtReport(h, amtStateNow(in), deactivationWaitText(in.Params, false), failure)
	st.After = in.graceLeft()
	return st
}

// hostDeleted: the host is being deleted, or Inventory no longer has it. A missing host counts only for a linked
// device: an unlinked one (imported, or dialling in before its host is registered) has no host yet, and
// deactivating it would destroy a fleet whose hosts Inventory has not created.
func (in Input) hostDeleted() bool {
	if in.Host == nil {
		return in.Device.Linked
	}
	return in.Host.GetDesiredState() == computev1.HostState_HOST_STATE_DELETED
}

// amtStateNow is the AMT state to show beside a deactivation text: DISCONNECTED once the grace period is over.
func amtStateNow(in Input) computev1.AmtState {
	switch {
	case in.Device.Connected:
		return computev1.AmtState_AMT_STATE_PROVISIONED
	case in.graceLeft() == 0:
		return computev1.AmtState_AMT_STATE_DISCONNECTED
	case in.Host.GetCurrentAmtState() != computev1.AmtState_AMT_STATE_UNSPECIFIED:
		return in.Host.GetCurrentAmtState()
	}
	return computev1.AmtState_AMT_STATE_PROVISIONED
}

// wantedSince is when deactivation was first wanted: the entry's creation (kept across rewrites), else now.
func wantedSince(dj *store.JournalEntry, now time.Time) time.Time {
	switch {
	case dj == nil:
		return now
	case !dj.CreatedAt.IsZero():
		return dj.CreatedAt
	case !dj.StepStartedAt.IsZero():
		return dj.StepStartedAt
	}
	return now
}

// forget drops the device; deactivated says AMT accepted Unprovision, which is then reported.
func forget(in Input, deactivated bool) Step {
	st := Step{Action: ActForget}
	if deactivated && in.Host != nil {
		st.AMT = amtReport(in.Host, computev1.AmtState_AMT_STATE_UNPROVISIONED, textAMTDeactivated, idle)
	}
	return st
}
