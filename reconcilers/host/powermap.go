package host

import (
	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// Inventory power states, shortened.
const (
	psUnspecified = computev1.PowerState_POWER_STATE_UNSPECIFIED
	psOn          = computev1.PowerState_POWER_STATE_ON
	psOff         = computev1.PowerState_POWER_STATE_OFF
	psSleep       = computev1.PowerState_POWER_STATE_SLEEP
	psHibernate   = computev1.PowerState_POWER_STATE_HIBERNATE
	psReset       = computev1.PowerState_POWER_STATE_RESET
	psCycle       = computev1.PowerState_POWER_STATE_POWER_CYCLE
	psResetRepeat = computev1.PowerState_POWER_STATE_RESET_REPEAT
)

// isAction tells the requests that are actions rather than states: once done they stay done, whatever AMT
// reports afterwards (a reset host reads "on"), so they are tracked by the journal, not by comparing states.
func isAction(d computev1.PowerState) bool {
	return d == psReset || d == psResetRepeat || d == psCycle
}

// steady tells the requests that are states the host stays in (ON, OFF, SLEEP, HIBERNATE).
func steady(d computev1.PowerState) bool {
	return d == psOn || d == psOff || d == psSleep || d == psHibernate
}

// immediateAction is the out-of-band action for a request under IMMEDIATE, and for ON and POWER_CYCLE under
// either policy (protocol-cira-wsman §10.2 "AMT practice"): 2 on, 8 hard off, 10 reset (master bus reset), 5
// power cycle. Sleep and hibernate have none: AMT hands 4 and 7 to the OS.
func immediateAction(d computev1.PowerState) (amt.PowerState, bool) {
	switch d {
	case psOn:
		return amt.PowerOn, true
	case psOff:
		return amt.PowerOffSoft, true // 8: "Power Off – Soft" in DMTF, a verified hardware power off on AMT
	case psReset, psResetRepeat:
		return amt.MasterBusReset, true
	case psCycle:
		return amt.PowerCycleOffSoft, true // 5: a hardware power cycle on AMT
	}
	return 0, false
}

// orderedSoftAction is the graceful first step of an ORDERED request (and the only form of sleep and hibernate),
// done by the OS through AMT's in-band agent:
// 12 "Power Off – Soft Graceful" (13, "Hard Graceful", is not among the states AMT advertises in
// AvailableRequestedPowerStates or PowerStatesSupported, §10.2), 14 "Master Bus Reset Graceful", 4 sleep, 7
// hibernate. ON and POWER_CYCLE have no graceful form and go straight to their immediate action.
func orderedSoftAction(d computev1.PowerState) (amt.PowerState, bool) {
	switch d {
	case psOff:
		return amt.PowerOffSoftGraceful, true
	case psReset, psResetRepeat:
		return amt.MasterBusResetGraceful, true
	case psSleep:
		return amt.SleepDeep, true
	case psHibernate:
		return amt.Hibernate, true
	}
	return 0, false
}

// observed maps a power state AMT reports to the Inventory state it means. Transitional values (power cycle,
// reset, NMI) mean a running host: AMT only reports them around an action on a host that is on.
func observed(s amt.PowerState) computev1.PowerState {
	switch s {
	case amt.PowerOn, amt.PowerCycleOffSoft, amt.PowerCycleOffHard, amt.MasterBusReset, amt.DiagnosticInterrupt,
		amt.MasterBusResetGraceful, amt.PowerCycleOffSoftGraceful, amt.PowerCycleOffHardGraceful:
		return psOn
	case amt.SleepLight, amt.SleepDeep:
		return psSleep
	case amt.Hibernate:
		return psHibernate
	case amt.PowerOffHard, amt.PowerOffSoft, amt.PowerOffSoftGraceful, amt.PowerOffHardGraceful:
		return psOff
	}
	return psUnspecified
}

// consistent tells whether an Inventory state agrees with what AMT reports: a done reset or power cycle leaves the
// host on, and hibernation reads as off on platforms that report S4 like S5.
func consistent(state, obs computev1.PowerState) bool {
	switch state {
	case psOn, psReset, psResetRepeat, psCycle:
		return obs == psOn
	case psHibernate:
		return obs == psHibernate || obs == psOff
	case psUnspecified:
		return false
	}
	return state == obs
}

// expectedAfter is the state a power action leads to, used to confirm an action whose answer was lost.
func expectedAfter(v amt.PowerState) computev1.PowerState {
	switch v {
	case amt.PowerOffSoft, amt.PowerOffSoftGraceful:
		return psOff
	case amt.SleepDeep:
		return psSleep
	case amt.Hibernate:
		return psHibernate
	}
	return psOn
}

// unseen tells the actions whose effect cannot be read afterwards: a reset or power cycle of a running host leaves
// it reading "on", as before.
func unseen(v amt.PowerState) bool {
	return v == amt.MasterBusReset || v == amt.MasterBusResetGraceful || v == amt.PowerCycleOffSoft
}

// powersUp tells the actions after which the host has just been powered on (power_on_time).
func powersUp(v amt.PowerState) bool { return v == amt.PowerOn || v == amt.PowerCycleOffSoft }
