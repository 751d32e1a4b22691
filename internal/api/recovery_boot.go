package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

// bootAction is one MPS bootOptions action code (protocol-recovery §1.1).
type bootAction struct {
	name   string
	target string // "bios", "https", "pba", "winre", "ider-floppy", "ider-cd", "pxe"
	reset  bool   // CIM PowerState 10 (reset) rather than 2 (power on)
}

var bootActions = map[int]bootAction{
	100: {"Power up to BIOS setup", "bios", false}, 101: {"Reset to BIOS setup", "bios", true},
	105: {"Reset to UEFI HTTPS boot", "https", true}, 106: {"Power on to UEFI HTTPS boot", "https", false},
	107: {"Reset to PBA", "pba", true}, 108: {"Power on to PBA", "pba", false},
	109: {"Reset to WinRE", "winre", true}, 110: {"Power on to WinRE", "winre", false},
	200: {"Reset to IDE-R floppy", "ider-floppy", true}, 201: {"Power on to IDE-R floppy", "ider-floppy", false},
	202: {"Reset to IDE-R CD-ROM", "ider-cd", true}, 203: {"Power on to IDE-R CD-ROM", "ider-cd", false},
	400: {"Reset to PXE", "pxe", true}, 401: {"Power on to PXE", "pxe", false},
}

// refusedActions are MPS codes dm-manager does not send, with the reason (§1.1, §1.3).
var refusedActions = map[int]string{
	104: "action 104 never erased anything in MPS (SecureErase stays false); use POST amt/boot/remoteErase/{guid}",
	300: "AMT has no diagnostic boot source since AMT 7.0, so this would be a plain power on; use power/action",
	301: "AMT has no diagnostic boot source since AMT 7.0, so this would be a plain reset; use power/action",
	500: "OS power-saving states are not boot targets; use power/action",
	501: "OS power-saving states are not boot targets; use power/action",
}

type bootDetails struct {
	URL               string `json:"url"`
	Username          string `json:"username"`
	Password          string `json:"password"`
	BootPath          string `json:"bootPath"` // PBA/WinRE: the BIOS boot option's .efi path
	EnforceSecureBoot *bool  `json:"enforceSecureBoot"`
	// dm-manager additions (protocol-recovery §1.4 types 20, 23, 30); verifyServer defaults to true.
	VerifyServer   *bool  `json:"verifyServer"`
	CertSHA256     string `json:"certSha256"` // hex
	TimeoutSeconds int    `json:"timeoutSeconds"`
}

type bootOptionsRequest struct {
	Action      *int         `json:"action"`
	UseSOL      *bool        `json:"useSOL"`
	BootDetails *bootDetails `json:"bootDetails"`
}

type powerActionRequest struct {
	Action *int `json:"action"`
}

// bootPlan is a validated bootOptions request.
type bootPlan struct {
	code     int
	act      bootAction
	source   string
	bootPath string // PBA/WinRE, resolved against the device's boot options
	opts     amt.BootOptions
}

