package wsman

import "strings"

// AMT-style responses built from the facts of protocol-cira-wsman §9.2 and protocol-rps-activation §7.9:
// prefixes a (SOAP), b (addressing), c (wsman), g (class); RelatesTo is filled in per request.
const respHead = `<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`

func amtResponse(relatesTo, action, resourceURI, ns, body string) string {
	return respHead + `<a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>` +
		relatesTo + `</b:RelatesTo><b:Action a:mustUnderstand="true">` + action +
		`</b:Action><b:MessageID>uuid:00000000-8086-8086-8086-000000000042</b:MessageID><c:ResourceURI>` + resourceURI +
		`</c:ResourceURI></a:Header><a:Body>` + strings.ReplaceAll(body, "{NS}", ns) + `</a:Body></a:Envelope>`
}

const generalSettingsBody = `<g:AMT_GeneralSettings xmlns:g="{NS}"><g:AMTNetworkEnabled>1</g:AMTNetworkEnabled><g:DDNSPeriodicUpdateInterval>1440</g:DDNSPeriodicUpdateInterval><g:DDNSTTL>900</g:DDNSTTL><g:DDNSUpdateByDHCPServerEnabled>true</g:DDNSUpdateByDHCPServerEnabled><g:DDNSUpdateEnabled>false</g:DDNSUpdateEnabled><g:DHCPv6ConfigurationTimeout>0</g:DHCPv6ConfigurationTimeout><g:DigestRealm>Digest:F3EB554784E729164447A89F60B641C5</g:DigestRealm><g:DomainName></g:DomainName><g:ElementName>Intel(r) AMT: General Settings</g:ElementName><g:HostName></g:HostName><g:HostOSFQDN></g:HostOSFQDN><g:IdleWakeTimeout>65535</g:IdleWakeTimeout><g:InstanceID>Intel(r) AMT: General Settings</g:InstanceID><g:NetworkInterfaceEnabled>true</g:NetworkInterfaceEnabled><g:PingResponseEnabled>true</g:PingResponseEnabled><g:PowerSource>0</g:PowerSource><g:PreferredAddressFamily>0</g:PreferredAddressFamily><g:PresenceNotificationInterval>0</g:PresenceNotificationInterval><g:PrivacyLevel>0</g:PrivacyLevel><g:RmcpPingResponseEnabled>true</g:RmcpPingResponseEnabled><g:SharedFQDN>true</g:SharedFQDN><g:ThunderboltDockEnabled>0</g:ThunderboltDockEnabled><g:WsmanOnlyMode>false</g:WsmanOnlyMode></g:AMT_GeneralSettings>`

func generalSettingsResponse(relatesTo string) string {
	return amtResponse(relatesTo, "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse",
		AMT("AMT_GeneralSettings"), AMT("AMT_GeneralSettings"), generalSettingsBody)
}

// faultResponse is the §9.2 fault for a Get on a missing instance.
func faultResponse(relatesTo string) string {
	return amtResponse(relatesTo, "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault", "", "",
		`<a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>b:DestinationUnreachable</a:Value></a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">No route can be determined to reach the destination role defined by the WSAddressing To.</a:Text></a:Reason><a:Detail></a:Detail></a:Fault>`)
}

func decodeItems[T any](items []Item) ([]T, error) {
	out := make([]T, len(items))
	for i, it := range items {
		if err := it.Decode(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
