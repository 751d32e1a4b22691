package amtsim

import (
	"encoding/binary"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

const (
	rasURI     = soap.AMTPrefix + "AMT_RemoteAccessService"
	pkmsURI    = soap.AMTPrefix + "AMT_PublicKeyManagementService"
	sapURI     = soap.AMTPrefix + "AMT_ManagementPresenceRemoteSAP"
	ruleURI    = soap.AMTPrefix + "AMT_RemoteAccessPolicyRule"
	appliesURI = soap.AMTPrefix + "AMT_RemoteAccessPolicyAppliesToMPS"
	uicURI     = soap.AMTPrefix + "AMT_UserInitiatedConnectionService"
	envURI     = soap.AMTPrefix + "AMT_EnvironmentDetectionSettingData"
	certURI    = soap.AMTPrefix + "AMT_PublicKeyCertificate"
)

func mpServerParams(host, user, pw string) string {
	return `<h:AccessInfo>` + host + `</h:AccessInfo><h:InfoFormat>201</h:InfoFormat><h:Port>4433</h:Port><h:AuthMethod>2</h:AuthMethod>` +
		`<h:Username>` + user + `</h:Username><h:Password>` + pw + `</h:Password><h:CN></h:CN>`
}

func ruleParams(trigger, lifetime, ext, sap string) string {
	return `<h:Trigger>` + trigger + `</h:Trigger><h:TunnelLifeTime>` + lifetime + `</h:TunnelLifeTime><h:ExtendedData>` + ext +
		`</h:ExtendedData><h:MpServer><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">` +
		sapURI + `</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="Name">` + sap +
		`</Selector></SelectorSet></ReferenceParameters></h:MpServer>`
}

func eprXML(class, key, value string) string {
	return `<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>` +
		soap.AMTPrefix + class + `</w:ResourceURI><w:SelectorSet><w:Selector Name="CreationClassName">` + class +
		`</w:Selector><w:Selector Name="` + key + `">` + value + `</w:Selector><w:Selector Name="SystemCreationClassName">CIM_ComputerSystem</w:Selector><w:Selector Name="SystemName">Intel(r) AMT</w:Selector></w:SelectorSet></a:ReferenceParameters>`
}

// configureCIRA runs protocol-rps-activation §2.9 steps 3–13 over WS-Man.
func configureCIRA(t *testing.T, c *wsclient) {
	rv, out := c.method(pkmsURI, "AddTrustedRootCertificate", `<h:CertificateBlob>`+b64(testCA().root.Raw)+`</h:CertificateBlob>`)
	require.Equal(t, 0, rv)
	require.Equal(t, "Intel(r) AMT Certificate: Handle: 1", find(out, "CreatedCertificate", "ReferenceParameters", "SelectorSet", "Selector").Value())

	rv, out = c.method(rasURI, "AddMpServer", mpServerParams("mps.example.com", "admin", "P@ssw0rd12345678"))
	require.Equal(t, 0, rv)
	require.NotNil(t, find(out, "MpServer", "ReferenceParameters"))

	saps := c.enumerate(sapURI)
	require.Len(t, saps, 1)
	name := saps[0].Child("Name").Value()
	require.Equal(t, "Intel(r) AMT:Management Presence Server 0", name)

	rv, _ = c.method(rasURI, "AddRemoteAccessPolicyRule", ruleParams("2", "0", "AAAAAAAAABk=", name))
	require.Equal(t, 0, rv)
	rv, _ = c.method(rasURI, "AddRemoteAccessPolicyRule", ruleParams("0", "300", "", name))
	require.Equal(t, 0, rv)

	items := c.enumerate(appliesURI)
	require.Len(t, items, 2)
	for _, it := range items {
		rule := find(it, "PolicySet", "ReferenceParameters", "SelectorSet")
		var ruleName string
		for _, s := range rule.Children {
			if v, _ := s.Attr("Name"); v == "PolicyRuleName" {
				ruleName = s.Value()
			}
		}
		me, ps := eprXML(sapClass, "Name", name), eprXML(ruleClass, "PolicyRuleName", ruleName)
		sel := `<w:SelectorSet><w:Selector Name="ManagedElement"><a:EndpointReference>` + me + `</a:EndpointReference></w:Selector>` +
			`<w:Selector Name="PolicySet"><a:EndpointReference>` + ps + `</a:EndpointReference></w:Selector></w:SelectorSet>`
		body := `<h:AMT_RemoteAccessPolicyAppliesToMPS xmlns:h="` + appliesURI + `"><h:ManagedElement>` + me +
			`</h:ManagedElement><h:OrderOfAccess>0</h:OrderOfAccess><h:MpsType>2</h:MpsType><h:PolicySet>` + ps + `</h:PolicySet></h:AMT_RemoteAccessPolicyAppliesToMPS>`
		root := c.call(soap.ActionPut, appliesURI, sel, body)
		require.Equal(t, "2", find(root, "Body", "AMT_RemoteAccessPolicyAppliesToMPS", "MpsType").Value())
	}

	rv, _ = c.method(uicURI, "RequestStateChange", `<h:RequestedState>32771</h:RequestedState>`)
	require.Equal(t, 0, rv)

	c.call(soap.ActionGet, envURI, "", "")
	c.call(soap.ActionPut, envURI, selector("InstanceID", "Intel(r) AMT Environment Detection Settings"),
		`<h:AMT_EnvironmentDetectionSettingData xmlns:h="`+envURI+`"><h:ElementName>Intel(r) AMT Environment Detection Settings</h:ElementName><h:InstanceID>Intel(r) AMT Environment Detection Settings</h:InstanceID><h:DetectionAlgorithm>0</h:DetectionAlgorithm><h:DetectionStrings>b332bb28.com</h:DetectionStrings></h:AMT_EnvironmentDetectionSettingData>`)
}

func TestCIRAConfiguration(t *testing.T) {
	d := newTestDevice(t)
	c := ccm(t, d)
	require.False(t, d.CIRA().Configured())
	configureCIRA(t, c)

	cfg := d.CIRA()
	require.True(t, cfg.Configured())
	s, interval, ok := cfg.Periodic()
	require.True(t, ok)
	require.Equal(t, 25, interval) // AAAAAAAAABk= = type 0, 25 s (§7.12)
	require.Equal(t, "mps.example.com:4433", s.Address())
	require.Equal(t, "admin", s.Username)
	require.Equal(t, "P@ssw0rd12345678", s.Password)
	require.Equal(t, 32771, cfg.UserInitiated)
	require.Equal(t, []string{"b332bb28.com"}, cfg.DetectionStrings)
	require.Len(t, cfg.RootPool(), 1)
	for _, l := range cfg.Links {
		require.Equal(t, 2, l.MpsType)
	}

	// Unconfiguration as RPS does it (§2.6 steps 5, 6, 9): rules, then SAP, then certificates.
	c.call(soap.ActionDelete, ruleURI, selector("PolicyRuleName", "User Initiated"), "")
	status, _ := c.post(soap.ActionDelete, ruleURI, selector("PolicyRuleName", "Alert"), "")
	require.Equal(t, http.StatusBadRequest, status, "there is no Alert rule")
	c.call(soap.ActionDelete, ruleURI, selector("PolicyRuleName", "Periodic"), "")
	c.call(soap.ActionDelete, sapURI, selector("Name", "Intel(r) AMT:Management Presence Server 0"), "")
	certs := c.enumerate(certURI)
	require.Len(t, certs, 1)
	require.Equal(t, "true", certs[0].Child("TrustedRootCertficate").Value())
	c.call(soap.ActionDelete, certURI, selector("InstanceID", certs[0].Child("InstanceID").Value()), "")
	cfg = d.CIRA()
	require.False(t, cfg.Configured())
	require.Empty(t, cfg.Servers)
	require.Empty(t, cfg.Links)
	require.Empty(t, cfg.Certificates)
}

func TestCIRAValidation(t *testing.T) {
	d := newTestDevice(t)
	c := ccm(t, d)
	tests := []struct {
		name   string
		uri    string
		method string
		params string
		want   int
	}{
		{"not a certificate", pkmsURI, "AddTrustedRootCertificate", `<h:CertificateBlob>AAAA</h:CertificateBlob>`, ptInvalidParameter},
		{"leaf as trusted root", pkmsURI, "AddTrustedRootCertificate", `<h:CertificateBlob>` + b64(testCA().leaf("x."+testSuffix, true, "").Raw) + `</h:CertificateBlob>`, ptInvalidParameter},
		{"fqdn format with bad name", rasURI, "AddMpServer", mpServerParams("not a host", "admin", "pw"), ptInvalidParameter},
		{"username not alphanumeric", rasURI, "AddMpServer", mpServerParams("mps.example.com", "ad-min", "pw"), ptInvalidParameter},
		{"password too long", rasURI, "AddMpServer", mpServerParams("mps.example.com", "admin", "12345678901234567"), ptInvalidParameter},
		{"ipv4 format with a name", rasURI, "AddMpServer", `<h:AccessInfo>mps.example.com</h:AccessInfo><h:InfoFormat>3</h:InfoFormat><h:Port>4433</h:Port><h:AuthMethod>2</h:AuthMethod><h:Username>admin</h:Username><h:Password>pw</h:Password><h:CN></h:CN>`, ptInvalidParameter},
		{"mutual tls", rasURI, "AddMpServer", `<h:AccessInfo>mps.example.com</h:AccessInfo><h:InfoFormat>201</h:InfoFormat><h:Port>4433</h:Port><h:AuthMethod>1</h:AuthMethod><h:CN></h:CN>`, ptInvalidParameter},
		{"server ok", rasURI, "AddMpServer", mpServerParams("mps.example.com", "admin", "pw"), ptSuccess},
		{"server duplicate", rasURI, "AddMpServer", mpServerParams("mps.example.com", "admin", "pw"), ptDuplicate},
		{"rule for unknown server", rasURI, "AddRemoteAccessPolicyRule", ruleParams("2", "0", "AAAAAAAAABk=", "Intel(r) AMT:Management Presence Server 9"), ptInvalidParameter},
		{"periodic without interval", rasURI, "AddRemoteAccessPolicyRule", ruleParams("2", "0", "", "Intel(r) AMT:Management Presence Server 0"), ptInvalidParameter},
		{"user initiated with data", rasURI, "AddRemoteAccessPolicyRule", ruleParams("0", "300", "AAAAAAAAABk=", "Intel(r) AMT:Management Presence Server 0"), ptInvalidParameter},
		{"home provisioning trigger", rasURI, "AddRemoteAccessPolicyRule", ruleParams("3", "0", "", "Intel(r) AMT:Management Presence Server 0"), ptInvalidParameter},
		{"periodic ok", rasURI, "AddRemoteAccessPolicyRule", ruleParams("2", "0", "AAAAAAAAABk=", "Intel(r) AMT:Management Presence Server 0"), ptSuccess},
		{"periodic duplicate", rasURI, "AddRemoteAccessPolicyRule", ruleParams("2", "0", "AAAAAAAAABk=", "Intel(r) AMT:Management Presence Server 0"), ptDuplicate},
		{"uic state out of range", uicURI, "RequestStateChange", `<h:RequestedState>2</h:RequestedState>`, cimInvalidArg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv, _ := c.method(tt.uri, tt.method, tt.params)
			require.Equal(t, tt.want, rv)
		})
	}
	// Daily periodic rule form: type 1, hour, minute.
	ext := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), 23), 59)
	d.lock()
	_, rv := d.addPolicyRule(triggerAlert, 0, nil, "Intel(r) AMT:Management Presence Server 0")
	require.Equal(t, ptSuccess, rv)
	_, rv = d.addPolicyRule(triggerPeriodic, 0, ext, "Intel(r) AMT:Management Presence Server 0")
	d.unlock()
	require.Equal(t, ptDuplicate, rv)
}

