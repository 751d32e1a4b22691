// Package host is the host reconciler: it makes a host's vPro intent in Inventory (desired power state and policy,
// desired AMT state, deauthorisation and deletion) true on the device over its CIRA session, and reports
// current_power_state, current_amt_state and their status triplets (architecture flows 4, 5, 6).
//
// Reconcile re-reads the world (Inventory host, device record, CIRA presence, journal), asks the pure Decide for the
// one next step, does it and records it. Power steps are journaled in Postgres before the device is asked (intent)
// and after (result), so a restart resumes a sequence and never repeats a hard action. Triggers are Inventory events,
// gateway connect/disconnect events, journal timers and the periodic resync; nothing polls a device.
//
// Power semantics (AMT values, protocol-cira-wsman §10.2):
//
//	request      IMMEDIATE            ORDERED
//	ON           2                    2
//	OFF          8                    12 (OS shutdown), state read every 5s; 8 after SoftOffTimeout or if AMT refuses 12
//	RESET(_REPEAT) 10                 14 (OS restart); 5 if AMT refuses 14; 2 if the host is off when ResetTimeout ends
//	POWER_CYCLE  5                    5
//	SLEEP        4 (OS), checked      4 (OS), checked; error if refused or not reached in time (no hard form)
//	HIBERNATE    7 (OS), checked      7 (OS), checked; likewise
//
// A hard action accepted by AMT is reported done at once (as EMF does: with CSME off in S5 the session may drop
// right after it). An accepted soft reset cannot be seen completing, because a warm reboot reads "on" throughout;
// it is reported done when ResetTimeout ends with the host on: power cycling on "no evidence" would reboot every
// healthy host twice. Resets and power cycles (edges) are done once per request (the journal marks it) and never
// repeated once possibly sent. States (ON, OFF, SLEEP, HIBERNATE: levels) are enforced: a host found in another
// state when its session starts is brought back, and a level not reached after an uncertain outcome (lost answer,
// restart, timeout) is retried with backoff, Params.LevelRetries times; after that, writing the desired state
// again (any update of the host in Inventory) starts another round.
package host

import (
	"time"
	"unicode/utf8"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/store"
)

// Input is everything Decide looks at.
type Input struct {
	Now    time.Time
	Params Params
	// Host is the Inventory host; nil when Inventory does not have it: hard-deleted if the device is Linked, not
	// created yet otherwise (an imported device may dial in before its host is registered).
	Host   *computev1.HostResource
	Device DeviceFacts
	// Power and Deactivation are the device's journal entries of those kinds; nil when there is none.
	Power        *store.JournalEntry
	Deactivation *store.JournalEntry
	// Reading is AMT's power state read during this reconcile, nil if none was read yet.
	Reading *Reading
}

// DeviceFacts is what dm-manager knows of the device behind the host.
type DeviceFacts struct {
	Known          bool      // dm-manager has a device record for this GUID in this tenant
	Linked         bool      // the record carries a host_resource_id: the host existed in Inventory
	Provisioned    bool      // the record says AMT is activated
	Connected      bool      // this replica holds the device's CIRA session
	Elsewhere      bool      // another replica holds it (recent presence in the store): that replica acts
	Since          time.Time // Connected: when the session started; otherwise since when it has been missing
	NeverConnected bool      // no CIRA session was ever recorded
	PowerSynced    bool      // the power state was read during the current session
}

// Reading is one read of AMT's power state.
type Reading struct {
	State amt.PowerState
	Err   error
}

// Action is what a step asks of the device or the records.
type Action int

const (
	ActNone        Action = iota
	ActReadPower          // read the power state, then decide again (a fact, not a step)
	ActSendPower          // RequestPowerStateChange(Step.PowerValue)
	ActUnprovision        // AMT_SetupAndConfigurationService.Unprovision
	ActForget             // drop the device's secrets, journal entries and record
)

// JournalOp writes (Delete false) or deletes one journal entry.
type JournalOp struct {
	Delete bool
	Entry  store.JournalEntry // for Delete only GUID and Kind matter
}

// Step is the decision: status writes, then journal writes, then the action, in that order.
type Step struct {
	AMT     *inventory.AMTReport
	Power   *inventory.PowerReport
	Journal []JournalOp

	Action     Action
	PowerValue amt.PowerState // ActSendPower
	Hard       bool           // ActSendPower: a hard action, never repeated once possibly sent

	After   time.Duration // look again after this long (0: wait for an event or the resync)
	Requeue bool          // look again at once
	Retry   error         // retry with backoff: something was unreachable
	Warn    string        // a line worth a warning in the log
}

