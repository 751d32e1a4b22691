package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// Alarm clock wake in MPS's shapes (protocol-recovery §4.3).

type alarmJSON struct {
	ElementName        string            `json:"ElementName"`
	InstanceID         string            `json:"InstanceID"`
	StartTime          map[string]string `json:"StartTime"`
	Interval           map[string]string `json:"Interval,omitempty"`
	DeleteOnCompletion bool              `json:"DeleteOnCompletion"`
	InternalInMinutes  int               `json:"InternalInMinutes"` // MPS's spelling
}

type addAlarmRequest struct {
	ElementName        string  `json:"ElementName"`
	StartTime          string  `json:"StartTime"`
	Interval           int     `json:"Interval"` // minutes; 0 one shot
	InstanceID         *string `json:"InstanceID"`
	DeleteOnCompletion *bool   `json:"DeleteOnCompletion"`
}

type deleteAlarmRequest struct {
	Name string `json:"Name"`
}

func (s *server) listAlarms(w http.ResponseWriter, r *http.Request, c *call) {
	s.live(w, r, c, "alarm occurrences", func(ctx context.Context, guid string) (any, error) {
		as, err := s.AMT.Alarms(ctx, c.tenant, guid)
		out := make([]alarmJSON, 0, len(as))
		for _, a := range as {
			j := alarmJSON{ElementName: a.ElementName, InstanceID: a.InstanceID, DeleteOnCompletion: a.DeleteOnCompletion,
				StartTime:         map[string]string{"Datetime": a.StartTime.UTC().Format("2006-01-02T15:04:05Z")},
				InternalInMinutes: int(a.Interval / time.Minute)}
			if a.Interval > 0 {
				j.Interval = map[string]string{"Interval": amt.AlarmInterval(a.Interval)}
			}
			out = append(out, j)
		}
		return out, err
	})
}

// parseAlarm applies AMT's rules (§3.1) so that AMT's own refusals do not have to be decoded.
func parseAlarm(q addAlarmRequest, now time.Time) (amt.AlarmOccurrence, []fieldError) {
	var errs []fieldError
	a := amt.AlarmOccurrence{ElementName: q.ElementName, Interval: time.Duration(q.Interval) * time.Minute,
		DeleteOnCompletion: q.DeleteOnCompletion == nil || *q.DeleteOnCompletion}
	if q.ElementName == "" || len(q.ElementName) > 32 {
		errs = append(errs, bodyField("ElementName", "ElementName is required, 1 to 32 characters, unique among the device's alarms"))
	}
	if q.InstanceID != nil && *q.InstanceID != q.ElementName {
		errs = append(errs, bodyField("InstanceID", "AMT names an alarm by its ElementName: omit InstanceID or set it to ElementName"))
	}
	t, err := time.Parse(time.RFC3339, q.StartTime)
	switch {
	case err != nil:
		errs = append(errs, bodyField("StartTime", "StartTime must be an ISO-8601 time, e.g. 2030-01-02T03:04:00Z"))
	case t.Second() != 0 || t.Nanosecond() != 0:
		errs = append(errs, bodyField("StartTime", "StartTime must be on a whole minute (AMT requires seconds 00)"))
	case !t.After(now):
		errs = append(errs, bodyField("StartTime", "StartTime must be in the future"))
	}
	a.StartTime = t.UTC()
	if q.Interval < 0 || q.Interval > 365*1440 {
		errs = append(errs, bodyField("Interval", "Interval is in minutes, from 0 (one shot) to 525600 (a year)"))
	}
	return a, errs
}

func (s *server) addAlarm(w http.ResponseWriter, r *http.Request, c *call) {
	var q addAlarmRequest
	if !decodeBody(w, r, &q) {
		return
	}
	a, errs := parseAlarm(q, s.Now())
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	d, ok := s.device(w, r, c, func(guid string) { writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid) })
	if !ok {
		return
	}
	existing, ok := readDevice(s, w, r, c, d.GUID, "alarm occurrences", s.AMT.Alarms)
	if !ok {
		return
	}
	for _, e := range existing {
		if e.ElementName == a.ElementName || e.InstanceID == a.ElementName {
			writeMPSError(w, http.StatusBadRequest, mpsBadRequest, fmt.Sprintf("an alarm named %q exists on guid : %s", a.ElementName, d.GUID))
			return
		}
	}
	if len(existing) >= amt.MaxAlarms {
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, fmt.Sprintf("Alarm add request quota exceeded for guid : %s. "+
			"AMT keeps at most %d alarms; delete one first.", d.GUID, amt.MaxAlarms))
		return
	}
	err := s.AMT.AddAlarm(r.Context(), c.tenant, d.GUID, a)
	var fault *wsman.FaultError
	switch {
	case errors.As(err, &fault) && fault.Subcode == "QuotaLimit":
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, "Alarm add request quota exceeded for guid : "+d.GUID+".")
		return
	case errors.As(err, &fault):
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, fmt.Sprintf("Alarm add request invalid parameters for guid : %s. (%s)", d.GUID, fault.Reason))
		return
	case err != nil:
		s.answerWriteError(w, c, d.GUID, "alarm occurrences", err)
		return
	}
	s.audit(r.Context(), RecoveryEvent{Tenant: c.tenant, GUID: d.GUID, Kind: "alarm_added", Outcome: "ok",
		Message: fmt.Sprintf("alarm %q at %s every %d minutes", a.ElementName, a.StartTime.Format(time.RFC3339), q.Interval)})
	writeJSON(w, http.StatusOK, map[string]any{"status": "SUCCESS", "ReturnValue": 0})
}

func (s *server) deleteAlarm(w http.ResponseWriter, r *http.Request, c *call) {
	var q deleteAlarmRequest
	if !decodeBody(w, r, &q) {
		return
	}
	d, ok := s.device(w, r, c, func(guid string) { writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid) })
	if !ok {
		return
	}
	if strings.TrimSpace(q.Name) == "" {
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, "Invalid alarm occurrence request for guid : "+d.GUID+
			". The body needs Name, the alarm's InstanceID.")
		return
	}
	err := s.AMT.DeleteAlarm(r.Context(), c.tenant, d.GUID, q.Name)
	var fault *wsman.FaultError
	switch {
	case errors.As(err, &fault):
		writeMPSError(w, http.StatusNotFound, "Alarm instance not found", "Alarm occurrence delete request failed for guid : "+d.GUID+".")
		return
	case err != nil:
		s.answerWriteError(w, c, d.GUID, "alarm occurrences", err)
		return
	}
	s.audit(r.Context(), RecoveryEvent{Tenant: c.tenant, GUID: d.GUID, Kind: "alarm_deleted", Outcome: "ok",
		Message: fmt.Sprintf("alarm %q deleted", q.Name)})
	writeJSON(w, http.StatusOK, map[string]string{"status": "SUCCESS"})
}
