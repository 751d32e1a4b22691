package amt

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

const (
	remoteAccessURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RemoteAccessService"
	sapURI          = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_ManagementPresenceRemoteSAP"
	ruleURI         = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RemoteAccessPolicyRule"
	appliesURI      = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RemoteAccessPolicyAppliesToMPS"
	pkmsURI         = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService"
	certURI         = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	uicsURI         = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_UserInitiatedConnectionService"
	sapName         = "Intel(r) AMT:Management Presence Server 0"
)

func eprXML(tag, resource string, selectors ...[2]string) string {
	s := `<g:` + tag + `><b:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:Address><b:ReferenceParameters><c:ResourceURI>` + resource + `</c:ResourceURI><c:SelectorSet>`
	for _, kv := range selectors {
		s += `<c:Selector Name="` + kv[0] + `">` + kv[1] + `</c:Selector>`
	}
	return s + `</c:SelectorSet></b:ReferenceParameters></g:` + tag + `>`
}

func TestCIRAConfiguration(t *testing.T) {
	root := []byte{0x30, 0x82, 0x03, 0x01}
	c, d := newDevice(t,
		output(pkmsURI, "AddTrustedRootCertificate", eprXML("CreatedCertificate", certURI, [2]string{"InstanceID", "Intel(r) AMT Certificate: Handle: 1"}), 0),
		output(remoteAccessURI, "AddMpServer", eprXML("MpServer", sapURI, [2]string{"Name", sapName}), 0),
		output(remoteAccessURI, "AddRemoteAccessPolicyRule", eprXML("PolicyRule", ruleURI, [2]string{"PolicyRuleName", "Periodic"}), 0),
		output(uicsURI, "RequestStateChange", "", 0),
	)
	id, err := c.AddTrustedRootCertificate(t.Context(), root)
	require.NoError(t, err)
	require.Equal(t, "Intel(r) AMT Certificate: Handle: 1", id)
	d.requireRequest(0, pkmsURI+"/AddTrustedRootCertificate", pkmsURI, "",
		`<h:AddTrustedRootCertificate_INPUT xmlns:h="`+pkmsURI+`"><h:CertificateBlob>`+base64.StdEncoding.EncodeToString(root)+`</h:CertificateBlob></h:AddTrustedRootCertificate_INPUT>`)

	mps, err := c.AddMpServer(t.Context(), MPServer{AccessInfo: "mps.example.com", InfoFormat: MPSInfoFormatFQDN, Port: 4433,
		AuthMethod: MPSAuthUserPass, Username: "admin", Password: "Secr3t!pass"})
	require.NoError(t, err)
	require.Equal(t, sapName, mps.Selector("Name"))
	d.requireRequest(1, remoteAccessURI+"/AddMpServer", remoteAccessURI, "",
		`<h:AddMpServer_INPUT xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RemoteAccessService"><h:AccessInfo>mps.example.com</h:AccessInfo><h:InfoFormat>201</h:InfoFormat><h:Port>4433</h:Port><h:AuthMethod>2</h:AuthMethod><h:Username>admin</h:Username><h:Password>Secr3t!pass</h:Password><h:CN></h:CN></h:AddMpServer_INPUT>`)

	rule, err := c.AddRemoteAccessPolicyRule(t.Context(), PolicyRule{Trigger: TriggerPeriodic, ExtendedData: PeriodicInterval(25), MpServerName: sapName})
	require.NoError(t, err)
	require.Equal(t, "Periodic", rule.Selector("PolicyRuleName"))
	// §7.8, byte for byte.
	d.requireRequest(2, remoteAccessURI+"/AddRemoteAccessPolicyRule", remoteAccessURI, "",
		`<h:AddRemoteAccessPolicyRule_INPUT xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RemoteAccessService"><h:Trigger>2</h:Trigger><h:TunnelLifeTime>0</h:TunnelLifeTime><h:ExtendedData>AAAAAAAAABk=</h:ExtendedData><h:MpServer><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://intel.com/wbem/wscim/1/amt-schema/1/AMT_ManagementPresenceRemoteSAP</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="Name">Intel(r) AMT:Management Presence Server 0</Selector></SelectorSet></ReferenceParameters></h:MpServer></h:AddRemoteAccessPolicyRule_INPUT>`)

	require.NoError(t, c.SetUserInitiatedConnection(t.Context(), UserInitiatedBIOSAndOS))
	d.requireRequest(3, uicsURI+"/RequestStateChange", uicsURI, "",
		`<h:RequestStateChange_INPUT xmlns:h="`+uicsURI+`"><h:RequestedState>32771</h:RequestedState></h:RequestStateChange_INPUT>`)
}

