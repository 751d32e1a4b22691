package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

// Remote Platform Erase (protocol-recovery §2): capabilities and start in the shape of MPS's unmerged RPE branch
// (GET/POST /amt/boot/remoteErase/{guid}), plus a confirmation field and a status route that reports completion
// from the BIOS's BIOSLastStatus, which neither reference tool observes.

type eraseCapsJSON struct {
	SecureEraseAllSSDs bool `json:"secureEraseAllSSDs"`
	TPMClear           bool `json:"tpmClear"`
	RestoreBIOSToEOM   bool `json:"restoreBIOSToEOM"`
	UnconfigureCSME    bool `json:"unconfigureCSME"`
	RPESupported       bool `json:"rpeSupported"`     // the firmware and BIOS can erase (PlatformErase bit 0)
	RPEEnabledInBIOS   bool `json:"rpeEnabledInBIOS"` // BIOS setup allows it (RPEEnabled)
	PlatformErase      int  `json:"platformErase"`    // AMT_BootCapabilities.PlatformErase, the raw bitmask
}

type eraseRequest struct {
	SecureEraseAllSSDs bool   `json:"secureEraseAllSSDs"`
	TPMClear           bool   `json:"tpmClear"`
	RestoreBIOSToEOM   bool   `json:"restoreBIOSToEOM"`
	UnconfigureCSME    bool   `json:"unconfigureCSME"`
	SSDPassword        string `json:"ssdPassword"`
	Confirm            string `json:"confirm"` // must repeat the device GUID
}

// eraseItems maps request flags to PlatformErase bits and the names used in answers and events.
var eraseItems = []struct {
	bit  uint32
	name string
	set  func(eraseRequest) bool
}{
	{amt.EraseAllSSDs, "secureEraseAllSSDs", func(q eraseRequest) bool { return q.SecureEraseAllSSDs }},
	{amt.EraseTPMClear, "tpmClear", func(q eraseRequest) bool { return q.TPMClear }},
	{amt.EraseRestoreBIOS, "restoreBIOSToEOM", func(q eraseRequest) bool { return q.RestoreBIOSToEOM }},
}

// mpsBadRequest is MPS's error text for 400 (protocol-recovery §4).
const mpsBadRequest = "Incorrect URI or Bad Request"

func (s *server) eraseCapabilities(w http.ResponseWriter, r *http.Request, c *call) {
	s.live(w, r, c, "Boot Capabilities", func(ctx context.Context, guid string) (any, error) {
		info, err := s.AMT.RecoveryInfo(ctx, c.tenant, guid)
		m := info.Capabilities.PlatformErase
		return eraseCapsJSON{SecureEraseAllSSDs: m&amt.EraseAllSSDs != 0, TPMClear: m&amt.EraseTPMClear != 0,
			RestoreBIOSToEOM: m&amt.EraseRestoreBIOS != 0, UnconfigureCSME: m&amt.EraseOEMAction != 0,
			RPESupported: m&amt.EraseSupported != 0, RPEEnabledInBIOS: info.Settings.RPEEnabled, PlatformErase: m}, err
	})
}

func parseErase(q eraseRequest, guid string) (uint32, []string, []fieldError) {
	var errs []fieldError
	if !strings.EqualFold(strings.TrimSpace(q.Confirm), guid) {
		errs = append(errs, bodyField("confirm", "an erase cannot be undone: set confirm to the device GUID ("+guid+") to go ahead"))
	}
	if q.UnconfigureCSME {
		errs = append(errs, bodyField("unconfigureCSME", "unconfiguring CSME would remove the device's CIRA configuration "+
			"and credentials, so it would never reconnect; deactivate the device (desired AMT state UNPROVISIONED) instead"))
	}
	if len(q.SSDPassword) > 32 {
		errs = append(errs, bodyField("ssdPassword", "ssdPassword must be at most 32 bytes (AMT's RSEPassword)"))
	}
	var mask uint32
	var names []string
	for _, it := range eraseItems {
		if it.set(q) {
			mask |= it.bit
			names = append(names, it.name)
		}
	}
	if mask == 0 && !q.UnconfigureCSME {
		errs = append(errs, bodyField("", "At least one erase option must be enabled: secureEraseAllSSDs, tpmClear or restoreBIOSToEOM"))
	}
	return mask, names, errs
}

