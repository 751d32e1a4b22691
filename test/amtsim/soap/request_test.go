package soap

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// envelope builds the exact request XML of protocol-rps-activation §7.8.
func envelope(action, resource, id, selectors, body string) string {
	return `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">` +
		`<Header><a:Action>` + action + `</a:Action><a:To>/wsman</a:To><w:ResourceURI>` + resource + `</w:ResourceURI><a:MessageID>` + id +
		`</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>` +
		selectors + `</Header><Body>` + body + `</Body></Envelope>`
}

const policyRuleBody = `<h:AddRemoteAccessPolicyRule_INPUT xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RemoteAccessService"><h:Trigger>2</h:Trigger><h:TunnelLifeTime>0</h:TunnelLifeTime><h:ExtendedData>AAAAAAAAABk=</h:ExtendedData><h:MpServer><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://intel.com/wbem/wscim/1/amt-schema/1/AMT_ManagementPresenceRemoteSAP</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="Name">Intel(r) AMT:Management Presence Server 0</Selector></SelectorSet></ReferenceParameters></h:MpServer></h:AddRemoteAccessPolicyRule_INPUT>`

func TestParseRequestDocVectors(t *testing.T) {
	const ras = AMTPrefix + "AMT_RemoteAccessService"
	req, f := ParseRequest([]byte(envelope(ras+"/AddRemoteAccessPolicyRule", ras, "7", "", policyRuleBody)))
	require.Nil(t, f)
	require.Equal(t, "7", req.MessageID)
	require.Equal(t, ras, req.ResourceURI)
	require.Equal(t, "AddRemoteAccessPolicyRule_INPUT", req.Body.Local)
	require.Equal(t, ras, req.Body.Space)
	epr := ParseEPR(req.Body.Child("MpServer"))
	require.NotNil(t, epr)
	require.Equal(t, AMTPrefix+"AMT_ManagementPresenceRemoteSAP", epr.ResourceURI)
	require.Equal(t, []Selector{{Name: "Name", Value: "Intel(r) AMT:Management Presence Server 0"}}, epr.Selectors)

	sel := `<w:SelectorSet><w:Selector Name="PolicyRuleName">Periodic</w:Selector></w:SelectorSet>`
	req, f = ParseRequest([]byte(envelope(ActionDelete, AMTPrefix+"AMT_RemoteAccessPolicyRule", "3", sel, "")))
	require.Nil(t, f)
	require.Nil(t, req.Body)
	require.Equal(t, []Selector{{Name: "PolicyRuleName", Value: "Periodic"}}, req.Selectors)
}

func TestParseRequestFaults(t *testing.T) {
	const get = ActionGet
	const uri = AMTPrefix + "AMT_GeneralSettings"
	ok := envelope(get, uri, "1", "", "")
	tests := []struct {
		name string
		xml  string
		sub  string
	}{
		{"not xml", "hello", "SchemaValidationError"},
		{"soap 1.1", strings.Replace(ok, "http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/", 1), "SchemaValidationError"},
		{"no action", strings.Replace(ok, "<a:Action>"+get+"</a:Action>", "", 1), "MessageInformationHeaderRequired"},
		{"no message id", strings.Replace(ok, "<a:MessageID>1</a:MessageID>", "", 1), "MessageInformationHeaderRequired"},
		{"no resource uri", strings.Replace(ok, "<w:ResourceURI>"+uri+"</w:ResourceURI>", "", 1), "MessageInformationHeaderRequired"},
		{"reply to not anonymous", strings.Replace(ok, "role/anonymous", "role/none", 1), "InvalidMessageInformationHeader"},
		{"bad to", strings.Replace(ok, "<a:To>/wsman</a:To>", "<a:To>/other</a:To>", 1), "DestinationUnreachable"},
		{"duplicate selector", envelope(get, uri, "1", `<w:SelectorSet><w:Selector Name="a">1</w:Selector><w:Selector Name="a">2</w:Selector></w:SelectorSet>`, ""), "InvalidSelectors"},
		{"two body elements", envelope(get, uri, "1", "", "<x/><y/>"), "SchemaValidationError"},
		{"dtd", `<!DOCTYPE x [<!ENTITY a "b">]>` + ok, "SchemaValidationError"},
		{"trailing element", ok + "<x/>", "SchemaValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f := ParseRequest([]byte(tt.xml))
			require.NotNil(t, f)
			require.Equal(t, tt.sub, f.Sub)
		})
	}
}

