package amtsim

import (
	"strconv"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// The classes below are what RPS reads and writes around an activation besides the
// provisioning itself: unconfiguration, wired network and features (protocol-rps-
// activation §2.6–2.8). The simulated device has one wired port, no WiFi, no 802.1x,
// no TLS and no proxies, so most of them are read-only or empty.
var (
	ethernetPort = &settingsClass{name: "AMT_EthernetPortSettings", fields: []field{
		{name: "DHCPEnabled", kind: kindBool, writable: true, def: str("true")},
		{name: "DefaultGateway", kind: kindString, writable: true, max: 45, def: none},
		{name: "ElementName", kind: kindString, def: str("Intel(r) AMT Ethernet Port Settings")},
		{name: "IPAddress", kind: kindString, writable: true, max: 45, def: none},
		{name: "InstanceID", kind: kindString, def: str("Intel(r) AMT Ethernet Port Settings 0")},
		{name: "IpSyncEnabled", kind: kindBool, writable: true, def: str("true")},
		{name: "LinkIsUp", kind: kindBool, def: str("true")},
		// LinkPolicy: up to four entries, each 1 (S0 AC), 14 (Sx AC), 16 (S0 DC) or 224 (Sx DC).
		{name: "LinkPolicy", kind: kindUint, writable: true, multi: true, max: 4, allowed: []string{"1", "14", "16", "224"},
			def: func(*Device) []string { return []string{"1", "14", "16"} }},
		{name: "MACAddress", kind: kindString, def: func(d *Device) []string { return []string{macAddress(d)} }},
		{name: "PhysicalConnectionType", kind: kindUint, def: str("0")},
		{name: "PrimaryDNS", kind: kindString, writable: true, max: 45, def: none},
		{name: "SecondaryDNS", kind: kindString, writable: true, max: 45, def: none},
		{name: "SharedDynamicIP", kind: kindBool, writable: true, def: str("true")},
		{name: "SharedMAC", kind: kindBool, def: str("true")},
		{name: "SharedStaticIp", kind: kindBool, writable: true, def: str("false")},
		{name: "SubnetMask", kind: kindString, writable: true, max: 45, def: none},
	}}

	redirection = &settingsClass{name: "AMT_RedirectionService", fields: []field{
		{name: "AccessLog", kind: kindString, multi: true, max: 0, def: none},
		{name: "CreationClassName", kind: kindString, def: str("AMT_RedirectionService")},
		{name: "ElementName", kind: kindString, def: str("Intel(r) AMT Redirection Service")},
		{name: "EnabledState", kind: kindUint, def: str("32768")},
		{name: "ListenerEnabled", kind: kindBool, writable: true, def: str("false")},
		{name: "Name", kind: kindString, def: str("Intel(r) AMT Redirection Service")},
		{name: "SystemCreationClassName", kind: kindString, def: str("CIM_ComputerSystem")},
		{name: "SystemName", kind: kindString, def: str("Intel(r) AMT")},
	}}

	optIn = &settingsClass{name: "IPS_OptInService", fields: []field{
		{name: "CanModifyOptInPolicy", kind: kindUint, def: str("1")},
		{name: "CreationClassName", kind: kindString, def: str("IPS_OptInService")},
		{name: "ElementName", kind: kindString, def: str("Intel(r) AMT OptIn Service")},
		{name: "Name", kind: kindString, def: str("Intel(r) AMT OptIn Service")},
		{name: "OptInCodeTimeout", kind: kindUint, writable: true, max: 900, def: str("120")},
		{name: "OptInDisplayTimeout", kind: kindUint, writable: true, max: 65535, def: str("300")},
		{name: "OptInRequired", kind: kindUint, writable: true, def: str("4294967295")},
		{name: "OptInState", kind: kindUint, def: str("0")},
		{name: "SystemCreationClassName", kind: kindString, def: str("CIM_ComputerSystem")},
		{name: "SystemName", kind: kindString, def: str("Intel(r) AMT")},
	}}

	kvm = &settingsClass{name: "CIM_KVMRedirectionSAP", fields: []field{
		{name: "CreationClassName", kind: kindString, def: str("CIM_KVMRedirectionSAP")},
		{name: "ElementName", kind: kindString, def: str("KVM Redirection Service Access Point")},
		{name: "EnabledState", kind: kindUint, def: str("3")},
		{name: "KVMProtocol", kind: kindUint, def: str("4")},
		{name: "Name", kind: kindString, def: str("KVM Redirection Service Access Point")},
		{name: "RequestedState", kind: kindUint, def: str("5")},
		{name: "SystemCreationClassName", kind: kindString, def: str("CIM_ComputerSystem")},
		{name: "SystemName", kind: kindString, def: str("ManagedSystem")},
	}}
)

// macAddress derives a stable locally administered MAC from the GUID.
func macAddress(d *Device) string {
	g := d.guid
	const hexdig = "0123456789abcdef"
	b := []byte{0x02, g[11], g[12], g[13], g[14], g[15]}
	out := make([]byte, 0, 17)
	for i, c := range b {
		if i > 0 {
			out = append(out, '-')
		}
		out = append(out, hexdig[c>>4], hexdig[c&15])
	}
	return string(out)
}

// setValue changes one field outside Put (state changes made by methods).
func (d *Device) setValue(sc *settingsClass, name, v string) {
	obj := append(settingsObj(nil), d.values(sc)...)
	obj[fieldIndex(sc, name)] = []string{v}
	if d.settings == nil {
		d.settings = map[string]settingsObj{}
	}
	d.settings[sc.name] = obj
	d.changed()
}

// settingsGetPut makes a Get/Put class over a settings class; check, if set, vets a
// Put before it is stored.
func settingsGetPut(cl *class, sc *settingsClass, check func(d *Device, body *soap.Node) *soap.Fault) *class {
	cl.list = func(d *Device) []*soap.Instance { return []*soap.Instance{d.settingsInstance(sc)} }
	cl.put = func(c *call, _ *soap.Instance, body *soap.Node) (*soap.Instance, *soap.Fault) {
		if check != nil {
			if f := check(c.d, body); f != nil {
				return nil, f
			}
		}
		if f := c.d.putSettings(sc, body); f != nil {
			return nil, f
		}
		return c.d.settingsInstance(sc), nil
	}
	return cl
}

func emptyClass(cl *class) *class {
	cl.list = func(*Device) []*soap.Instance { return nil }
	return cl
}

func configClasses() []*class {
	eth := settingsGetPut(amtClass("AMT_EthernetPortSettings"), ethernetPort, nil)

	redir := settingsGetPut(amtClass("AMT_RedirectionService"), redirection, nil)
	redir.methods = map[string]method{"RequestStateChange": {params: []string{"RequestedState", "TimeoutPeriod"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			s := p.int("RequestedState")
			if p.failed() {
				return nil, 0, nil
			}
			// 32768 none, 32769 IDER, 32770 SOL, 32771 both (§7.12).
			if s < 32768 || s > 32771 {
				return nil, cimInvalidArg, nil
			}
			c.d.setValue(redirection, "EnabledState", strconv.Itoa(s))
			return nil, ptSuccess, nil
		}}}

	// CCM always requires user consent for everything; only ACM may lower it (§2.8).
	opt := settingsGetPut(ipsClass("IPS_OptInService"), optIn, func(d *Device, body *soap.Node) *soap.Fault {
		v := body.Child("OptInRequired").Value()
		if v != "0" && v != "1" && v != "4294967295" {
			return soap.InvalidRepresentation("OptInRequired must be 0, 1 or 4294967295")
		}
		if d.mode != AdminControl && v != "4294967295" {
			return soap.InvalidRepresentation("user consent cannot be lowered in client control mode")
		}
		return nil
	})

	kvmSAP := cimClass("CIM_KVMRedirectionSAP")
	kvmSAP.list = func(d *Device) []*soap.Instance { return []*soap.Instance{d.settingsInstance(kvm)} }
	kvmSAP.methods = map[string]method{"RequestStateChange": {params: []string{"RequestedState", "TimeoutPeriod"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			s := p.int("RequestedState")
			if p.failed() {
				return nil, 0, nil
			}
			if s != 2 && s != 3 { // enable / disable
				return nil, cimInvalidArg, nil
			}
			c.d.setValue(kvm, "EnabledState", strconv.Itoa(s))
			c.d.setValue(kvm, "RequestedState", strconv.Itoa(s))
			return nil, ptSuccess, nil
		}}}

	ieee := ipsClass("IPS_IEEE8021xSettings")
	ieee.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{{Class: "IPS_IEEE8021xSettings", Props: []soap.Prop{
			soap.P("ElementName", "Intel(r) AMT: 8021X Settings"), soap.P("Enabled", "3"),
			soap.P("InstanceID", "Intel(r) AMT: 8021X Settings"),
		}}}
	}

	return []*class{eth, redir, opt, kvmSAP, ieee, emptyClass(cimClass("CIM_WiFiEndpointSettings")), emptyClass(ipsClass("IPS_HTTPProxyAccessPoint"))}
}