func parseBootOptions(req bootOptionsRequest) (bootPlan, []fieldError) {
	var errs []fieldError
	if req.UseSOL == nil {
		errs = append(errs, bodyField("useSOL", "useSOL is required and must be a boolean"))
	}
	if req.Action == nil {
		return bootPlan{}, append(errs, bodyField("action", "action is required: one of 100, 101, 105, 106, 200-203, 400, 401"))
	}
	p := bootPlan{code: *req.Action}
	if why, refused := refusedActions[p.code]; refused {
		return p, append(errs, bodyField("action", why))
	}
	act, ok := bootActions[p.code]
	if !ok {
		return p, append(errs, bodyField("action", "action "+strconv.Itoa(p.code)+
			" is not a boot action: use 100, 101, 105-110, 200-203, 400 or 401 (power/action takes plain power actions)"))
	}
	p.act = act
	if req.UseSOL != nil {
		p.opts.UseSOL = *req.UseSOL
	}
	switch act.target {
	case "bios":
		p.opts.BIOSSetup = true
	case "pxe":
		p.source = amt.BootSourcePXE
	case "ider-floppy", "ider-cd":
		p.opts.UseIDER = true
		if act.target == "ider-cd" {
			p.opts.IDERBootDevice = 1
		}
	case "https":
		p.source = amt.BootSourceHTTPS
		errs = append(errs, httpsParams(req.BootDetails, &p.opts)...)
	case "pba", "winre":
		if req.BootDetails != nil {
			p.bootPath = req.BootDetails.BootPath
		}
		if act.target == "pba" && p.bootPath == "" {
			errs = append(errs, bodyField("bootDetails.bootPath", "a PBA boot needs bootDetails.bootPath, the .efi path of "+
				"the BIOS's PBA boot option (GET amt/boot/remoteErase lists no paths; see the device's BIOS)"))
		}
		p.opts.ForcedProgressEvents, p.opts.UseSOL = true, false
		p.opts.EnforceSecureBoot = req.BootDetails == nil || req.BootDetails.EnforceSecureBoot == nil || *req.BootDetails.EnforceSecureBoot
	}
	return p, errs
}

// resolveOCRFile picks the BIOS boot option of a PBA or WinRE boot (protocol-recovery §1.5): the one whose
// BootString is the requested path, or for WinRE without a path the first whose BIOSBootString names WinRe. It
// sets the source and the parameters and says why not, "" when found.
func resolveOCRFile(p *bootPlan, info amt.RecoveryInfo) string {
	for _, s := range info.Sources {
		if !strings.HasPrefix(s.InstanceID, amt.BootSourceOCRPrefix) {
			continue
		}
		winre := strings.Contains(s.BIOSBootString, "WinRe")
		if (p.bootPath != "" && s.BootString == p.bootPath) || (p.bootPath == "" && p.act.target == "winre" && winre) {
			ps, err := amt.EFIFileParams(s.BootString)
			if err != nil {
				return err.Error()
			}
			p.source, p.opts.UEFIParams = s.InstanceID, ps
			return ""
		}
	}
	if p.bootPath != "" {
		return "the device's BIOS lists no boot option with bootPath " + strconv.Quote(p.bootPath)
	}
	return "the device's BIOS lists no WinRE boot option"
}

// httpsParams validates bootDetails for an HTTPS boot (§1.1 rows 105/106, §1.4).
func httpsParams(d *bootDetails, o *amt.BootOptions) []fieldError {
	if d == nil || d.URL == "" {
		return []fieldError{bodyField("bootDetails.url", "an HTTPS boot needs bootDetails.url, the https:// URL of the boot image")}
	}
	if d.Username != "" || d.Password != "" {
		return []fieldError{bodyField("bootDetails.username", "HTTPS boot with a username or password cannot be sent: "+
			"AMT's credential parameters (types 40/41) are not implemented; serve the image without authentication")}
	}
	h := amt.HTTPSBoot{URL: d.URL, VerifyServer: d.VerifyServer == nil || *d.VerifyServer, TimeoutSeconds: d.TimeoutSeconds}
	if d.CertSHA256 != "" {
		b, err := hex.DecodeString(d.CertSHA256)
		if err != nil || len(b) != 32 {
			return []fieldError{bodyField("bootDetails.certSha256", "certSha256 must be 64 hex digits (the SHA-256 of the server certificate)")}
		}
		h.CertSHA256 = b
	}
	ps, err := h.Params()
	if err != nil {
		return []fieldError{bodyField("bootDetails.url", err.Error())}
	}
	o.UEFIParams = ps
	o.ForcedProgressEvents = true // as both toolkits set for OCR boots (§1.1)
	o.UseSOL = false
	o.EnforceSecureBoot = d.EnforceSecureBoot == nil || *d.EnforceSecureBoot
	return nil
}

