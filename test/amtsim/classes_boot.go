package amtsim

import (
	"strconv"
	"strings"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// One-time boot override (protocol-recovery §0–§1): CIM_BootConfigSetting.ChangeBootOrder selects a boot source,
// AMT_BootSettingData carries the flags (BIOS setup, IDE-R, platform erase, UEFI parameters) and
// CIM_BootService.SetBootConfigRole(IsNextSingleUse) arms them for the next boot. At that boot the "BIOS" takes
// the override, records it as the last boot target and clears it (OptionsCleared).

// Boot source InstanceIDs (§0.4) and the fixed boot configuration instance (§0.2).
const (
	srcHardDrive   = "Intel(r) AMT: Force Hard-drive Boot"
	srcCDDVD       = "Intel(r) AMT: Force CD/DVD Boot"
	srcPXE         = "Intel(r) AMT: Force PXE Boot"
	srcHTTPS       = "Intel(r) AMT: Force OCR UEFI HTTPS Boot"
	srcOCROption   = "Intel(r) AMT: Force OCR UEFI Boot Option"
	bootConfigID   = "Intel(r) AMT: Boot Configuration 0"
	bootServiceNm  = "Intel(r) AMT Boot Service"
	stateOCRRPEOff = 32768 // CIM_BootService EnabledState values (§0.5)
	bitOCR         = 1
	bitRPE         = 2
)

// ChangeBootOrder / SetBootConfigRole return values (§0.5) and CIM RequestStateChange ones.
const (
	bootOK              = 0
	bootInvalidRef      = 4
	bootInvalidParam    = 5
	bootAccessDenied    = 6
	rscNotSupported     = 1
	rscInvalidParameter = 5
)

// Boot targets as the control API names them.
const (
	targetDefault = "default"
	targetPXE     = "pxe"
	targetHTTPS   = "https"
	targetBIOS    = "bios"
	targetCD      = "ider-cd"
	targetFloppy  = "ider-floppy"
	targetDisk    = "disk"
	targetErase   = "erase"
	targetPBA     = "pba"
	targetWinRE   = "winre"
)

// bootModel is the BIOS side of boot control.
type bootModel struct {
	source       string // selected boot source InstanceID; "" none
	armed        bool   // SetBootConfigRole made Boot Configuration 0 the next boot's
	serviceState int    // CIM_BootService EnabledState; 0 until first set (reads 32768)
	uefiParams   []tlv  // parameters of the last Put (write-only on the wire)
	rsePassword  string // write-only
	lastTarget   string
	lastCause    string
	boots        int
	httpsURL     string
	efiPath      string
	erase        *EraseStatus
}

// major is the firmware's major version.
func (d *Device) major() int {
	n, _ := strconv.Atoi(strings.SplitN(d.cfg.Version, ".", 2)[0])
	return n
}

// fromVersion is a read-only boolean that is true from firmware major version v.
func fromVersion(v int) func(*Device) []string {
	return func(d *Device) []string { return []string{strconv.FormatBool(d.major() >= v)} }
}

func (d *Device) bootFlag(name string) bool {
	v := d.value(bootSettings, name)
	return len(v) == 1 && v[0] == "true"
}

func (d *Device) setBootValue(name string, v ...string) {
	obj := d.values(bootSettings)
	if d.settings == nil {
		d.settings = map[string]settingsObj{}
	}
	obj[fieldIndex(bootSettings, name)] = v
	d.settings[bootSettings.name] = obj
}

func (d *Device) bootServiceState() int {
	if d.boot.serviceState == 0 {
		return stateOCRRPEOff
	}
	return d.boot.serviceState
}

func (d *Device) ocrEnabled() bool { return (d.bootServiceState()-stateOCRRPEOff)&bitOCR != 0 }
func (d *Device) rpeEnabled() bool { return (d.bootServiceState()-stateOCRRPEOff)&bitRPE != 0 }

// overrideLocked names what the next boot will do, "" when nothing is armed.
func (d *Device) overrideLocked() string {
	if !d.boot.armed {
		return ""
	}
	switch {
	case d.boot.source == srcPXE:
		return targetPXE
	case d.boot.source == srcHTTPS:
		return targetHTTPS
	case d.boot.source == srcCDDVD:
		return targetCD
	case d.boot.source == srcHardDrive:
		return targetDisk
	case strings.HasPrefix(d.boot.source, srcOCROption):
		for _, s := range bootSources(d) {
			if s.Prop("InstanceID").Values[0] == d.boot.source && strings.HasPrefix(s.Prop("BIOSBootString").Values[0], "WinRe") {
				return targetWinRE
			}
		}
		return targetPBA
	case d.bootFlag("PlatformErase"):
		return targetErase
	case d.bootFlag("BIOSSetup"):
		return targetBIOS
	case d.bootFlag("UseIDER"):
		if v := d.value(bootSettings, "IDERBootDevice"); len(v) == 1 && v[0] == "1" {
			return targetCD
		}
		return targetFloppy
	}
	return ""
}

// bootLocked is the BIOS starting: it takes the armed override once and clears it. It reports whether the OS
// boots afterwards (not from BIOS setup, nor while an erase runs).
func (d *Device) bootLocked(cause string) bool {
	b := &d.boot
	target := d.overrideLocked()
	if target == "" {
		target = targetDefault
	}
	b.boots++
	b.lastTarget, b.lastCause = target, cause
	osBoots := target != targetBIOS
	status := []string{"0", "0"}
	switch target {
	case targetHTTPS:
		b.httpsURL = string(tlvValue(b.uefiParams, 1))
	case targetPBA, targetWinRE:
		b.efiPath = string(tlvValue(b.uefiParams, 2))
	case targetErase:
		osBoots = false
		status = d.startEraseLocked()
	}
	if target != targetDefault {
		d.log.Info().Str("target", target).Str("cause", cause).Msg("one-time boot override taken")
		// The options are for one boot: the BIOS clears them and says so.
		delete(d.settings, bootSettings.name)
		d.setBootValue("OptionsCleared", "true")
		d.setBootValue("BIOSLastStatus", status...)
		b.source, b.armed, b.uefiParams, b.rsePassword = "", false, nil, ""
	}
	d.changed()
	return osBoots
}

func bootClasses() []*class {
	caps := amtClass("AMT_BootCapabilities")
	caps.list = func(d *Device) []*soap.Instance { return []*soap.Instance{bootCapabilities(d)} }

	setting := amtClass("AMT_BootSettingData")
	setting.list = func(d *Device) []*soap.Instance { return []*soap.Instance{bootSettingInstance(d)} }
	setting.put = putBootSetting

	svc := cimClass("CIM_BootService")
	svc.list = func(d *Device) []*soap.Instance {
		st := strconv.Itoa(d.bootServiceState())
		return []*soap.Instance{service("CIM_BootService", bootServiceNm, soap.P("EnabledState", st),
			soap.P("RequestedState", st))}
	}
	svc.methods = map[string]method{
		"RequestStateChange": {params: []string{"RequestedState", "TimeoutPeriod"}, run: bootServiceStateChange},
		"SetBootConfigRole":  {params: []string{"BootConfigSetting", "Role"}, run: setBootConfigRole},
	}

	src := cimClass("CIM_BootSourceSetting")
	src.list = bootSources

	cfg := cimClass("CIM_BootConfigSetting")
	cfg.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{{Class: "CIM_BootConfigSetting", Props: []soap.Prop{
			soap.P("ElementName", "Intel(r) AMT: Boot Configuration"), soap.P("InstanceID", bootConfigID)}}}
	}
	cfg.methods = map[string]method{"ChangeBootOrder": {params: []string{"Source"}, run: changeBootOrder}}
	return []*class{caps, setting, svc, src, cfg}
}

