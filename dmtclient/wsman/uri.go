package wsman

import "strings"

// Namespaces and addresses used in request envelopes (protocol-cira-wsman §9.1).
const (
	NSEnvelope    = "http://www.w3.org/2003/05/soap-envelope"
	NSAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSWSMan       = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NSEnumeration = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"

	// AddressAnonymous is the WS-Addressing anonymous role, used in ReplyTo and most EPRs.
	AddressAnonymous = NSAddressing + "/role/anonymous"
)

// Resource URI prefixes; a class's resource URI is the prefix followed by the class name (§9.1).
const (
	CIMBase = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	AMTBase = "http://intel.com/wbem/wscim/1/amt-schema/1/"
	IPSBase = "http://intel.com/wbem/wscim/1/ips-schema/1/"
)

// Generic actions (§9.1). Method actions are "<resource URI>/<method>".
const (
	ActionGet       = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
	ActionPut       = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put"
	ActionCreate    = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	ActionDelete    = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	ActionEnumerate = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
	ActionPull      = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
)

// CIM returns the resource URI of a DMTF CIM class, e.g. CIM("CIM_Chassis").
func CIM(class string) string { return CIMBase + class }

// AMT returns the resource URI of an Intel AMT class, e.g. AMT("AMT_GeneralSettings").
func AMT(class string) string { return AMTBase + class }

// IPS returns the resource URI of an Intel IPS class, e.g. IPS("IPS_HostBasedSetupService").
func IPS(class string) string { return IPSBase + class }

// ClassOf returns the class name at the end of a resource URI.
func ClassOf(resourceURI string) string {
	return resourceURI[strings.LastIndexByte(resourceURI, '/')+1:]
}
