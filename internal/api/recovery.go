package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
)

// Out-of-band recovery (issue 16, protocol-recovery.md): one-time boot override with a power action, Remote
// Platform Erase and alarm clock wake, in MPS's REST shapes where MPS has them.
//
// A power action is an edge: it is journaled (kind boot or erase) before it is sent and never sent again by
// dm-manager. While the outcome of one is unknown (the answer was lost, or the process stopped between the journal
// write and the answer), a new power action on the device is refused until recoverySettle has passed, so neither a
// client's retry nor a restart repeats a reset that may have happened.

// recoverySettle is how long an edge of unknown outcome blocks the next one; eraseWindow how long an erase that has
// not reported completion blocks power actions and other erases (a reset would interrupt the BIOS).
const (
	recoverySettle = 2 * time.Minute
	eraseWindow    = time.Hour
)

// Journal steps of the boot and erase kinds.
const (
	stepIntent    = "intent"    // the power action is about to be sent, or was sent and its answer lost
	stepSent      = "sent"      // AMT accepted the power action
	stepRefused   = "refused"   // AMT refused it: nothing happened
	stepCompleted = "completed" // erase: the BIOS reported it finished
	stepFailed    = "failed"    // erase: the BIOS reported a failure
)

// ErrNotSent marks a device write that certainly did not reach AMT for a reason other than a missing session
// (no credentials, a store failure before the request).
var ErrNotSent = errors.New("the request was not sent to AMT")

// RecoveryJournal is the part of the operation journal the recovery routes use (*store.Store satisfies it).
type RecoveryJournal interface {
	GetJournal(ctx context.Context, guid string, kind store.OpKind) (store.JournalEntry, error)
	PutJournal(ctx context.Context, e store.JournalEntry) (store.JournalEntry, error)
}

// RecoveryEvent is one recovery action for the device's event trail. It never carries a secret.
type RecoveryEvent struct {
	Tenant, GUID string
	Kind         string // boot_override, power_action, erase_started, erase_completed, erase_failed, alarm_added, alarm_deleted
	AMTValue     int    // the CIM PowerState sent, when there was one
	Outcome      string // ok, error, unknown, not_sent
	Message      string
}

// Auditor records recovery actions. The default writes them to the log.
type Auditor interface {
	Record(ctx context.Context, e RecoveryEvent)
}

type logAuditor struct{ log zerolog.Logger }

func (a logAuditor) Record(_ context.Context, e RecoveryEvent) {
	a.log.Info().Str("tenant", e.Tenant).Str("guid", e.GUID).Str("event", e.Kind).Int("amtValue", e.AMTValue).
		Str("outcome", e.Outcome).Str("message", e.Message).Msg("recovery action")
}

func (s *server) recoveryRoutes() []route {
	return []route{
		{http.MethodPost, "/amt/power/action/{guid}", permWrite, s.powerAction},
		{http.MethodPost, "/amt/power/bootOptions/{guid}", permWrite, s.bootOptions},
		{http.MethodGet, "/amt/boot/remoteErase/{guid}", permRead, s.eraseCapabilities},
		{http.MethodPost, "/amt/boot/remoteErase/{guid}", permWrite, s.startErase},
		{http.MethodGet, "/amt/boot/remoteErase/{guid}/status", permRead, s.eraseStatus},
		{http.MethodGet, "/amt/alarmOccurrences/{guid}", permRead, s.listAlarms},
		{http.MethodPost, "/amt/alarmOccurrences/{guid}", permWrite, s.addAlarm},
		{http.MethodDelete, "/amt/alarmOccurrences/{guid}", permWrite, s.deleteAlarm},
	}
}

func (s *server) audit(ctx context.Context, e RecoveryEvent) {
	if s.Audit != nil {
		s.Audit.Record(ctx, e)
		return
	}
	logAuditor{s.Log}.Record(ctx, e)
}

// outcome classifies a device write's error: AMT answered (refused), never reached AMT (not sent), or unknown.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeNotSent
	outcomeRefused
	outcomeUnknown
)

func classify(err error) outcome {
	var (
		rv    *wsman.ReturnValueError
		fault *wsman.FaultError
		hs    *wsman.HTTPStatusError
	)
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrNotConnected), errors.Is(err, ErrNotSent):
		return outcomeNotSent
	case errors.As(err, &rv), errors.As(err, &fault), errors.As(err, &hs), errors.Is(err, wsman.ErrAuthFailed):
		return outcomeRefused
	}
	return outcomeUnknown
}

func (o outcome) String() string {
	return [...]string{"ok", "not_sent", "error", "unknown"}[o]
}

// edgePlan is the journal's Sequence of a boot or erase entry.
type edgePlan struct {
	Action     int      `json:"action"`               // the REST action code (bootOptions/power action) or 0 (erase)
	PowerState int      `json:"powerState"`           // the CIM PowerState sent
	Target     string   `json:"target,omitempty"`     // what the next boot does
	Devices    []string `json:"devices,omitempty"`    // erase: what is erased
	EraseMask  uint32   `json:"eraseMask,omitempty"`  // erase: the PlatformErase bitmask
	FinishedAt string   `json:"finishedAt,omitempty"` // erase: when completion or failure was seen
}

func (p edgePlan) encode() json.RawMessage {
	b, _ := json.Marshal(p) // ints, strings and a string slice always marshal
	return b
}