// bootCapabilities: what the firmware offers; One-Click Recovery sources from CSME 15, Remote Platform Erase
// from 16 (§1.3, §2.1). Fields of newer firmware are absent on older firmware.
func bootCapabilities(d *Device) *soap.Instance {
	m := d.major()
	b := func(v bool) string { return strconv.FormatBool(v) }
	props := []soap.Prop{
		soap.P("AMTSecureBootControl", b(m >= 15)),
		soap.P("BIOSPause", "false"), soap.P("BIOSReflash", "true"), soap.P("BIOSSecureBoot", "true"),
		soap.P("BIOSSetup", "true"), soap.P("ConfigurationDataReset", b(m >= 16)),
		soap.P("ElementName", "Intel(r) AMT: Boot Capabilities"),
		soap.P("ForceCDorDVDBoot", "true"), soap.P("ForceDiagnosticBoot", "false"),
		soap.P("ForceHardDriveBoot", "true"), soap.P("ForceHardDriveSafeModeBoot", "false"),
		soap.P("ForcePXEBoot", "true"), soap.P("ForceUEFIHTTPSBoot", b(m >= 15)), soap.P("ForceUEFIPBABoot", b(m >= 15)),
		soap.P("ForceWinREBoot", b(m >= 15)), soap.P("ForcedProgressEvents", "true"), soap.P("IDER", "true"),
		soap.P("InstanceID", "Intel(r) AMT:BootCapabilities 0"), soap.P("KeyboardLock", "true"),
	}
	if mask := eraseMask(m); mask != 0 {
		props = append(props, soap.P("PlatformErase", strconv.Itoa(mask)))
	}
	props = append(props, soap.P("PowerButtonLock", "false"), soap.P("ResetButtonLock", "false"), soap.P("SOL", "true"),
		soap.P("SecureErase", "false"), soap.P("SleepButtonLock", "false"), soap.P("UserPasswordBypass", "true"))
	if m < 15 { // the OCR fields do not exist before CSME 15
		props = deleteWhere(props, func(p soap.Prop) bool {
			return strings.HasPrefix(p.Name, "ForceUEFI") || p.Name == "ForceWinREBoot" || p.Name == "AMTSecureBootControl"
		})
	}
	return &soap.Instance{Class: "AMT_BootCapabilities", Props: props}
}