// startErase arms the erase and restarts the host (power on when it is off), journaled like any power action.
func (s *server) startErase(w http.ResponseWriter, r *http.Request, c *call) {
	var q eraseRequest
	if !decodeBody(w, r, &q) {
		return
	}
	d, ok := s.device(w, r, c, func(guid string) { writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid) })
	if !ok {
		return
	}
	mask, names, errs := parseErase(q, d.GUID)
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	if d.ControlMode == store.ControlModeCCM { // known from activation: refused without asking the device
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, "Remote Platform Erase needs admin control mode (ACM); "+
			"this device is in client control mode (CCM)")
		return
	}
	if s.edgeBlocked(w, r, c, d.GUID, store.OpBoot, store.OpErase) {
		return
	}
	info, ok := readDevice(s, w, r, c, d.GUID, "Boot Capabilities", s.AMT.RecoveryInfo)
	if !ok {
		return
	}
	caps := uint32(info.Capabilities.PlatformErase) //nolint:gosec // G115: AMT reports a 32-bit mask
	switch {
	case info.Setup.ProvisioningMode != 1:
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, "Remote Platform Erase needs admin control mode (ACM); "+
			"this device is not in ACM")
		return
	case caps&amt.EraseSupported == 0:
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, "Device does not support Remote Platform Erase "+
			"(it needs AMT 16 or later and a BIOS that offers it)")
		return
	case caps&mask != mask:
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, "Requested erase capabilities are not supported by this device: "+
			strings.Join(missing(caps, mask), ", "))
		return
	case !info.Settings.RPEEnabled:
		writeMPSError(w, http.StatusBadRequest, mpsBadRequest, amt.ErrRPEDisabledInBIOS.Error())
		return
	}
	ps, ok := readDevice(s, w, r, c, d.GUID, "Power State", s.AMT.PowerState)
	if !ok {
		return
	}
	if err := s.AMT.ArmPlatformErase(r.Context(), c.tenant, d.GUID, mask, q.SSDPassword); err != nil {
		s.answerWriteError(w, c, d.GUID, "Remote Platform Erase", err)
		return
	}
	// Restart the host so the BIOS takes the erase: reset when it runs, power on otherwise (§2.4 step 9).
	action := amt.MasterBusReset
	if ps != amt.PowerOn {
		action = amt.PowerOn
	}
	out, err := s.sendEdge(r.Context(), c, d.GUID, store.OpErase,
		edgePlan{PowerState: int(action), Target: "erase", Devices: names, EraseMask: mask})
	s.audit(r.Context(), RecoveryEvent{Tenant: c.tenant, GUID: d.GUID, Kind: "erase_started", AMTValue: int(action),
		Outcome: out.String(), Message: "Remote Platform Erase of " + strings.Join(names, ", ")})
	if err != nil {
		s.answerEdgeError(w, c, d.GUID, "Remote Platform Erase", out, err)
		return
	}
	c.logger().Warn().Str("guid", d.GUID).Strs("devices", names).Msg("Remote Platform Erase started")
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "success", "state": amt.EraseArmed, "devices": names})
}

func missing(caps, mask uint32) []string {
	var out []string
	for _, it := range eraseItems {
		if mask&it.bit != 0 && caps&it.bit == 0 {
			out = append(out, it.name)
		}
	}
	return out
}

type eraseStatusJSON struct {
	State          amt.EraseState `json:"state"`
	Devices        []string       `json:"devices"`
	StartedAt      time.Time      `json:"startedAt"`
	FinishedAt     string         `json:"finishedAt,omitempty"`
	BIOSLastStatus []int          `json:"biosLastStatus"`
	Message        string         `json:"message,omitempty"`
}

// eraseStatus reports the last erase: from the journal what was asked and when, from the BIOS how far it is.
// The first time completion or failure is seen it is journaled and recorded as an event.
func (s *server) eraseStatus(w http.ResponseWriter, r *http.Request, c *call) {
	d, ok := s.device(w, r, c, func(guid string) { writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid) })
	if !ok {
		return
	}
	if s.Journal == nil {
		writeMPSError(w, http.StatusServiceUnavailable, "Service Unavailable", "erase status needs the operation journal")
		return
	}
	e, err := s.Journal.GetJournal(r.Context(), d.GUID, store.OpErase)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeMPSError(w, http.StatusNotFound, "Not Found", "no Remote Platform Erase was started for guid : "+d.GUID)
		return
	case err != nil:
		s.journalFailed(w, c, err)
		return
	}
	plan := planOf(e)
	out := eraseStatusJSON{Devices: plan.Devices, StartedAt: e.StepStartedAt.UTC(), FinishedAt: plan.FinishedAt,
		BIOSLastStatus: []int{}}
	switch e.Step {
	case stepRefused:
		out.State, out.Message = amt.EraseFailed, "AMT refused the restart that starts the erase: "+e.LastError
		writeJSON(w, http.StatusOK, out)
		return
	case stepCompleted, stepFailed:
		out.State, out.Message = amt.EraseState(e.Step), e.LastError
		writeJSON(w, http.StatusOK, out)
		return
	}
	st, set, ok := readErase(s, w, r, c, d.GUID)
	if !ok {
		return
	}
	out.State, out.BIOSLastStatus = st, set.BIOSLastStatus
	if st == amt.EraseCompleted || st == amt.EraseFailed {
		plan.FinishedAt = s.Now().UTC().Format(time.RFC3339)
		out.FinishedAt = plan.FinishedAt
		e.Step, e.Sequence = string(st), plan.encode()
		if st == amt.EraseFailed {
			e.LastError = "the BIOS reported a failure: " + amt.BIOSFailure(set)
			out.Message = e.LastError
		}
		if _, err := s.Journal.PutJournal(r.Context(), e); err != nil {
			s.journalFailed(w, c, err)
			return
		}
		kind := "erase_completed"
		if st == amt.EraseFailed {
			kind = "erase_failed"
		}
		s.audit(r.Context(), RecoveryEvent{Tenant: c.tenant, GUID: d.GUID, Kind: kind, Outcome: "ok",
			Message: "Remote Platform Erase of " + strings.Join(plan.Devices, ", ") + ": " + string(st)})
	}
	writeJSON(w, http.StatusOK, out)
}

func readErase(s *server, w http.ResponseWriter, r *http.Request, c *call, guid string) (amt.EraseState, amt.BootSettingData, bool) {
	st, set, err := s.AMT.EraseProgress(r.Context(), c.tenant, guid)
	if err != nil {
		s.answerWriteError(w, c, guid, "Erase Status", err)
		return "", set, false
	}
	return st, set, true
}

func (s *server) journalFailed(w http.ResponseWriter, c *call, err error) {
	c.logger().Error().Err(err).Msg("recovery journal read or write failed")
	writeMPSError(w, http.StatusInternalServerError, "Internal Server Error", "Exception during erase status request")
}