// bootSupport says why the firmware cannot do the plan's boot, "" when it can (§1.3).
func bootSupport(p *bootPlan, info amt.RecoveryInfo, mode store.ControlMode) string {
	caps := info.Capabilities
	switch p.act.target {
	case "bios":
		if !caps.BIOSSetup {
			return "this device's firmware does not offer a boot to BIOS setup"
		}
	case "pxe":
		if !caps.ForcePXEBoot || !info.HasSource(amt.BootSourcePXE) {
			return "this device's firmware does not offer a PXE boot"
		}
	case "ider-floppy", "ider-cd":
		if !caps.IDER {
			return "this device's firmware does not offer IDE redirection"
		}
	case "https":
		switch {
		case !caps.ForceUEFIHTTPSBoot || !info.HasSource(amt.BootSourceHTTPS):
			return "this device's firmware does not offer UEFI HTTPS boot (One-Click Recovery needs CSME 15 or later)"
		case !info.Settings.UEFIHTTPSBootEnabled:
			return "UEFI HTTPS boot is disabled in this device's BIOS setup; enable it there"
		case !p.opts.EnforceSecureBoot && (mode == store.ControlModeCCM || info.Setup.ProvisioningMode == 4):
			return "EnforceSecureBoot cannot be turned off in CCM"
		}
	case "pba", "winre":
		switch {
		case p.act.target == "pba" && (!caps.ForceUEFILocalPBABoot || !info.Settings.UEFILocalPBABootEnabled):
			return "this device does not offer a PBA boot (firmware without One-Click Recovery, or disabled in BIOS setup)"
		case p.act.target == "winre" && (!caps.ForceWinREBoot || !info.Settings.WinREBootEnabled):
			return "this device does not offer a WinRE boot (firmware without One-Click Recovery, or disabled in BIOS setup)"
		case !p.opts.EnforceSecureBoot && (mode == store.ControlModeCCM || info.Setup.ProvisioningMode == 4):
			return "EnforceSecureBoot cannot be turned off in CCM"
		}
		return resolveOCRFile(p, info)
	}
	return ""
}

// bootOptions is MPS's POST /amt/power/bootOptions/{guid}: arm a one-time boot, then reset or power on.
func (s *server) bootOptions(w http.ResponseWriter, r *http.Request, c *call) {
	var req bootOptionsRequest
	if !decodeBody(w, r, &req) {
		return
	}
	plan, errs := parseBootOptions(req)
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	d, ok := s.device(w, r, c, func(guid string) { writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid) })
	if !ok || s.edgeBlocked(w, r, c, d.GUID, store.OpBoot, store.OpErase) {
		return
	}
	info, ok := readDevice(s, w, r, c, d.GUID, "Boot Setting", s.AMT.RecoveryInfo)
	if !ok {
		return
	}
	if why := bootSupport(&plan, info, d.ControlMode); why != "" {
		writeMPSError(w, http.StatusBadRequest, "Incorrect URI or Bad Request", why)
		return
	}
	if !s.powerApplies(w, r, c, d.GUID, plan.act.reset, plan.code) {
		return
	}
	if err := s.AMT.ArmBoot(r.Context(), c.tenant, d.GUID, plan.source, plan.opts); err != nil {
		s.answerWriteError(w, c, d.GUID, "Boot Setting", err)
		return
	}
	ps := amt.PowerOn
	if plan.act.reset {
		ps = amt.MasterBusReset
	}
	ep := edgePlan{Action: plan.code, PowerState: int(ps), Target: plan.act.target}
	out, err := s.sendEdge(r.Context(), c, d.GUID, store.OpBoot, ep)
	s.audit(r.Context(), RecoveryEvent{Tenant: c.tenant, GUID: d.GUID, Kind: "boot_override", AMTValue: int(ps),
		Outcome: out.String(), Message: fmt.Sprintf("%s (action %d)", plan.act.name, plan.code)})
	if err != nil {
		s.answerEdgeError(w, c, d.GUID, "Boot Setting", out, err)
		return
	}
	c.logger().Info().Str("guid", d.GUID).Int("action", plan.code).Msg("one-time boot armed and power action sent")
	writeJSON(w, http.StatusOK, powerBody(0, "SUCCESS"))
}

