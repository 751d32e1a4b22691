package amtsim

import (
	"slices"
	"time"
)

// PowerState is the value CIM_AssociatedPowerManagementService.PowerState reports
// (protocol-cira-wsman §10.2). AMT reports S5 as 8 whatever turned the host off.
type PowerState int

// Reported power states.
const (
	PowerOn        PowerState = 2
	PowerSleep     PowerState = 4
	PowerHibernate PowerState = 7
	PowerOff       PowerState = 8
)

// Power actions AMT accepts in RequestPowerStateChange (§10.2 "AMT practice").
const (
	actOn          = 2
	actSleep       = 4
	actCycle       = 5
	actHibernate   = 7
	actOff         = 8
	actReset       = 10
	actNMI         = 11
	actSoftOff     = 12
	actSoftReset   = 14
	auditAppRemote = 17 // Remote Control Operations: 1700 power up … 1709 NMI
)

var supportedActions = []int{actOn, actSleep, actCycle, actHibernate, actOff, actReset, actNMI, actSoftOff, actSoftReset}

// powerModel is the host: power state, whether its OS runs, and a fault flag for a hung
// OS. At most one transition is pending; a newer accepted action replaces it.
type powerModel struct {
	state PowerState
	osUp  bool
	hung  bool
	timer *time.Timer
	gen   uint64
}

func (p *powerModel) init(s PowerState) {
	p.state = s
	p.osUp = s == PowerOn || s == PowerSleep
}

// available is AvailableRequestedPowerStates for the current state; the powered-on list
// is AMT's fixture order (§10.2).
func (p *powerModel) available() []int {
	switch p.state {
	case PowerOn:
		return []int{actReset, actOff, actCycle, actNMI, actSleep, actHibernate, actSoftReset, actSoftOff}
	case PowerSleep:
		return []int{actOn, actOff, actCycle}
	default:
		return []int{actOn}
	}
}

// osCanAct reports whether the OS would carry out a graceful request.
func (p *powerModel) osCanAct() bool { return p.state == PowerOn && p.osUp && !p.hung }

// schedule replaces any pending transition with fn after delay; caller holds d.mu.
func (d *Device) schedule(delay time.Duration, fn func()) {
	p := &d.power
	if p.timer != nil {
		p.timer.Stop()
	}
	p.gen++
	gen := p.gen
	p.timer = time.AfterFunc(delay, func() {
		d.lock()
		defer d.unlock()
		if p.gen != gen {
			return
		}
		p.timer = nil
		fn()
		d.changed()
	})
}

func (d *Device) powerOnLocked() {
	from := d.power.state
	d.power.state = PowerOn
	if from == PowerSleep {
		return // S3 resume: the OS was never stopped
	}
	d.power.osUp = false
	d.logBootLocked(d.cfg.Clock())
	d.schedule(d.cfg.OSBootDelay, func() { d.power.osUp = true })
}

func (d *Device) powerOffLocked() {
	d.power.state = PowerOff
	d.power.osUp = false
}

func (d *Device) rebootLocked() {
	d.power.osUp = false
	d.logBootLocked(d.cfg.Clock())
	d.changed()
	d.schedule(d.cfg.OSBootDelay, func() { d.power.osUp = true })
}

// requestPowerStateChange is CIM_PowerManagementService.RequestPowerStateChange; it
// answers at once and acts after the configured delays. Graceful actions are handed to
// the OS, which performs them only when it is running and not hung.
func (d *Device) requestPowerStateChange(action int, who initiator) int {
	if !slices.Contains(supportedActions, action) {
		return ptInvalidParameter
	}
	p := &d.power
	if action == actOn && p.state == PowerOn {
		return ptSuccess
	}
	if !slices.Contains(p.available(), action) {
		return ptNotReady
	}
	hard, soft := d.cfg.PowerDelay, d.cfg.OSShutdownDelay
	switch action {
	case actOn:
		d.auditLocked(who, auditAppRemote, 0, nil)
		d.schedule(hard, d.powerOnLocked)
	case actOff:
		d.auditLocked(who, auditAppRemote, 1, nil)
		d.schedule(hard, d.powerOffLocked)
	case actCycle:
		d.auditLocked(who, auditAppRemote, 2, nil)
		d.schedule(hard, func() {
			d.powerOffLocked()
			d.schedule(hard, d.powerOnLocked)
		})
	case actReset:
		d.auditLocked(who, auditAppRemote, 3, nil)
		d.schedule(hard, d.rebootLocked)
	case actNMI:
		d.auditLocked(who, auditAppRemote, 9, nil)
	case actSoftOff:
		d.auditLocked(who, auditAppRemote, 5, nil)
		d.osAction(soft, d.powerOffLocked)
	case actSoftReset:
		d.auditLocked(who, auditAppRemote, 6, nil)
		d.osAction(soft, d.rebootLocked)
	case actSleep:
		d.auditLocked(who, auditAppRemote, 7, nil)
		d.osAction(soft, func() { p.state = PowerSleep })
	case actHibernate:
		d.auditLocked(who, auditAppRemote, 8, nil)
		d.osAction(soft, func() { p.state, p.osUp = PowerHibernate, false })
	}
	d.log.Info().Int("action", action).Msg("power action accepted")
	return ptSuccess
}

// osAction hands a graceful request to the OS: a hung or not yet booted OS drops it.
func (d *Device) osAction(delay time.Duration, fn func()) {
	if d.power.osCanAct() {
		d.schedule(delay, fn)
	}
}

// PressPowerButton simulates the front-panel button: a short press powers on, or asks
// a running OS to shut down; a long press forces the host off.
func (d *Device) PressPowerButton(long bool) {
	d.lock()
	defer d.unlock()
	switch {
	case d.power.state != PowerOn:
		d.schedule(d.cfg.PowerDelay, d.powerOnLocked)
	case long:
		d.schedule(d.cfg.PowerDelay, d.powerOffLocked)
	default:
		d.osAction(d.cfg.OSShutdownDelay, d.powerOffLocked)
	}
}

// SetOSHung makes the OS ignore (true) or honour (false) graceful requests.
func (d *Device) SetOSHung(hung bool) {
	d.lock()
	defer d.unlock()
	d.power.hung = hung
	d.changed()
}

// osPowerSavingState is IPS_PowerManagementService.OSPowerSavingState: 2 full power when
// the OS runs, 0 unknown otherwise (§10.1).
func (p *powerModel) osPowerSavingState() int {
	if p.state == PowerOn && p.osUp {
		return 2
	}
	return 0
}
