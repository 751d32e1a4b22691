package amtsim

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// Alarm clock wake (protocol-recovery §3): AMT_AlarmClockService.AddAlarm creates an IPS_AlarmClockOccurrence,
// Enumerate/Pull lists them, Delete removes one. At its StartTime an alarm powers the host up (if it is not on),
// then repeats every Interval or, when it has none, is deleted if DeleteOnCompletion.

const (
	maxAlarms      = 5 // AMT 8.0+
	maxAlarmName   = 32
	alarmTimeForm  = "2006-01-02T15:04:05Z"
	alarmServiceNm = "Intel(r) AMT Alarm Clock Service"
)

type alarm struct {
	id, name  string
	start     time.Time
	interval  time.Duration
	deleteOn  bool
	fired     int
	timer     *time.Timer
	cancelled bool
}

type alarmClock struct{ list []*alarm }

// AlarmStatus is one alarm in the control API.
type AlarmStatus struct {
	InstanceID         string    `json:"instanceID"`
	ElementName        string    `json:"elementName"`
	StartTime          time.Time `json:"startTime"`
	IntervalMinutes    int       `json:"intervalMinutes"`
	DeleteOnCompletion bool      `json:"deleteOnCompletion"`
	Fired              int       `json:"fired"`
}

func (d *Device) alarmsLocked() []AlarmStatus {
	out := []AlarmStatus{}
	for _, a := range d.alarms.list {
		out = append(out, AlarmStatus{InstanceID: a.id, ElementName: a.name, StartTime: a.start,
			IntervalMinutes: int(a.interval / time.Minute), DeleteOnCompletion: a.deleteOn, Fired: a.fired})
	}
	return out
}

func alarmClasses() []*class {
	svc := amtClass("AMT_AlarmClockService")
	svc.list = func(*Device) []*soap.Instance {
		in := service("AMT_AlarmClockService", alarmServiceNm)
		in.Prop("SystemName").Values = []string{"ManagedSystem"}
		return []*soap.Instance{in}
	}
	svc.methods = map[string]method{"AddAlarm": {params: []string{"AlarmTemplate"}, run: addAlarm}}

	occ := ipsClass("IPS_AlarmClockOccurrence")
	occ.list = func(d *Device) []*soap.Instance {
		var out []*soap.Instance
		for _, a := range d.alarms.list {
			props := []soap.Prop{soap.P("DeleteOnCompletion", strconv.FormatBool(a.deleteOn)),
				soap.P("ElementName", a.name), soap.P("InstanceID", a.id)}
			if a.interval > 0 {
				props = append(props, soap.Prop{Name: "Interval", Values: []string{duration(a.interval)}, Wrap: "Interval"})
			}
			props = append(props, soap.DT("StartTime", a.start.UTC().Format(alarmTimeForm)))
			out = append(out, &soap.Instance{Class: "IPS_AlarmClockOccurrence", Props: props})
		}
		return out
	}
	occ.del = func(c *call, cur *soap.Instance) *soap.Fault {
		id := cur.Prop("InstanceID").Values[0]
		c.d.alarms.list = deleteWhere(c.d.alarms.list, func(a *alarm) bool {
			if a.id == id {
				a.cancelled = true
				a.timer.Stop()
			}
			return a.id == id
		})
		c.d.changed()
		return nil
	}
	return []*class{svc, occ}
}

func duration(iv time.Duration) string {
	m := int(iv / time.Minute)
	return fmt.Sprintf("P%dDT%dH%dM", m/1440, m/60%24, m%60)
}

var intervalRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseInterval reads PnDTnHnM (hours 0–23, minutes 0–59; seconds must be 0).
func parseInterval(s string) (time.Duration, bool) {
	m := intervalRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if n(2) > 23 || n(3) > 59 || n(4) != 0 || len(m[1]) > 4 {
		return 0, false
	}
	return time.Duration(n(1))*24*time.Hour + time.Duration(n(2))*time.Hour + time.Duration(n(3))*time.Minute, true
}

var quotaLimit = &soap.Fault{Code: "Sender", SubNS: soap.NSWSMan, Sub: "QuotaLimit",
	Reason: "The service is busy servicing other requests.", Action: "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"}

// addAlarm is AMT_AlarmClockService.AddAlarm (§3.1–3.2).
func addAlarm(c *call, p *params) ([]soap.Prop, int, func()) {
	d := c.d
	tpl := p.in.Child("AlarmTemplate")
	occNS := soap.IPSPrefix + "IPS_AlarmClockOccurrence"
	child := func(name string) *soap.Node {
		n := tpl.Child(name)
		if n != nil && n.Space != occNS {
			return nil
		}
		return n
	}
	bad := func(msg string) ([]soap.Prop, int, func()) {
		p.fault = soap.InvalidRepresentation(msg)
		return nil, 0, nil
	}
	if tpl == nil {
		return bad("AlarmTemplate is missing")
	}
	name := child("ElementName").Value()
	id := child("InstanceID").Value()
	if id == "" {
		id = name
	}
	start, err := time.Parse(alarmTimeForm, child("StartTime").ChildNS(soap.NSCommon, "Datetime").Value())
	switch {
	case name == "" || len(name) > maxAlarmName:
		return bad("ElementName must be 1 to 32 characters")
	case err != nil || start.Second() != 0:
		return bad("StartTime must be yyyy-mm-ddThh:mm:00Z")
	case !start.After(d.cfg.Clock()):
		return bad("StartTime must be in the future")
	case len(d.alarms.list) >= maxAlarms:
		p.fault = quotaLimit
		return nil, 0, nil
	}
	var iv time.Duration
	if n := child("Interval"); n != nil {
		var ok bool
		if iv, ok = parseInterval(n.ChildNS(soap.NSCommon, "Interval").Value()); !ok {
			return bad("Interval must be PnDTnHnM")
		}
	}
	for _, a := range d.alarms.list {
		if a.name == name || a.id == id {
			return bad("an alarm with that name exists")
		}
	}
	a := &alarm{id: id, name: name, start: start, interval: iv, deleteOn: child("DeleteOnCompletion").Value() == "true"}
	d.alarms.list = append(d.alarms.list, a)
	d.armAlarm(a)
	d.changed()
	ref := &soap.EPR{Address: "default", ResourceURI: occNS, Selectors: []soap.Selector{{Name: "InstanceID", Value: id}}}
	return []soap.Prop{soap.R("AlarmClock", ref)}, ptSuccess, nil
}

// armAlarm sets the alarm's timer; caller holds d.mu.
func (d *Device) armAlarm(a *alarm) {
	a.timer = time.AfterFunc(a.start.Sub(d.cfg.Clock()), func() {
		d.lock()
		defer d.unlock()
		if a.cancelled {
			return
		}
		a.fired++
		d.log.Info().Str("alarm", a.name).Msg("alarm clock fired")
		if d.power.state != PowerOn {
			d.auditLocked(initiator{}, auditAppRemote, 0, nil)
			d.schedule(d.cfg.PowerDelay, d.powerOnLocked)
		}
		switch {
		case a.interval > 0:
			a.start = a.start.Add(a.interval)
			d.armAlarm(a)
		case a.deleteOn:
			d.alarms.list = deleteWhere(d.alarms.list, func(x *alarm) bool { return x == a })
		}
		d.changed()
	})
}
