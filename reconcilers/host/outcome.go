package host

import (
	"errors"
	"strconv"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
)

// OutcomeKind says what is known about a request sent to AMT.
type OutcomeKind int

const (
	Accepted  OutcomeKind = iota // AMT answered success
	NotSent                      // the request never reached AMT (no session): safe to send again
	Refused                      // AMT answered and refused: nothing was done
	Uncertain                    // the answer was lost: AMT may or may not have acted
)

func (k OutcomeKind) String() string {
	switch k {
	case Accepted:
		return "accepted"
	case NotSent:
		return "not sent"
	case Refused:
		return "refused"
	}
	return "uncertain"
}

// Outcome is the classified result of one device request.
type Outcome struct {
	Kind   OutcomeKind
	Reason string // short, for status texts: AMT's return value name, "SOAP fault ...", "HTTP 500", the error
	Auth   bool   // Refused because AMT rejected our digest credentials
}

// Classify turns a PowerControl error into an Outcome. Only a proven non-delivery is NotSent: no client
// (ErrNotSent) or a request the transport did not write (wsman.NotWritten); a timeout or a lost connection after
// the request left is Uncertain, because AMT may have acted on it.
func Classify(err error) Outcome {
	var (
		rv    *wsman.ReturnValueError
		fault *wsman.FaultError
		hs    *wsman.HTTPStatusError
	)
	switch {
	case err == nil:
		return Outcome{Kind: Accepted}
	case errors.Is(err, ErrNotSent) || wsman.WrittenOf(err) == wsman.NotWritten:
		return Outcome{Kind: NotSent, Reason: "not sent"}
	case errors.Is(err, wsman.ErrAuthFailed):
		return Outcome{Kind: Refused, Reason: "authentication failed", Auth: true}
	case errors.As(err, &rv):
		return Outcome{Kind: Refused, Reason: rv.Name}
	case errors.As(err, &fault):
		reason := "SOAP fault " + fault.Code
		if fault.Subcode != "" {
			reason += "/" + fault.Subcode
		}
		return Outcome{Kind: Refused, Reason: reason}
	case errors.As(err, &hs):
		return Outcome{Kind: Refused, Reason: "HTTP " + strconv.Itoa(hs.StatusCode)}
	}
	return Outcome{Kind: Uncertain, Reason: err.Error()}
}

// Settle records the outcome of the step's device request: it returns the journal writes and what to do next.
// It is pure, like Decide; statuses for failures are written by the next Decide from the journal.
func Settle(in Input, st Step, out Outcome) Step {
	in.Params = in.Params.withDefaults()
	switch st.Action {
	case ActSendPower:
		return settlePower(in, st, out)
	case ActUnprovision:
		return settleUnprovision(in, st, out)
	}
	return Step{}
}

// intent is the journal entry the step wrote before its request.
func intent(st Step, kind store.OpKind) store.JournalEntry {
	for _, op := range st.Journal {
		if !op.Delete && op.Entry.Kind == kind {
			return op.Entry
		}
	}
	return store.JournalEntry{Kind: kind}
}

// restore puts back the entry that was there before the intent (or removes the intent when there was none).
func restore(prev *store.JournalEntry, written store.JournalEntry) JournalOp {
	if prev == nil {
		return JournalOp{Delete: true, Entry: written}
	}
	return JournalOp{Entry: *prev}
}

func settlePower(in Input, st Step, out Outcome) Step {
	e := intent(st, store.OpPower)
	d := psOf(e.Desired)
	soft := !st.Hard
	switch out.Kind {
	case Accepted:
		if soft {
			e.Step = phaseSoftAccepted
			return Step{Journal: []JournalOp{{Entry: e}}, After: softCheckAfter(in, e)}
		}
		e.Step = phaseHardSent
		return Step{Journal: []JournalOp{{Entry: e}}, Requeue: true}
	case NotSent:
		return Step{Journal: []JournalOp{restore(in.Power, e)}, Retry: ErrNotSent}
	case Refused:
		if soft {
			e.Step, e.LastError = phaseSoftRefused, out.Reason
		} else {
			e.Step, e.LastError = phaseFailed, refusedText(d, out)
		}
		return Step{Journal: []JournalOp{{Entry: e}}, Requeue: true}
	}
	// Uncertain: the intent already says "possibly sent"; look again when AMT would have acted.
	if soft {
		return Step{After: softCheckAfter(in, e)}
	}
	return Step{After: in.Params.ActionSettle}
}

// softCheckAfter is when to read the state after a soft action was sent: a reset cannot be seen completing (the
// host reads "on" throughout), so it is looked at when its time is up; the others are checked at intervals.
func softCheckAfter(in Input, e store.JournalEntry) time.Duration {
	left := e.DeadlineAt.Sub(in.Now)
	if p := psOf(e.Desired); p == psReset || p == psResetRepeat {
		return max(left, time.Millisecond)
	}
	return max(min(in.Params.StateCheckInterval, left), time.Millisecond)
}

func settleUnprovision(in Input, st Step, out Outcome) Step {
	e := intent(st, store.OpDeactivation)
	switch out.Kind {
	case Accepted:
		e.Step, e.DeadlineAt = stepForget, in.Now // due at once: the sweep finishes it after a restart
		return Step{Journal: []JournalOp{{Entry: e}}, Requeue: true}
	case NotSent:
		return Step{Journal: []JournalOp{restore(in.Deactivation, e)}, Retry: ErrNotSent}
	case Refused:
		e.Step = stepWaiting
		e.Attempts++
		e.LastError = deactivationRefusedText(out)
		e.DeadlineAt = in.Now.Add(deactivationBackoff(e.Attempts))
		return Step{Journal: []JournalOp{{Entry: e}}, Requeue: true}
	}
	return Step{After: in.Params.ActionSettle}
}

// deactivationBackoff spaces retries of a refused Unprovision: 30s doubling to 10m.
func deactivationBackoff(attempts int32) time.Duration {
	d := 30 * time.Second
	for i := int32(1); i < attempts && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}