func TestUserInitiatedRuleHasEmptyExtendedData(t *testing.T) {
	c, d := newDevice(t, output(remoteAccessURI, "AddRemoteAccessPolicyRule", "", 0))
	_, err := c.AddRemoteAccessPolicyRule(t.Context(), PolicyRule{Trigger: TriggerUserInitiated, TunnelLifeTime: 300, MpServerName: sapName})
	require.NoError(t, err)
	require.Contains(t, d.requests[0], `<h:Trigger>0</h:Trigger><h:TunnelLifeTime>300</h:TunnelLifeTime><h:ExtendedData></h:ExtendedData>`)
}

func TestPolicyAppliesToMPS(t *testing.T) {
	sap := [][2]string{{"CreationClassName", "AMT_ManagementPresenceRemoteSAP"}, {"Name", sapName},
		{"SystemCreationClassName", "CIM_ComputerSystem"}, {"SystemName", "Intel(r) AMT"}}
	rule := [][2]string{{"CreationClassName", "AMT_RemoteAccessPolicyRule"}, {"PolicyRuleName", "User Initiated"},
		{"SystemCreationClassName", "CIM_ComputerSystem"}, {"SystemName", "Intel(r) AMT"}}
	item := `<g:AMT_RemoteAccessPolicyAppliesToMPS>` + eprXML("ManagedElement", sapURI, sap...) +
		`<g:MpsType>0</g:MpsType><g:OrderOfAccess>0</g:OrderOfAccess>` + eprXML("PolicySet", ruleURI, rule...) +
		`</g:AMT_RemoteAccessPolicyAppliesToMPS>`
	c, d := newDevice(t, enumerateResp(appliesURI), pullResp(appliesURI, item),
		amtResp(wsman.ActionPut+"Response", appliesURI, item))
	got, err := c.PolicyAppliesToMPS(t.Context())
	require.NoError(t, err)
	d.requireEnumeration(0, appliesURI)
	require.Len(t, got, 1)
	require.Equal(t, sapName, got[0].ManagedElement.Selector("Name"))
	require.Equal(t, "User Initiated", got[0].PolicySet.Selector("PolicyRuleName"))
	require.Equal(t, wsman.AddressAnonymous, got[0].PolicySet.Address)

	p := got[0]
	p.MpsType = MPSTypeBoth
	require.NoError(t, c.PutPolicyAppliesToMPS(t.Context(), p))
	epr := func(resource string, sel [][2]string) string {
		s := `<Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">` + resource + `</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">`
		for _, kv := range sel {
			s += `<Selector Name="` + kv[0] + `">` + kv[1] + `</Selector>`
		}
		return s + `</SelectorSet></ReferenceParameters>`
	}
	// Header selectors are the two references as EndpointReference elements (go-wsman's Put form).
	d.requireRequest(2, wsman.ActionPut, appliesURI,
		`<w:SelectorSet><w:Selector Name="ManagedElement"><EndpointReference xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">`+epr(sapURI, sap)+`</EndpointReference></w:Selector>`+
			`<w:Selector Name="PolicySet"><EndpointReference xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">`+epr(ruleURI, rule)+`</EndpointReference></w:Selector></w:SelectorSet>`,
		`<h:AMT_RemoteAccessPolicyAppliesToMPS xmlns:h="`+appliesURI+`"><h:ManagedElement>`+epr(sapURI, sap)+`</h:ManagedElement><h:OrderOfAccess>0</h:OrderOfAccess><h:MpsType>2</h:MpsType><h:PolicySet>`+epr(ruleURI, rule)+`</h:PolicySet></h:AMT_RemoteAccessPolicyAppliesToMPS>`)
}