// bootSettingInstance renders AMT_BootSettingData without its write-only array and without fields the firmware
// version does not have.
func bootSettingInstance(d *Device) *soap.Instance {
	in := d.settingsInstance(bootSettings)
	m := d.major()
	in.Props = deleteWhere(in.Props, func(p soap.Prop) bool {
		switch p.Name {
		case "UefiBootParametersArray":
			return true
		case "PlatformErase", "RPEEnabled":
			return m < 16
		case "SecureBootControlEnabled", "UEFIHTTPSBootEnabled", "UEFILocalPBABootEnabled", "WinREBootEnabled":
			return m < 15
		}
		return false
	})
	return in
}

// putBootSetting stores the flags; the password and UEFI parameters are write-only, and a new Put means the
// options are no longer cleared and the BIOS has not acted on them yet.
func putBootSetting(c *call, _ *soap.Instance, body *soap.Node) (*soap.Instance, *soap.Fault) {
	d := c.d
	if d.major() < 16 && body.Child("PlatformErase").Value() == "true" {
		return nil, soap.InvalidRepresentation("PlatformErase is not supported by this firmware")
	}
	params, err := parseTLVs(body.Child("UefiBootParametersArray").Value())
	if err != nil {
		return nil, soap.InvalidRepresentation("UefiBootParametersArray: " + err.Error())
	}
	if n := body.Child("UefiBootNumberOfParams").Value(); n != "" && n != strconv.Itoa(len(params)) {
		return nil, soap.InvalidRepresentation("UefiBootNumberOfParams does not match UefiBootParametersArray")
	}
	if d.boot.source != "" && (body.Child("BIOSSetup").Value() == "true" || body.Child("UseIDER").Value() == "true") {
		return nil, soap.InvalidRepresentation("BIOSSetup and UseIDER need the boot source cleared first")
	}
	if f := d.putSettings(bootSettings, body); f != nil {
		return nil, f
	}
	d.boot.uefiParams, d.boot.rsePassword = params, d.value(bootSettings, "RSEPassword")[0]
	d.setBootValue("RSEPassword", "")
	d.setBootValue("UefiBootParametersArray", "")
	d.setBootValue("OptionsCleared", "false")
	d.setBootValue("BIOSLastStatus", "2", "0") // not updated
	return bootSettingInstance(d), nil
}

