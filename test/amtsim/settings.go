package amtsim

import (
	"slices"
	"strconv"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// Settings classes are plain property bags that Get returns and Put rewrites. Each field
// has a type; read-only fields may be echoed back but not changed; a multi-valued field
// absent from a Put body is cleared (WS-Transfer Put replaces the representation).
type fieldKind int

const (
	kindString fieldKind = iota
	kindBool
	kindUint
)

type field struct {
	name     string
	kind     fieldKind
	writable bool
	multi    bool
	max      int      // string: max length; uint: max value; multi: max entries (strings ≤ 192)
	allowed  []string // when set, the only values a Put may give (a value map)
	def      func(d *Device) []string
}

type settingsClass struct {
	name   string
	fields []field
}

// settingsObj holds one value list per field of its class, in field order.
type settingsObj [][]string

func str(v string) func(*Device) []string { return func(*Device) []string { return []string{v} } }

func none(*Device) []string { return nil }

var (
	generalSettings = &settingsClass{name: "AMT_GeneralSettings", fields: []field{
		{name: "AMTNetworkEnabled", kind: kindUint, writable: true, max: 1, def: str("1")},
		{name: "DDNSPeriodicUpdateInterval", kind: kindUint, writable: true, max: 1 << 31, def: str("1440")},
		{name: "DDNSTTL", kind: kindUint, writable: true, max: 1 << 31, def: str("900")},
		{name: "DDNSUpdateByDHCPServerEnabled", kind: kindBool, writable: true, def: str("true")},
		{name: "DDNSUpdateEnabled", kind: kindBool, writable: true, def: str("false")},
		{name: "DHCPv6ConfigurationTimeout", kind: kindUint, writable: true, max: 1 << 31, def: str("0")},
		{name: "DigestRealm", kind: kindString, def: func(d *Device) []string { return []string{d.realm} }},
		{name: "DomainName", kind: kindString, writable: true, max: 191, def: func(d *Device) []string { return []string{d.suffix} }},
		{name: "ElementName", kind: kindString, def: str("Intel(r) AMT: General Settings")},
		{name: "HostName", kind: kindString, writable: true, max: 63, def: func(d *Device) []string { return []string{d.hostname} }},
		{name: "HostOSFQDN", kind: kindString, writable: true, max: 255, def: str("")},
		{name: "IdleWakeTimeout", kind: kindUint, writable: true, max: 65535, def: str("65535")},
		{name: "InstanceID", kind: kindString, def: str("Intel(r) AMT: General Settings")},
		{name: "NetworkInterfaceEnabled", kind: kindBool, def: str("true")},
		{name: "PingResponseEnabled", kind: kindBool, writable: true, def: str("true")},
		{name: "PowerSource", kind: kindUint, def: str("0")},
		{name: "PreferredAddressFamily", kind: kindUint, writable: true, max: 1, def: str("0")},
		{name: "PresenceNotificationInterval", kind: kindUint, writable: true, max: 65535, def: str("0")},
		{name: "PrivacyLevel", kind: kindUint, def: str("0")},
		{name: "RmcpPingResponseEnabled", kind: kindBool, writable: true, def: str("true")},
		{name: "SharedFQDN", kind: kindBool, writable: true, def: str("true")},
		{name: "WsmanOnlyMode", kind: kindBool, writable: true, def: str("false")},
	}}

	environmentDetection = &settingsClass{name: "AMT_EnvironmentDetectionSettingData", fields: []field{
		{name: "DetectionAlgorithm", kind: kindUint, writable: true, max: 1, def: str("0")},
		{name: "DetectionStrings", kind: kindString, writable: true, multi: true, max: 5, def: none},
		{name: "ElementName", kind: kindString, def: str("Intel(r) AMT Environment Detection Settings")},
		{name: "InstanceID", kind: kindString, def: str("Intel(r) AMT Environment Detection Settings")},
	}}

	bootSettings = &settingsClass{name: "AMT_BootSettingData", fields: []field{
		{name: "BIOSLastStatus", kind: kindUint, multi: true, max: 2, def: func(*Device) []string { return []string{"2", "0"} }},
		{name: "BIOSPause", kind: kindBool, writable: true, def: str("false")},
		{name: "BIOSSetup", kind: kindBool, writable: true, def: str("false")},
		{name: "BootMediaIndex", kind: kindUint, writable: true, max: 65535, def: str("0")},
		{name: "ConfigurationDataReset", kind: kindBool, writable: true, def: str("false")},
		{name: "ElementName", kind: kindString, def: str("Intel(r) AMT Boot Configuration Settings")},
		{name: "EnforceSecureBoot", kind: kindBool, writable: true, def: str("false")},
		{name: "FirmwareVerbosity", kind: kindUint, writable: true, max: 3, def: str("0")},
		{name: "ForcedProgressEvents", kind: kindBool, writable: true, def: str("false")},
		{name: "IDERBootDevice", kind: kindUint, writable: true, max: 1, def: str("0")},
		{name: "InstanceID", kind: kindString, def: str("Intel(r) AMT:BootSettingData 0")},
		{name: "LockKeyboard", kind: kindBool, writable: true, def: str("false")},
		{name: "LockPowerButton", kind: kindBool, writable: true, def: str("false")},
		{name: "LockResetButton", kind: kindBool, writable: true, def: str("false")},
		{name: "LockSleepButton", kind: kindBool, writable: true, def: str("false")},
		{name: "OptionsCleared", kind: kindBool, def: str("false")},
		{name: "OwningEntity", kind: kindString, def: str("Intel(r) AMT")},
		{name: "RSEPassword", kind: kindString, writable: true, max: 32, def: str("")},
		{name: "ReflashBIOS", kind: kindBool, writable: true, def: str("false")},
		{name: "SecureErase", kind: kindBool, writable: true, def: str("false")},
		{name: "UseIDER", kind: kindBool, writable: true, def: str("false")},
		{name: "UseSOL", kind: kindBool, writable: true, def: str("false")},
		{name: "UseSafeMode", kind: kindBool, writable: true, def: str("false")},
		{name: "UserPasswordBypass", kind: kindBool, writable: true, def: str("false")},
	}}
)

// values returns the current values of a settings class (defaults until first Put).
func (d *Device) values(sc *settingsClass) settingsObj {
	if obj, ok := d.settings[sc.name]; ok {
		return obj
	}
	obj := make(settingsObj, len(sc.fields))
	for i, f := range sc.fields {
		obj[i] = f.def(d)
	}
	return obj
}

func (d *Device) value(sc *settingsClass, name string) []string {
	obj := d.values(sc)
	for i, f := range sc.fields {
		if f.name == name {
			return obj[i]
		}
	}
	return nil
}

// settingsInstance renders the current values as a CIM instance.
func (d *Device) settingsInstance(sc *settingsClass) *soap.Instance {
	obj := d.values(sc)
	in := &soap.Instance{Class: sc.name, Props: make([]soap.Prop, 0, len(sc.fields))}
	for i, f := range sc.fields {
		in.Props = append(in.Props, soap.P(f.name, obj[i]...))
	}
	return in
}

// putSettings validates a Put body against the class and stores it.
func (d *Device) putSettings(sc *settingsClass, body *soap.Node) *soap.Fault {
	cur := d.values(sc)
	next := make(settingsObj, len(cur))
	given := make([]bool, len(cur))
	for _, c := range body.Children {
		i := fieldIndex(sc, c.Local)
		if i < 0 || c.Space != body.Space || len(c.Children) > 0 {
			return soap.InvalidRepresentation(sc.name + "." + c.Local + " is not a property")
		}
		f := sc.fields[i]
		if given[i] && !f.multi {
			return soap.InvalidRepresentation(f.name + " given twice")
		}
		given[i] = true
		v := c.Value()
		if !validValue(f, v) {
			return soap.InvalidRepresentation(f.name + " has an invalid value")
		}
		if !f.multi || v != "" {
			next[i] = append(next[i], v)
		}
	}
	for i, f := range sc.fields {
		switch {
		case !f.writable && given[i] && !equalValues(next[i], cur[i]):
			return soap.InvalidRepresentation(f.name + " is read-only")
		case !f.writable || (!given[i] && !f.multi):
			next[i] = cur[i]
		case f.multi && len(next[i]) > f.max:
			return soap.InvalidRepresentation(f.name + " has too many values")
		}
	}
	if d.settings == nil {
		d.settings = map[string]settingsObj{}
	}
	d.settings[sc.name] = next
	d.changed()
	return nil
}

func fieldIndex(sc *settingsClass, name string) int {
	for i, f := range sc.fields {
		if f.name == name {
			return i
		}
	}
	return -1
}

func validValue(f field, v string) bool {
	if f.allowed != nil {
		return slices.Contains(f.allowed, v)
	}
	switch f.kind {
	case kindBool:
		return v == "true" || v == "false"
	case kindUint:
		n, err := strconv.ParseUint(v, 10, 32)
		return err == nil && (f.multi || f.max <= 0 || n <= uint64(f.max))
	default:
		limit := f.max
		if f.multi {
			limit = 192
		}
		return limit == 0 || len(v) <= limit
	}
}

func equalValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
