package amt

import (
	"context"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// Alarm clock wake (protocol-recovery §3): AMT_AlarmClockService.AddAlarm, IPS_AlarmClockOccurrence Enumerate/Pull
// and Delete.

var (
	uriAlarmClockService    = wsman.AMT("AMT_AlarmClockService")
	uriAlarmClockOccurrence = wsman.IPS("IPS_AlarmClockOccurrence")
)

// MaxAlarms is how many alarms AMT keeps (AMT 8.0+).
const MaxAlarms = 5

// AlarmOccurrence is one IPS_AlarmClockOccurrence.
type AlarmOccurrence struct {
	ElementName        string
	InstanceID         string
	StartTime          time.Time
	Interval           time.Duration // 0: one shot
	DeleteOnCompletion bool
}

type alarmWire struct {
	ElementName        string `xml:"ElementName"`
	InstanceID         string `xml:"InstanceID"`
	StartTime          string `xml:"StartTime>Datetime"`
	Interval           string `xml:"Interval>Interval"`
	DeleteOnCompletion bool   `xml:"DeleteOnCompletion"`
}

// Alarms lists the alarm clock occurrences.
func (c *Client) Alarms(ctx context.Context) ([]AlarmOccurrence, error) {
	ws, err := enumerate[alarmWire](ctx, c, uriAlarmClockOccurrence)
	if err != nil {
		return nil, err
	}
	out := make([]AlarmOccurrence, 0, len(ws))
	for _, w := range ws {
		a := AlarmOccurrence{ElementName: w.ElementName, InstanceID: w.InstanceID, DeleteOnCompletion: w.DeleteOnCompletion}
		if a.StartTime, err = time.Parse(time.RFC3339, strings.TrimSpace(w.StartTime)); err != nil {
			return nil, fmt.Errorf("alarm %q: StartTime %q: %w", w.InstanceID, w.StartTime, err)
		}
		if w.Interval != "" {
			if a.Interval, err = ParseAlarmInterval(w.Interval); err != nil {
				return nil, fmt.Errorf("alarm %q: %w", w.InstanceID, err)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// AddAlarm creates an alarm. StartTime must be a whole UTC minute in the future and ElementName 1–32 characters
// (§3.1); the InstanceID is the ElementName. AMT answers a sixth alarm with a QuotaLimit fault.
func (c *Client) AddAlarm(ctx context.Context, a AlarmOccurrence) error {
	occ := wsman.IPS("IPS_AlarmClockOccurrence")
	var b strings.Builder
	b.WriteString(`<h:AddAlarm_INPUT xmlns:h="` + uriAlarmClockService + `"><h:AlarmTemplate xmlns:o="` + occ +
		`" xmlns:s="http://schemas.dmtf.org/wbem/wscim/1/common">`)
	elem := func(name, inner string) { b.WriteString("<o:" + name + ">" + inner + "</o:" + name + ">") }
	elem("InstanceID", escape(a.ElementName))
	elem("ElementName", escape(a.ElementName))
	elem("StartTime", "<s:Datetime>"+a.StartTime.UTC().Format("2006-01-02T15:04:05Z")+"</s:Datetime>")
	elem("Interval", "<s:Interval>"+AlarmInterval(a.Interval)+"</s:Interval>")
	elem("DeleteOnCompletion", strconv.FormatBool(a.DeleteOnCompletion))
	b.WriteString(`</h:AlarmTemplate></h:AddAlarm_INPUT>`)
	r, err := c.ws.Do(ctx, &wsman.Request{Action: uriAlarmClockService + "/AddAlarm",
		ResourceURI: uriAlarmClockService, Body: b.String()})
	if err != nil {
		return err
	}
	var out struct {
		ReturnValue uint32 `xml:"ReturnValue"`
	}
	if err := r.Decode(&out); err != nil {
		return err
	}
	if out.ReturnValue != 0 {
		return &wsman.ReturnValueError{Method: "AMT_AlarmClockService.AddAlarm", Value: out.ReturnValue,
			Name: wsman.ReturnValueName(uriAlarmClockService, "AddAlarm", out.ReturnValue)}
	}
	return nil
}

// DeleteAlarm removes the alarm with that InstanceID (WS-Transfer Delete); an unknown id is a SOAP fault.
func (c *Client) DeleteAlarm(ctx context.Context, instanceID string) error {
	return c.ws.Delete(ctx, uriAlarmClockOccurrence, wsman.Selector{Name: "InstanceID", Value: instanceID})
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// AlarmInterval renders d as P{d}DT{h}H{m}M (whole minutes).
func AlarmInterval(d time.Duration) string {
	m := int(d / time.Minute)
	return fmt.Sprintf("P%dDT%dH%dM", m/1440, m/60%24, m%60)
}

var alarmIntervalRE = regexp.MustCompile(`^P(?:(\d{1,5})D)?(?:T(?:(\d{1,5})H)?(?:(\d{1,5})M)?(?:(\d{1,5})S)?)?$`)

// ParseAlarmInterval reads an xs:duration of days, hours, minutes and seconds (e.g. PT5M, P1DT0H30M).
func ParseAlarmInterval(s string) (time.Duration, error) {
	m := alarmIntervalRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("interval %q is not a PnDTnHnMnS duration", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	if d > maxAlarmInterval {
		return 0, fmt.Errorf("interval %q is longer than ten years", s)
	}
	return d, nil
}

// maxAlarmInterval bounds intervals read from AMT, so that they render back in the same form.
const maxAlarmInterval = 10 * 365 * 24 * time.Hour
