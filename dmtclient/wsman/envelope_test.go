package wsman

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// docEnvelope fills the request template of protocol-rps-activation §7.8 (line breaks removed, MessageID N).
func docEnvelope(action, resource, selectors, body string) string {
	const tmpl = `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">` +
		`<Header><a:Action>{ACTION}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{RESOURCE}</w:ResourceURI><a:MessageID>{N}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>{SELECTORS}</Header>` +
		`<Body>{BODY}</Body></Envelope>`
	return strings.NewReplacer("{ACTION}", action, "{RESOURCE}", resource, "{N}", "N", "{SELECTORS}", selectors,
		"{BODY}", body).Replace(tmpl)
}

var messageIDRe = regexp.MustCompile(`<a:MessageID>[0-9]+</a:MessageID>`)

func normaliseID(s string) string {
	return messageIDRe.ReplaceAllString(s, "<a:MessageID>N</a:MessageID>")
}

func TestEncodeMatchesDocVectors(t *testing.T) {
	const envDetect = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_EnvironmentDetectionSettingData"
	tests := []struct {
		name      string
		req       Request
		selectors string
		body      string
	}{
		{
			name: "GeneralSettings Get",
			req:  Request{Action: ActionGet, ResourceURI: AMT("AMT_GeneralSettings")},
		},
		{
			name: "HBS Get",
			req:  Request{Action: ActionGet, ResourceURI: IPS("IPS_HostBasedSetupService")},
		},
		{
			name: "Enumerate",
			req:  Request{Action: ActionEnumerate, ResourceURI: CIM("CIM_ServiceAvailableToElement"), Body: EnumerateBody},
			body: `<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" />`,
		},
		{
			name: "Pull",
			req: Request{Action: ActionPull, ResourceURI: CIM("CIM_ServiceAvailableToElement"),
				Body: PullBody("5E1A0000-0000-0000-0000-000000000000")},
			body: `<Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>5E1A0000-0000-0000-0000-000000000000</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull>`,
		},
		{
			name: "PolicyRule Delete",
			req: Request{Action: ActionDelete, ResourceURI: AMT("AMT_RemoteAccessPolicyRule"),
				Selectors: []Selector{{Name: "PolicyRuleName", Value: "Periodic"}}},
			selectors: `<w:SelectorSet><w:Selector Name="PolicyRuleName">Periodic</w:Selector></w:SelectorSet>`,
		},
		{
			name: "EnvironmentDetection Put",
			req: Request{Action: ActionPut, ResourceURI: envDetect,
				Selectors: []Selector{{Name: "InstanceID", Value: "Intel(r) AMT Environment Detection Settings"}},
				Body: InstanceBody(envDetect,
					Text("ElementName", "Intel(r) AMT Environment Detection Settings"),
					Text("InstanceID", "Intel(r) AMT Environment Detection Settings"),
					Int("DetectionAlgorithm", 0),
					Text("DetectionStrings", "x.com"))},
			selectors: `<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT Environment Detection Settings</w:Selector></w:SelectorSet>`,
			body:      `<h:AMT_EnvironmentDetectionSettingData xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_EnvironmentDetectionSettingData"><h:ElementName>Intel(r) AMT Environment Detection Settings</h:ElementName><h:InstanceID>Intel(r) AMT Environment Detection Settings</h:InstanceID><h:DetectionAlgorithm>0</h:DetectionAlgorithm><h:DetectionStrings>x.com</h:DetectionStrings></h:AMT_EnvironmentDetectionSettingData>`,
		},
		{
			name: "Setup",
			req: Request{
				Action:      "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService/Setup",
				ResourceURI: IPS("IPS_HostBasedSetupService"),
				Body: MethodBody(IPS("IPS_HostBasedSetupService"), "Setup",
					Int("NetAdminPassEncryptionType", 2), Text("NetworkAdminPassword", "9b1c5fcea64021977b23a5751913d07a")),
			},
			body: `<h:Setup_INPUT xmlns:h="http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"><h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>9b1c5fcea64021977b23a5751913d07a</h:NetworkAdminPassword></h:Setup_INPUT>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.req.Encode(7))
			require.Equal(t, docEnvelope(tt.req.Action, tt.req.ResourceURI, tt.selectors, tt.body), normaliseID(got))
			require.Contains(t, got, "<a:MessageID>7</a:MessageID>")
		})
	}
}

// §9.1: the Enumerate of CIM_ServiceAvailableToElement with MessageID 0 is 815 bytes.
func TestEncodeEnumerateSize(t *testing.T) {
	req := Request{Action: ActionEnumerate, ResourceURI: CIM("CIM_ServiceAvailableToElement"), Body: EnumerateBody}
	require.Len(t, req.Encode(0), 815)
}

// §10.3: the RequestPowerStateChange body with a ManagedElement EPR, byte for byte.
func TestMethodBodyWithEPR(t *testing.T) {
	uri := CIM("CIM_PowerManagementService")
	got := MethodBody(uri, "RequestPowerStateChange", Int("PowerState", 8), Ref("ManagedElement", EPR{
		Address:     NSAddressing,
		ResourceURI: CIM("CIM_ComputerSystem"),
		Selectors:   []Selector{{Name: "CreationClassName", Value: "CIM_ComputerSystem"}, {Name: "Name", Value: "ManagedSystem"}},
	}))
	const want = `<h:RequestPowerStateChange_INPUT xmlns:h="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService"><h:PowerState>8</h:PowerState><h:ManagedElement><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="CreationClassName">CIM_ComputerSystem</Selector><Selector Name="Name">ManagedSystem</Selector></SelectorSet></ReferenceParameters></h:ManagedElement></h:RequestPowerStateChange_INPUT>`
	require.Equal(t, want, got)
}

func TestSelectorWithEPR(t *testing.T) {
	req := Request{Action: ActionPut, ResourceURI: AMT("AMT_RemoteAccessPolicyAppliesToMPS"), Selectors: []Selector{{
		Name: "PolicySet",
		EPR: &EPR{Address: AddressAnonymous, ResourceURI: AMT("AMT_RemoteAccessPolicyRule"),
			Selectors: []Selector{{Name: "PolicyRuleName", Value: "Periodic"}}},
	}}}
	require.Contains(t, string(req.Encode(1)), `<w:SelectorSet><w:Selector Name="PolicySet"><EndpointReference xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RemoteAccessPolicyRule</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="PolicyRuleName">Periodic</Selector></SelectorSet></ReferenceParameters></EndpointReference></w:Selector></w:SelectorSet>`)
}

func TestEscaping(t *testing.T) {
	got := MethodBody(AMT("AMT_SetupAndConfigurationService"), "SetMEBxPassword", Text("Password", "a<b&c>\"d\x00"))
	require.Contains(t, got, "<h:Password>a&lt;b&amp;c&gt;\"d\uFFFD</h:Password>")
	var b strings.Builder
	escapeAttr(&b, "x\"y\n")
	require.Equal(t, "x&quot;y&#xa;", b.String())
}
