package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// The MPS answers of protocol-cira-wsman §11.2, rendered from dmtclient/amt's decoded values. Property names are
// AMT's (the amt types use them as Go field names). MPS echoes AMT's SOAP header; dmtclient/amt does not keep
// it, so the header here names the action and resource only.

const (
	anonymousTo = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	getResponse = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse"
)

func header(resourceURI string) map[string]string {
	return map[string]string{"To": anonymousTo, "Action": getResponse, "ResourceURI": resourceURI}
}

// renderGeneralSettings: {"Header": {…}, "Body": {AMT_GeneralSettings properties}}.
func renderGeneralSettings(gs amt.GeneralSettings) map[string]any {
	return map[string]any{"Header": header(wsman.AMT("AMT_GeneralSettings")), "Body": gs}
}

// renderVersion: CIM_SoftwareIdentity as a list and AMT_SetupAndConfigurationService as a Get answer.
func renderVersion(v amt.Version) map[string]any {
	sw := v.Software
	if sw == nil {
		sw = []amt.SoftwareIdentity{}
	}
	return map[string]any{
		"CIM_SoftwareIdentity": map[string]any{"responses": sw, "status": 200},
		"AMT_SetupAndConfigurationService": map[string]any{
			"response": v.Setup,
			"responses": map[string]any{
				"Header": header(wsman.AMT("AMT_SetupAndConfigurationService")),
				"Body":   map[string]any{"AMT_SetupAndConfigurationService": v.Setup},
			},
			"status": 200,
		},
	}
}

// renderHardware: one entry per CIM class MPS reports, {response} for single instances, {responses: […]} for
// enumerations, status 400 for what was not read or came back empty (MPS does the same for a class AMT did not
// answer). CIM_PhysicalPackage and CIM_SystemPackaging list what AMT's enumerations of them answer: CIM_Card and
// CIM_ComputerSystemPackage items.
func renderHardware(hw amt.Hardware) map[string]any {
	one := func(v any, present bool) map[string]any {
		if !present {
			return map[string]any{"responses": []any{}, "status": 400}
		}
		return map[string]any{"response": v, "status": 200}
	}
	board := hw.BaseBoard != amt.PhysicalPackage{}
	x := hw.Extra
	return map[string]any{
		"CIM_ComputerSystemPackage": one(hw.SystemPackage, hw.SystemPackage.PlatformGUID != ""),
		"CIM_Chassis":               one(hw.Chassis, hw.Chassis != amt.PhysicalPackage{}),
		"CIM_Card":                  one(hw.BaseBoard, board),
		"CIM_BIOSElement":           one(hw.BIOS, hw.BIOS != amt.BIOSElement{}),
		"CIM_Processor":             list(hw.Processors),
		"CIM_PhysicalMemory":        list(hw.Memory),
		"CIM_PhysicalPackage":       list(x.PhysicalPackages),
		"CIM_SystemPackaging":       list(x.SystemPackaging),
		"CIM_Chip":                  list(x.Chips),
		"CIM_MediaAccessDevice":     list(x.MediaAccessDevices),
	}
}

// list renders an enumerated class: its items with status 200, or status 400 when there are none.
func list[T any](items []T) map[string]any {
	if len(items) == 0 {
		return map[string]any{"responses": []any{}, "status": 400}
	}
	return map[string]any{"responses": items, "status": 200}
}

// capability is one entry of MPS's power capabilities object; the order is MPS's.
type capability struct {
	name  string
	value int
}

type capabilities []capability

// MarshalJSON keeps MPS's key order (a Go map would sort it).
func (cs capabilities) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(c.name)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(c.value))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// powerCaps is MPS's GET /amt/power/capabilities (protocol-cira-wsman §11.2): the basic actions, the soft ones
// from AMT major version 10, BIOS and secure-erase targets by boot capability, IDE-R, diagnostics, PXE.
func powerCaps(v amt.Version, bc amt.BootCapabilities) capabilities {
	cs := capabilities{{"Power up", 2}, {"Power cycle", 5}, {"Power down", 8}, {"Reset", 10}}
	if major, _ := strconv.Atoi(strings.SplitN(v.Get("AMT"), ".", 2)[0]); major > 9 {
		cs = append(cs, capability{"Soft-off", 12}, capability{"Soft-reset", 14}, capability{"Sleep", 4},
			capability{"Hibernate", 7})
	}
	if bc.BIOSSetup {
		cs = append(cs, capability{"Power up to BIOS", 100}, capability{"Reset to BIOS", 101})
	}
	if bc.SecureErase {
		cs = append(cs, capability{"Reset to Secure Erase", 104})
	}
	cs = append(cs, capability{"Reset to IDE-R Floppy", 200}, capability{"Power on to IDE-R Floppy", 201},
		capability{"Reset to IDE-R CDROM", 202}, capability{"Power on to IDE-R CDROM", 203})
	if bc.ForceDiagnosticBoot {
		cs = append(cs, capability{"Power on to diagnostic", 300}, capability{"Reset to diagnostic", 301})
	}
	return append(cs, capability{"Reset to PXE", 400}, capability{"Power on to PXE", 401})
}