// A blocked Unprovision is answered over WS-Man with ReturnValue 2076 and leaves everything in place; once the
// block is lifted the same call succeeds.
func TestUnprovisionBlockedOverWSMan(t *testing.T) {
	d := newTestDevice(t)
	c := ccm(t, d)
	configureCIRA(t, c)
	d.BlockUnprovision(true)
	require.True(t, d.State().UnprovisionBlocked)
	rv, _ := c.method(sacURI, "Unprovision", `<h:ProvisioningMode>1</h:ProvisioningMode>`)
	require.Equal(t, 2076, rv)
	require.Equal(t, ClientControl, d.Mode())
	require.True(t, d.State().CIRAConfigured)
	status, _ := c.post(soap.ActionGet, gsURI, "", "")
	require.Equal(t, http.StatusOK, status, "the admin account is kept")

	d.BlockUnprovision(false)
	rv, _ = c.method(sacURI, "Unprovision", `<h:ProvisioningMode>1</h:ProvisioningMode>`)
	require.Equal(t, 0, rv)
	waitState(t, d, func(s State) bool { return s.Mode == PreProvisioning })
}

func TestUnprovisionOverWSManClearsCIRA(t *testing.T) {
	d := newTestDevice(t)
	c := ccm(t, d)
	configureCIRA(t, c)
	rv, _ := c.method(sacURI, "Unprovision", `<h:ProvisioningMode>1</h:ProvisioningMode>`)
	require.Equal(t, 0, rv)
	s := waitState(t, d, func(s State) bool { return s.Mode == PreProvisioning })
	require.False(t, s.CIRAConfigured)
	require.Empty(t, d.CIRA().Servers)
	require.Empty(t, d.CIRA().DetectionStrings)
	status, _ := c.post(soap.ActionGet, gsURI, "", "")
	require.Equal(t, http.StatusUnauthorized, status, "the admin account is gone")
}