func planOf(e store.JournalEntry) edgePlan {
	var p edgePlan
	_ = json.Unmarshal(e.Sequence, &p) // an unreadable plan reads as empty
	return p
}

// edgeBlocked answers 409 when the device's last edge of kind has an unknown outcome and is recent; otherwise
// it reports false. A failure to read the journal is a 500: without it the edge could repeat.
func (s *server) edgeBlocked(w http.ResponseWriter, r *http.Request, c *call, guid string, kinds ...store.OpKind) bool {
	if s.Journal == nil {
		writeMPSError(w, http.StatusServiceUnavailable, "Service Unavailable",
			"recovery actions need the operation journal, which this server was started without")
		return true
	}
	for _, k := range kinds {
		e, err := s.Journal.GetJournal(r.Context(), guid, k)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			c.logger().Error().Err(err).Str("guid", guid).Msg("reading the recovery journal failed")
			writeMPSError(w, http.StatusInternalServerError, "Internal Server Error", "Exception during journal read")
			return true
		}
		if k == store.OpErase && e.Step == stepSent && s.Now().Before(e.StepStartedAt.Add(eraseWindow)) {
			writeMPSError(w, http.StatusConflict, "Conflict", fmt.Sprintf("a Remote Platform Erase started at %s has "+
				"not reported completion; a power action or another erase would interrupt it. See GET "+
				"amt/boot/remoteErase/%s/status (this guard ends at %s)", e.StepStartedAt.UTC().Format(time.RFC3339),
				guid, e.StepStartedAt.Add(eraseWindow).UTC().Format(time.RFC3339)))
			return true
		}
		until := e.StepStartedAt.Add(recoverySettle)
		if e.Step == stepIntent && s.Now().Before(until) {
			writeMPSError(w, http.StatusConflict, "Conflict", fmt.Sprintf(
				"a power action (CIM PowerState %d) was possibly sent to guid : %s at %s and its outcome is unknown; "+
					"check the device's power state and retry after %s", planOf(e).PowerState, guid,
				e.StepStartedAt.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339)))
			return true
		}
	}
	return false
}

// sendEdge journals the intent, sends the power action and journals what became of it. It returns the outcome
// and the error; the caller answers.
func (s *server) sendEdge(ctx context.Context, c *call, guid string, kind store.OpKind, plan edgePlan) (outcome, error) {
	//nolint:gosec // G115: plan.Action is one of the validated action codes (< 1000)
	e := store.JournalEntry{GUID: guid, TenantID: c.tenant, Kind: kind, Sequence: plan.encode(), Step: stepIntent,
		Desired: int32(plan.Action), StepStartedAt: s.Now(), HardActionSent: true}
	if _, err := s.Journal.PutJournal(ctx, e); err != nil {
		return outcomeNotSent, fmt.Errorf("journaling the power action before sending it: %w", err)
	}
	err := s.AMT.RequestPowerStateChange(ctx, c.tenant, guid, amt.PowerState(plan.PowerState))
	out := classify(err)
	switch out {
	case outcomeOK:
		e.Step = stepSent
	case outcomeRefused, outcomeNotSent:
		e.Step, e.HardActionSent, e.LastError = stepRefused, false, errText(err)
	default:
		e.LastError = errText(err) // stays "intent": possibly sent
	}
	// The answer is written even when the request's context ended: the journal must say what happened.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, jerr := s.Journal.PutJournal(wctx, e); jerr != nil {
		c.logger().Error().Err(jerr).Str("guid", guid).Str("step", e.Step).Msg("journaling the power action's outcome failed")
	}
	return out, err
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// answerEdgeError answers a failed power action in MPS's shapes: not connected 404, AMT's refusal 200 with its
// ReturnValue (as MPS does), unknown 502 naming the risk.
func (s *server) answerEdgeError(w http.ResponseWriter, c *call, guid, what string, out outcome, err error) {
	var rv *wsman.ReturnValueError
	switch {
	case out == outcomeNotSent && errors.Is(err, ErrNotConnected):
		writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid)
	case out == outcomeRefused && errors.As(err, &rv):
		writeJSON(w, http.StatusOK, powerBody(int(rv.Value), rv.Name))
	case out == outcomeRefused:
		c.logger().Warn().Err(err).Str("guid", guid).Msg(what + " refused by AMT")
		writeMPSError(w, http.StatusBadGateway, "Bad Gateway", fmt.Sprintf("AMT refused the %s: %v", what, err))
	case out == outcomeNotSent:
		c.logger().Error().Err(err).Str("guid", guid).Msg(what + " not sent")
		writeMPSError(w, http.StatusInternalServerError, "Internal Server Error", "Exception during "+what+" request")
	default:
		c.logger().Warn().Err(err).Str("guid", guid).Msg(what + ": outcome unknown")
		writeMPSError(w, http.StatusBadGateway, "Bad Gateway", fmt.Sprintf(
			"the %s may or may not have reached AMT for guid : %s (%v); it is not repeated: check the device, "+
				"a new request is accepted after %s", what, guid, err, recoverySettle))
	}
}

// powerBody is MPS's answer to a power action (protocol-cira-wsman §11.2).
func powerBody(rv int, name string) map[string]any {
	h := header(wsman.CIM("CIM_PowerManagementService"))
	h["Action"] = wsman.CIM("CIM_PowerManagementService") + "/RequestPowerStateChangeResponse"
	return map[string]any{"Header": h, "Body": map[string]any{"ReturnValue": rv, "ReturnValueStr": name}}
}