func TestMustUnderstandUnknownHeader(t *testing.T) {
	xml := strings.Replace(envelope(ActionGet, AMTPrefix+"AMT_GeneralSettings", "1", "", ""),
		"<w:OperationTimeout>", `<w:Locale xmlns:s="http://www.w3.org/2003/05/soap-envelope" s:mustUnderstand="true">en</w:Locale><w:OperationTimeout>`, 1)
	_, f := ParseRequest([]byte(xml))
	require.NotNil(t, f)
	require.Equal(t, "MustUnderstand", f.Code)
}

func TestAppendFaultShape(t *testing.T) {
	out := string(AppendFault(nil, "5", "uuid:00000000-8086-8086-8086-000000000001", DestinationUnreachable(DetailInvalidResourceURI)))
	require.Contains(t, out, `<a:Value>a:Sender</a:Value><a:Subcode><a:Value>b:DestinationUnreachable</a:Value></a:Subcode>`)
	require.Contains(t, out, `<b:RelatesTo>5</b:RelatesTo>`)
	require.Contains(t, out, `<b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</b:Action>`)
	root, err := ParseTree([]byte(out))
	require.NoError(t, err)
	require.Equal(t, NSEnvelope, root.Space)
}

func FuzzParseRequest(f *testing.F) {
	const ras = AMTPrefix + "AMT_RemoteAccessService"
	f.Add([]byte(envelope(ras+"/AddRemoteAccessPolicyRule", ras, "7", "", policyRuleBody)))
	f.Add([]byte(envelope(ActionPull, CIMPrefix+"CIM_ServiceAvailableToElement", "2", "",
		`<Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>01000000-0000-0000-0000-000000000000</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull>`)))
	f.Add([]byte(envelope(ActionDelete, AMTPrefix+"AMT_RemoteAccessPolicyRule", "3",
		`<w:SelectorSet><w:Selector Name="PolicyRuleName">Periodic</w:Selector></w:SelectorSet>`, "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, fault := ParseRequest(data)
		if req == nil {
			t.Fatal("nil request")
		}
		if fault == nil && (req.Action == "" || req.ResourceURI == "" || req.MessageID == "") {
			t.Fatal("accepted a request without required headers")
		}
		if fault != nil {
			_ = AppendFault(nil, req.MessageID, "x", fault)
		}
	})
}

func TestEnvelopeMarkupBound(t *testing.T) {
	for _, enum := range []bool{false, true} {
		require.LessOrEqual(t, len(AppendEnvelope(nil, Reply{Enumeration: enum})), envelopeMarkup)
	}
}

func TestElementLenExact(t *testing.T) {
	ref := &EPR{ResourceURI: AMTPrefix + "AMT_PublicKeyCertificate", Selectors: []Selector{
		{Name: "InstanceID", Value: "Intel(r) AMT Certificate: Handle: 0"},
		{Name: "Nested", Value: "ignored", Ref: &EPR{Address: "http://x/wsman", ResourceURI: CIMPrefix + "CIM_Card"}},
	}}
	in := &Instance{Class: "AMT_TLSCredentialContext", Props: []Prop{
		P("ElementName", "a", "bc"), DT("ReleaseDate", "2024-01-01T00:00:00Z"), R("ElementInContext", ref),
		{Name: "Interval", Values: []string{"P1D"}, Wrap: "Interval"}, P("Empty"),
	}}
	for _, prefix := range []string{"g", "h"} {
		require.Len(t, AppendInstance(nil, prefix, in), elementLen(prefix, in.Class, in.Props))
	}
}