// Decide returns the next step for a host. It is pure: same input, same step.
func Decide(in Input) Step {
	in.Params = in.Params.withDefaults()
	if st, handled := decideDeactivation(in); handled {
		return st
	}
	var pre []JournalOp
	if dj := in.Deactivation; dj != nil { // not wanted any more and nothing sent: cancel it
		pre = append(pre, JournalOp{Delete: true, Entry: *dj})
	}
	var st Step
	switch {
	case in.Host == nil || !in.Device.Provisioned:
		st = unmanaged(in)
	case in.Device.Elsewhere:
		// The replica holding the session acts and reports.
	default:
		st = decidePower(in)
		if st.Action == ActReadPower {
			return st
		}
		rep, after := amtPresence(in)
		st.AMT = rep
		st.After = earliest(st.After, after)
		noteSeen(in, &st)
	}
	st.Journal = append(pre, st.Journal...)
	return st
}

// unmanaged reports the AMT state of a host whose device is not activated; power is not ours to report then.
func unmanaged(in Input) Step {
	h := in.Host
	if h == nil {
		return Step{}
	}
	switch cur := h.GetCurrentAmtState(); {
	case cur == computev1.AmtState_AMT_STATE_PROVISIONED || cur == computev1.AmtState_AMT_STATE_DISCONNECTED:
		return Step{AMT: amtReport(h, computev1.AmtState_AMT_STATE_UNPROVISIONED, textAMTDeactivated, idle)}
	case cur == computev1.AmtState_AMT_STATE_UNSPECIFIED &&
		h.GetDesiredAmtState() == computev1.AmtState_AMT_STATE_UNPROVISIONED:
		return Step{AMT: amtReport(h, computev1.AmtState_AMT_STATE_UNPROVISIONED, textAMTNotActivated, idle)}
	}
	return Step{}
}

// amtPresence is the AMT state of a provisioned device from its CIRA presence, and when to look again for the
// grace period to end.
func amtPresence(in Input) (*inventory.AMTReport, time.Duration) {
	h := in.Host
	if in.Device.Connected {
		return amtReport(h, computev1.AmtState_AMT_STATE_PROVISIONED, textAMTConnected, idle), 0
	}
	if left := in.graceLeft(); left > 0 {
		return nil, left
	}
	return amtReport(h, computev1.AmtState_AMT_STATE_DISCONNECTED, disconnectedText(in), statusv1.StatusIndication_STATUS_INDICATION_ERROR), 0
}

// graceLeft is how much of the disconnect grace period remains (0 when it is over or the device is connected).
func (in Input) graceLeft() time.Duration {
	if in.Device.Connected {
		return 0
	}
	return max(0, in.Device.Since.Add(in.Params.DisconnectGrace).Sub(in.Now))
}

const (
	idle       = statusv1.StatusIndication_STATUS_INDICATION_IDLE
	inProgress = statusv1.StatusIndication_STATUS_INDICATION_IN_PROGRESS
	failure    = statusv1.StatusIndication_STATUS_INDICATION_ERROR
	unknown    = statusv1.StatusIndication_STATUS_INDICATION_UNSPECIFIED
)

// amtReport returns the report, or nil when Inventory already holds exactly that (no write).
func amtReport(h *computev1.HostResource, state computev1.AmtState, text string, ind statusv1.StatusIndication) *inventory.AMTReport {
	text = clip(text)
	if h.GetCurrentAmtState() == state && h.GetAmtStatus() == text && h.GetAmtStatusIndicator() == ind {
		return nil
	}
	return &inventory.AMTReport{Current: state, Status: text, Indicator: ind}
}

// powerReport returns the report, or nil when Inventory already holds exactly that (no write).
func powerReport(h *computev1.HostResource, state computev1.PowerState, text string, ind statusv1.StatusIndication, onTime *uint64) *inventory.PowerReport {
	text = clip(text)
	if h.GetCurrentPowerState() == state && h.GetPowerStatus() == text && h.GetPowerStatusIndicator() == ind &&
		(onTime == nil || h.GetPowerOnTime() == *onTime) {
		return nil
	}
	return &inventory.PowerReport{Current: state, Status: text, Indicator: ind, OnTime: onTime}
}

// maxStatusLen is Inventory's limit on power_status and amt_status (emf-conventions §1.5).
const maxStatusLen = 1024

func clip(s string) string {
	if len(s) <= maxStatusLen {
		return s
	}
	cut := maxStatusLen
	for cut > 0 && !utf8.RuneStart(s[cut]) { // never cut a UTF-8 sequence
		cut--
	}
	return s[:cut]
}

// earliest returns the smaller positive duration (0 means "none").
func earliest(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}