// powerAction is MPS's POST /amt/power/action/{guid}: a plain power action (CIM PowerState 2–16), after the
// one-time boot options are cleared as MPS does (protocol-cira-wsman §10.5).
func (s *server) powerAction(w http.ResponseWriter, r *http.Request, c *call) {
	var req powerActionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Action == nil || *req.Action < int(amt.PowerOn) || *req.Action > int(amt.PowerCycleOffHardGraceful) {
		writeValidation(w, bodyField("action", "action is required: a CIM PowerState from 2 to 16 "+
			"(2 on, 8 off, 10 reset, 5 cycle, 12 soft off, 14 soft reset); boot targets go to power/bootOptions"))
		return
	}
	action := *req.Action
	d, ok := s.device(w, r, c, func(guid string) { writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid) })
	if !ok || s.edgeBlocked(w, r, c, d.GUID, store.OpBoot, store.OpErase) {
		return
	}
	if err := s.AMT.ClearBoot(r.Context(), c.tenant, d.GUID); err != nil {
		s.answerWriteError(w, c, d.GUID, "Power Action", err)
		return
	}
	out, err := s.sendEdge(r.Context(), c, d.GUID, store.OpBoot, edgePlan{Action: action, PowerState: action})
	s.audit(r.Context(), RecoveryEvent{Tenant: c.tenant, GUID: d.GUID, Kind: "power_action", AMTValue: action,
		Outcome: out.String(), Message: amt.PowerState(action).String()})
	if err != nil {
		s.answerEdgeError(w, c, d.GUID, "Power Action", out, err)
		return
	}
	writeJSON(w, http.StatusOK, powerBody(0, "SUCCESS"))
}

// powerApplies checks the host's power state against a reset (needs it on) or a power on (needs it off), so
// that an armed boot is not left waiting for a boot that the action does not cause.
func (s *server) powerApplies(w http.ResponseWriter, r *http.Request, c *call, guid string, reset bool, code int) bool {
	ps, ok := readDevice(s, w, r, c, guid, "Power State", s.AMT.PowerState)
	if !ok {
		return false
	}
	on := ps == amt.PowerOn
	switch {
	case reset && !on:
		writeMPSError(w, http.StatusConflict, "Conflict", fmt.Sprintf(
			"the host is not on (%s): a reset cannot boot it; use the power-on variant (action %d)", ps, code+1))
		return false
	case !reset && on:
		writeMPSError(w, http.StatusConflict, "Conflict", fmt.Sprintf(
			"the host is already on: a power on would not boot it; use the reset variant (action %d)", code-1))
		return false
	}
	return true
}

// readDevice runs one read for a recovery route, answering the failure itself.
func readDevice[T any](s *server, w http.ResponseWriter, r *http.Request, c *call, guid, what string,
	read func(ctx context.Context, tenant, guid string) (T, error),
) (T, bool) {
	v, err := read(r.Context(), c.tenant, guid)
	if err != nil {
		s.answerWriteError(w, c, guid, what, err)
		return v, false
	}
	return v, true
}

// answerWriteError answers a failed device call that is not itself the power action.
func (s *server) answerWriteError(w http.ResponseWriter, c *call, guid, what string, err error) {
	switch {
	case errors.Is(err, ErrNotConnected):
		writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid)
	case errors.Is(err, context.DeadlineExceeded):
		writeMPSError(w, http.StatusGatewayTimeout, "Gateway Timeout",
			fmt.Sprintf("%s request timed out after %s for guid : %s.", what, s.RequestTimeout, guid))
	default:
		c.logger().Error().Err(err).Str("guid", guid).Str("request", what).Msg("AMT request failed")
		writeMPSError(w, http.StatusInternalServerError, "Internal Server Error",
			fmt.Sprintf("Exception during %s request: %v", what, err))
	}
}