// bootSources: hard drive, CD/DVD and PXE always; the OCR sources (HTTPS boot and the BIOS's UEFI boot options
// PBA and WinRE) from CSME 15.
func bootSources(d *Device) []*soap.Instance {
	one := func(id, structured, bios, boot string) *soap.Instance {
		props := []soap.Prop{}
		if bios != "" {
			props = append(props, soap.P("BIOSBootString", bios), soap.P("BootString", boot))
		}
		props = append(props, soap.P("ElementName", "Intel(r) AMT: Boot Source"), soap.P("FailThroughSupported", "2"),
			soap.P("InstanceID", id))
		if structured != "" {
			props = append(props, soap.P("StructuredBootString", structured))
		}
		return &soap.Instance{Class: "CIM_BootSourceSetting", Props: props}
	}
	out := []*soap.Instance{one(srcHardDrive, "CIM:Hard-Disk:1", "", ""), one(srcCDDVD, "CIM:CD/DVD:1", "", ""),
		one(srcPXE, "CIM:Network:1", "", "")}
	if d.major() >= 15 {
		out = append(out, one(srcHTTPS, "", "", ""),
			one(srcOCROption+" 1", "", "PBA: Vendor PBA", `\EFI\Vendor\PBA.efi`),
			one(srcOCROption+" 2", "", "WinRe: Windows Recovery", `\EFI\Microsoft\Boot\winre.efi`))
	}
	return out
}

func changeBootOrder(c *call, p *params) ([]soap.Prop, int, func()) {
	d := c.d
	if p.in.Child("Source") == nil {
		d.boot.source = ""
		d.changed()
		return nil, bootOK, nil
	}
	ref := p.ref("Source")
	if p.failed() {
		return nil, 0, nil
	}
	id := selectorValue(ref, "InstanceID")
	found := false
	for _, s := range bootSources(d) {
		found = found || s.Prop("InstanceID").Values[0] == id
	}
	switch {
	case !found || ref.ResourceURI != soap.CIMPrefix+"CIM_BootSourceSetting":
		return nil, bootInvalidRef, nil
	case d.bootFlag("BIOSSetup") || d.bootFlag("UseIDER"):
		return nil, bootInvalidParam, nil // a source excludes BIOS setup and IDE-R boots (§0.3)
	case (id == srcHTTPS || strings.HasPrefix(id, srcOCROption)) && !d.ocrEnabled():
		return nil, bootAccessDenied, nil // One-Click Recovery is off in CIM_BootService
	}
	d.boot.source = id
	d.changed()
	return nil, bootOK, nil
}

func setBootConfigRole(c *call, p *params) ([]soap.Prop, int, func()) {
	ref, role := p.ref("BootConfigSetting"), p.int("Role")
	if p.failed() {
		return nil, 0, nil
	}
	if selectorValue(ref, "InstanceID") != bootConfigID {
		return nil, bootInvalidRef, nil
	}
	if role != 0 && role != 1 {
		return nil, bootInvalidParam, nil
	}
	c.d.boot.armed = true
	c.d.changed()
	return nil, bootOK, nil
}

// bootServiceStateChange enables or disables One-Click Recovery and Remote Platform Erase (32768–32771).
func bootServiceStateChange(c *call, p *params) ([]soap.Prop, int, func()) {
	st := p.int("RequestedState")
	if p.failed() {
		return nil, 0, nil
	}
	bits := st - stateOCRRPEOff
	switch {
	case bits < 0 || bits > 3:
		return nil, rscInvalidParameter, nil
	case bits&bitOCR != 0 && c.d.major() < 15, bits&bitRPE != 0 && c.d.major() < 16:
		return nil, rscNotSupported, nil
	}
	c.d.boot.serviceState = st
	c.d.changed()
	return nil, 0, nil
}
