package amtsim

import (
	"strconv"
	"time"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// clockState is AMT's real-time clock, kept as an offset from the simulator's clock; guarded by the device lock.
type clockState struct {
	offset time.Duration
	ta0    int64 // the last time handed out by GetLowAccuracyTimeSynch, 0 when none
	synced int   // successful SetHighAccuracyTimeSynch calls
}

// timeClasses is AMT_TimeSynchronizationService (maintenance synctime, protocol-rps-activation §2.13): AMT hands
// out its time Ta0, and accepts the console's time only together with that Ta0.
func timeClasses() []*class {
	ts := amtClass("AMT_TimeSynchronizationService")
	ts.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{service("AMT_TimeSynchronizationService", "Intel(r) AMT Time Synchronization Service")}
	}
	ts.methods = map[string]method{
		"GetLowAccuracyTimeSynch": {run: func(c *call, _ *params) ([]soap.Prop, int, func()) {
			c.d.clock.ta0 = c.d.amtTimeLocked().Unix()
			return []soap.Prop{soap.P("Ta0", strconv.FormatInt(c.d.clock.ta0, 10))}, ptSuccess, nil
		}},
		"SetHighAccuracyTimeSynch": {params: []string{"Ta0", "Tm1", "Tm2"},
			run: func(c *call, p *params) ([]soap.Prop, int, func()) {
				ta0, tm1, tm2 := p.int("Ta0"), p.int("Tm1"), p.int("Tm2")
				if p.failed() {
					return nil, 0, nil
				}
				if c.d.clock.ta0 == 0 || int64(ta0) != c.d.clock.ta0 || tm2 < tm1 {
					return nil, ptInvalidParameter, nil
				}
				c.d.clock.ta0 = 0
				c.d.clock.offset = time.Unix(int64(tm2), 0).Sub(c.d.cfg.Clock())
				c.d.clock.synced++
				c.d.changed()
				return nil, ptSuccess, nil
			}},
	}
	return []*class{ts}
}

func (d *Device) amtTimeLocked() time.Time { return d.cfg.Clock().Add(d.clock.offset) }

// AMTTime is the device's clock.
func (d *Device) AMTTime() time.Time {
	d.lock()
	defer d.unlock()
	return d.amtTimeLocked()
}

// SetAMTTimeOffset moves the device's clock away from the simulator's, e.g. to test a clock sync.
func (d *Device) SetAMTTimeOffset(off time.Duration) {
	d.lock()
	defer d.unlock()
	d.clock.offset = off
}

// ClockSyncs counts the successful SetHighAccuracyTimeSynch calls.
func (d *Device) ClockSyncs() int {
	d.lock()
	defer d.unlock()
	return d.clock.synced
}
