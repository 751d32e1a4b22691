package host

import (
	"encoding/json"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

// Power journal phases (JournalEntry.Step of kind power). Desired is the request the entry is about. An entry
// stays after the request ends (done, failed): it marks the request as handled, which is how a reset is done once
// per request although the host reads "on" both before and after it.
const (
	phaseDone   = "done"   // the request was reached
	phaseFailed = "failed" // the request failed; LastError is the status text. See retriable for when it is retried
	// phaseRetry: a level (ON, OFF, SLEEP, HIBERNATE) was not reached after an uncertain outcome; AMT's state is
	// read again and the level re-established at DeadlineAt. Attempts counts the retries so far, LastError says why.
	phaseRetry = "retry_wait"
	// phaseSoftSent: graceful action possibly sent at StepStartedAt (written before sending); DeadlineAt ends the wait.
	phaseSoftSent = "soft_sent"
	// phaseSoftAccepted: AMT accepted the graceful action. A soft_sent entry never followed by it (answer lost,
	// process killed) leaves a reset's outcome unknown: the host reads "on" whether or not it was reset.
	phaseSoftAccepted = "soft_accepted"
	phaseSoftRefused  = "soft_refused" // AMT refused the graceful action; LastError is AMT's reason
	phaseHardIntent   = "hard_intent"  // hard action possibly sent at StepStartedAt, written before sending
	phaseHardSent     = "hard_sent"    // AMT accepted the hard action
)

// powerPlan is the journal's Sequence for a power request.
type powerPlan struct {
	Steps  []amt.PowerState `json:"steps"`  // the AMT actions the request may take, in order
	Action amt.PowerState   `json:"action"` // the action of the current step
	// Seen (failed levels only) is the host's updated_at in Inventory once the failure was reported: any later
	// update of the host, such as the user writing the same desired state again, starts a new round of retries.
	Seen string `json:"seen,omitempty"`
}

func planOf(e *store.JournalEntry) powerPlan {
	var p powerPlan
	if e != nil {
		_ = json.Unmarshal(e.Sequence, &p) // an unreadable plan has no action: nothing to confirm or time
	}
	return p
}

func (p powerPlan) encode() json.RawMessage {
	b, _ := json.Marshal(p) // a struct of ints always marshals
	return b
}

func psOf(v int32) computev1.PowerState { return computev1.PowerState(v) }

func inFlight(e *store.JournalEntry) bool {
	if e == nil {
		return false
	}
	switch e.Step {
	case phaseSoftSent, phaseSoftAccepted, phaseSoftRefused, phaseHardIntent, phaseHardSent, phaseRetry:
		return true
	}
	return false
}

// settledFor: the last request for d has ended.
func settledFor(e *store.JournalEntry, d computev1.PowerState) bool {
	return e != nil && psOf(e.Desired) == d && (e.Step == phaseDone || e.Step == phaseFailed)
}

func failedFor(e *store.JournalEntry, d computev1.PowerState) bool {
	return e != nil && psOf(e.Desired) == d && e.Step == phaseFailed
}

// pending tells whether d still has to be acted on, given the state AMT reports (or Inventory's current state when
// nothing was read). States are compared; actions are pending until the journal says they ended.
func pending(d, obs computev1.PowerState, e *store.JournalEntry, h *computev1.HostResource) bool {
	switch {
	case d == psUnspecified:
		return false
	case isAction(d):
		return !settledFor(e, d)
	}
	return !consistent(d, obs) && !stillFailed(e, d, h)
}

// quietUntil is when AMT has had time to carry out what the entry sent; no other power request goes out before.
func quietUntil(e *store.JournalEntry, p Params) time.Time {
	if e == nil || e.StepStartedAt.IsZero() {
		return time.Time{}
	}
	switch e.Step {
	case phaseSoftSent, phaseSoftAccepted:
		return e.DeadlineAt
	case phaseHardIntent, phaseHardSent, phaseDone:
		return e.StepStartedAt.Add(p.ActionSettle)
	}
	return time.Time{}
}

func timeoutFor(d computev1.PowerState, p Params) time.Duration {
	if d == psReset || d == psResetRepeat {
		return p.ResetTimeout
	}
	return p.SoftOffTimeout
}

// decidePower handles the power side of a provisioned host whose session is on this replica or on none.
func decidePower(in Input) Step {
	h, pj := in.Host, in.Power
	d := h.GetDesiredPowerState()
	if pj != nil && pj.Step == phaseHardSent && psOf(pj.Desired) == d {
		return finish(in, wordsFor(d).done) // AMT accepted it: nothing to ask the device
	}
	if !in.Device.Connected {
		return powerDisconnected(in)
	}
	if in.Reading != nil && in.Reading.Err != nil {
		return readFailed(in)
	}
	if !in.Device.PowerSynced && in.Reading == nil {
		return Step{Action: ActReadPower} // first look at this session: AMT may have changed state meanwhile
	}
	if inFlight(pj) {
		if psOf(pj.Desired) == d {
			return continueOp(in)
		}
		// The request changed mid-way: let what was sent play out before acting on the new one.
		if q := quietUntil(pj, in.Params); in.Now.Before(q) {
			return Step{After: q.Sub(in.Now)}
		}
	}
	return startOrSync(in)
}

func startOrSync(in Input) Step {
	h, pj := in.Host, in.Power
	d, cur := h.GetDesiredPowerState(), h.GetCurrentPowerState()
	if in.Reading == nil {
		if !pending(d, cur, pj, h) && !inFlight(pj) && !reachedUnreported(h, d, cur) {
			return syncStep(in, cur, false)
		}
		return Step{Action: ActReadPower} // reachedUnreported: AMT confirms the state before an error is cleared
	}
	obs := observed(in.Reading.State)
	if !pending(d, obs, pj, h) {
		return syncStep(in, obs, true)
	}
	if q := quietUntil(pj, in.Params); in.Now.Before(q) {
		return Step{After: q.Sub(in.Now)}
	}
	return start(in, d, obs)
}

// syncStep reports what AMT says when nothing is to be done, shows a failed request's text, and keeps the journal
// marker in step with the request.
func syncStep(in Input, obs computev1.PowerState, read bool) Step {
	h, pj := in.Host, in.Power
	d, cur := h.GetDesiredPowerState(), h.GetCurrentPowerState()
	var st Step
	switch {
	case failedFor(pj, d) && (isAction(d) || !consistent(d, obs)):
		st.Power = powerReport(h, obs, pj.LastError, failure, nil)
	case read && reachedUnreported(h, d, obs):
		st.Power = powerReport(h, d, wordsFor(d).done, idle, nil)
	case read && !consistent(cur, obs):
		st.Power = powerReport(h, obs, observedText(obs), idle, nil)
	case read && h.GetPowerStatusIndicator() == inProgress:
		// A status left "in progress" by a request that was abandoned for a newer one.
		st.Power = powerReport(h, cur, observedText(obs), idle, nil)
	}
	switch {
	case d == psUnspecified:
		if inFlight(pj) {
			st.Journal = []JournalOp{{Delete: true, Entry: *pj}}
		}
	case !isAction(d) && consistent(d, obs) && !doneFor(pj, d):
		st.Journal = []JournalOp{{Entry: newEntry(in, d, phaseDone, powerPlan{})}}
	}
	return st
}

// reachedUnreported: the host is in the steady state the user wants (AMT reads obs), but Inventory says otherwise:
// another state (a done RESET or POWER_CYCLE is consistent with "on", so ON after one would never be written) or
// the error of an earlier request. It is reported reached, with no action.
func reachedUnreported(h *computev1.HostResource, d, obs computev1.PowerState) bool {
	return steady(d) && obs == d && (h.GetCurrentPowerState() != d || h.GetPowerStatusIndicator() == failure)
}

// start begins a request: the graceful action first under ORDERED when there is one and an OS to do it, the
// immediate action otherwise. Sleep and hibernate are always carried out by the OS (AMT hands 4 and 7 to it,
// §10.2; there is no hard form), so under either policy they are sent and then checked like a graceful action.
func start(in Input, d, obs computev1.PowerState) Step {
	if (isAction(d) || d == psSleep || d == psHibernate) && (obs == psOff || obs == psHibernate) {
		return fail(in, d, obs, blockedText(d, obs))
	}
	ordered := in.Host.GetPowerCommandPolicy() != computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_IMMEDIATE
	inBand := d == psSleep || d == psHibernate
	if soft, ok := orderedSoftAction(d); ok && (inBand || ordered && obs == psOn) {
		plan := powerPlan{Steps: []amt.PowerState{soft}, Action: soft}
		switch d {
		case psOff:
			plan.Steps = append(plan.Steps, amt.PowerOffSoft)
		case psReset, psResetRepeat:
			plan.Steps = append(plan.Steps, amt.PowerCycleOffSoft)
		}
		e := newEntry(in, d, phaseSoftSent, plan)
		e.StepStartedAt, e.DeadlineAt = in.Now, in.Now.Add(timeoutFor(d, in.Params))
		return Step{
			Power:   powerReport(in.Host, obs, softText(d, in.Params), inProgress, nil),
			Journal: []JournalOp{{Entry: e}}, Action: ActSendPower, PowerValue: soft,
		}
	}
	hard, ok := immediateAction(d)
	if !ok {
		return Step{}
	}
	e := newEntry(in, d, phaseHardIntent, powerPlan{Steps: []amt.PowerState{hard}, Action: hard})
	return sendHard(in, e, obs, hard, wordsFor(d).doing)
}

// continueOp moves an unfinished request on.
func continueOp(in Input) Step {
	pj, p := in.Power, in.Params
	d := psOf(pj.Desired)
	switch pj.Step {
	case phaseSoftSent, phaseSoftAccepted:
		if isAction(d) && in.Now.Before(pj.DeadlineAt) {
			return Step{After: pj.DeadlineAt.Sub(in.Now)} // a reset cannot be seen finishing: wait it out
		}
		if in.Reading == nil {
			return Step{Action: ActReadPower}
		}
		obs := observed(in.Reading.State)
		if !isAction(d) && consistent(d, obs) {
			return finish(in, wordsFor(d).done)
		}
		if in.Now.Before(pj.DeadlineAt) {
			return Step{After: softCheckAfter(in, *pj)}
		}
		switch d {
		case psOff:
			return escalate(in, obs, amt.PowerOffSoft, softTimeoutText(p))
		case psReset, psResetRepeat:
			if obs == psOn && pj.Step == phaseSoftSent {
				return unknownEdge(in)
			}
			if obs == psOn {
				return finish(in, wordsFor(d).done)
			}
			return escalate(in, obs, amt.PowerOn, resetLeftOffText(obs, p))
		}
		return retryOrFail(in, d, obs, notReachedText(d, timeoutFor(d, p)))
	case phaseSoftRefused:
		obs := in.Host.GetCurrentPowerState()
		if in.Reading != nil {
			obs = observed(in.Reading.State)
		}
		switch d {
		case psOff:
			return escalate(in, obs, amt.PowerOffSoft, softRefusedText(d, pj.LastError))
		case psReset, psResetRepeat:
			return escalate(in, obs, amt.PowerCycleOffSoft, softRefusedText(d, pj.LastError))
		}
		return fail(in, d, obs, inBandText(d, pj.LastError))
	case phaseHardIntent:
		// Written before the request and never followed by a result: AMT may have acted. Never send it again;
		// once AMT has had time, read the state and confirm or report.
		if q := pj.StepStartedAt.Add(p.ActionSettle); in.Now.Before(q) {
			return Step{After: q.Sub(in.Now)}
		}
		if in.Reading == nil {
			return Step{Action: ActReadPower}
		}
		obs := observed(in.Reading.State)
		action := planOf(pj).Action
		if unseen(action) && obs == psOn {
			return unknownEdge(in)
		}
		if consistent(expectedAfter(action), obs) {
			return finish(in, unconfirmedDoneText(d))
		}
		if isAction(d) {
			return fail(in, d, obs, unconfirmedEdgeText(d, obs))
		}
		return retryOrFail(in, d, obs, unconfirmedText(d, obs))
	case phaseRetry:
		if in.Now.Before(pj.DeadlineAt) {
			return Step{After: pj.DeadlineAt.Sub(in.Now)}
		}
		if in.Reading == nil {
			return Step{Action: ActReadPower}
		}
		obs := observed(in.Reading.State)
		if consistent(d, obs) {
			return finish(in, wordsFor(d).done)
		}
		return start(in, d, obs)
	}
	return Step{}
}

// unknownEdge ends a reset or power cycle that was possibly sent but never answered: the host reads "on" as it did
// before, so whether AMT acted cannot be told. The request is over (marked done, so it is never sent again) and its
// status says the outcome is unknown; no power-on time is claimed.
func unknownEdge(in Input) Step {
	e := *in.Power
	d := psOf(e.Desired)
	e.Step, e.DeadlineAt, e.LastError = phaseDone, time.Time{}, ""
	return Step{Power: powerReport(in.Host, d, unknownEdgeText(d), idle, nil), Journal: []JournalOp{{Entry: e}}}
}

// escalate follows a graceful action with a hard one.
func escalate(in Input, obs computev1.PowerState, v amt.PowerState, text string) Step {
	e := *in.Power
	plan := planOf(&e)
	plan.Action = v
	e.Step, e.Sequence, e.LastError = phaseHardIntent, plan.encode(), ""
	return sendHard(in, e, obs, v, text)
}

// sendHard journals the intent (hard_action_sent set BEFORE sending) and asks for the action.
func sendHard(in Input, e store.JournalEntry, obs computev1.PowerState, v amt.PowerState, text string) Step {
	e.HardActionSent = true
	e.StepStartedAt, e.DeadlineAt = in.Now, in.Now.Add(in.Params.ActionSettle)
	return Step{
		Power:   powerReport(in.Host, obs, text, inProgress, nil),
		Journal: []JournalOp{{Entry: e}}, Action: ActSendPower, PowerValue: v, Hard: true,
	}
}

// finish reports the in-flight request as reached.
func finish(in Input, text string) Step {
	e := *in.Power
	d := psOf(e.Desired)
	var onTime *uint64
	if powersUp(planOf(&e).Action) {
		t := uint64(in.Now.Unix()) //nolint:gosec // Unix time is positive
		onTime = &t
	}
	e.Step, e.DeadlineAt, e.LastError = phaseDone, time.Time{}, ""
	return Step{Power: powerReport(in.Host, d, text, idle, onTime), Journal: []JournalOp{{Entry: e}}}
}

// fail ends the request for d with an error status.
func fail(in Input, d, obs computev1.PowerState, text string) Step {
	e := newEntry(in, d, phaseFailed, powerPlan{})
	if pj := in.Power; pj != nil && psOf(pj.Desired) == d {
		e = *pj
		e.Step = phaseFailed
	}
	e.DeadlineAt, e.LastError = time.Time{}, clip(text)
	plan := planOf(&e)
	if plan.Seen != "" { // a new failure: the mark of an earlier one no longer applies
		plan.Seen = ""
		e.Sequence = plan.encode()
	}
	// A failed level is looked at again at once, to note the host's updated_at after this report (noteSeen).
	return Step{Power: powerReport(in.Host, obs, text, failure, nil), Journal: []JournalOp{{Entry: e}}, Requeue: !isAction(d)}
}

// newEntry starts a journal entry for d; a retry of d keeps counting the retries of the entry it replaces.
func newEntry(in Input, d computev1.PowerState, phase string, plan powerPlan) store.JournalEntry {
	e := store.JournalEntry{
		Kind: store.OpPower, Desired: int32(d), Policy: int32(in.Host.GetPowerCommandPolicy()),
		Step: phase, Sequence: plan.encode(),
	}
	if pj := in.Power; pj != nil && pj.Step == phaseRetry && psOf(pj.Desired) == d {
		e.Attempts = pj.Attempts
	}
	return e
}

// powerDisconnected: the device has no session anywhere. Within the grace period nothing changes; after it the
// power state is unknown, and a request that cannot go out says so.
func powerDisconnected(in Input) Step {
	if left := in.graceLeft(); left > 0 {
		return Step{After: left}
	}
	h, pj := in.Host, in.Power
	d, cur := h.GetDesiredPowerState(), h.GetCurrentPowerState()
	flying := inFlight(pj)
	wanted := flying || (d != psUnspecified && !settledFor(pj, d) && (isAction(d) || cur != d))
	if wanted {
		if flying {
			d = psOf(pj.Desired)
		}
		return Step{Power: powerReport(h, psUnspecified, waitingText(d, flying), failure, nil)}
	}
	st := Step{Power: powerReport(h, psUnspecified, textPowerUnknown, unknown, nil)}
	if d != psUnspecified && !isAction(d) && cur == d && !settledFor(pj, d) {
		// Remember that d was reached before the state becomes unknown, so it is not taken as a new request.
		st.Journal = []JournalOp{{Entry: newEntry(in, d, phaseDone, powerPlan{})}}
	}
	return st
}

// readFailed: reading the power state failed. AMT refusing (credentials) is shown; the rest is retried quietly.
func readFailed(in Input) Step {
	o := Classify(in.Reading.Err)
	st := Step{Retry: in.Reading.Err}
	if o.Kind == Refused {
		st.Power = powerReport(in.Host, in.Host.GetCurrentPowerState(), readFailedText(o), failure, nil)
	}
	return st
}