func TestUnconfigureCIRA(t *testing.T) {
	c, d := newDevice(t,
		amtResp(wsman.ActionDelete+"Response", ruleURI, ""),
		enumerateResp(sapURI),
		pullResp(sapURI, `<g:AMT_ManagementPresenceRemoteSAP><g:AccessInfo>mps.example.com</g:AccessInfo><g:CN></g:CN><g:CreationClassName>AMT_ManagementPresenceRemoteSAP</g:CreationClassName><g:ElementName>Intel(r) AMT:Management Presence Server</g:ElementName><g:InfoFormat>201</g:InfoFormat><g:Name>`+sapName+`</g:Name><g:Port>4433</g:Port><g:SystemCreationClassName>CIM_ComputerSystem</g:SystemCreationClassName><g:SystemName>Intel(r) AMT</g:SystemName></g:AMT_ManagementPresenceRemoteSAP>`),
		amtResp(wsman.ActionDelete+"Response", sapURI, ""),
		enumerateResp(certURI),
		pullResp(certURI, `<g:AMT_PublicKeyCertificate><g:ElementName>Intel(r) AMT Certificate</g:ElementName><g:InstanceID>Intel(r) AMT Certificate: Handle: 1</g:InstanceID><g:Issuer>CN=root</g:Issuer><g:ReadOnlyCertificate>false</g:ReadOnlyCertificate><g:Subject>CN=root</g:Subject><g:TrustedRootCertficate>true</g:TrustedRootCertficate><g:X509Certificate>MIIB</g:X509Certificate></g:AMT_PublicKeyCertificate>`),
		amtResp(wsman.ActionDelete+"Response", certURI, ""),
	)
	require.NoError(t, c.DeleteRemoteAccessPolicyRule(t.Context(), "Periodic"))
	// §7.8 PolicyRule Delete.
	d.requireRequest(0, wsman.ActionDelete, ruleURI, `<w:SelectorSet><w:Selector Name="PolicyRuleName">Periodic</w:Selector></w:SelectorSet>`, "")

	saps, err := c.ManagementPresenceRemoteSAPs(t.Context())
	require.NoError(t, err)
	d.requireEnumeration(1, sapURI)
	require.Equal(t, []ManagementPresenceRemoteSAP{{AccessInfo: "mps.example.com", CreationClassName: "AMT_ManagementPresenceRemoteSAP",
		ElementName: "Intel(r) AMT:Management Presence Server", InfoFormat: 201, Name: sapName, Port: 4433,
		SystemCreationClassName: "CIM_ComputerSystem", SystemName: "Intel(r) AMT"}}, saps)
	require.NoError(t, c.DeleteManagementPresenceRemoteSAP(t.Context(), saps[0].Name))
	d.requireRequest(3, wsman.ActionDelete, sapURI, `<w:SelectorSet><w:Selector Name="Name">`+sapName+`</w:Selector></w:SelectorSet>`, "")

	certs, err := c.PublicKeyCertificates(t.Context())
	require.NoError(t, err)
	require.Len(t, certs, 1)
	require.True(t, certs[0].TrustedRootCertificate)
	require.Equal(t, "MIIB", certs[0].X509Certificate)
	require.NoError(t, c.DeletePublicKeyCertificate(t.Context(), certs[0].InstanceID))
	d.requireRequest(6, wsman.ActionDelete, certURI, `<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT Certificate: Handle: 1</w:Selector></w:SelectorSet>`, "")
}
