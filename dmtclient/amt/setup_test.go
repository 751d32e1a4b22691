package amt

import (
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

const (
	hbsURI   = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"
	setupURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"
	authURI  = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService"
)

// IPS_HostBasedSetupService Get with the §7.9 values.
func TestHostBasedSetupService(t *testing.T) {
	c, d := newDevice(t, getResp(hbsURI, `<g:IPS_HostBasedSetupService><g:AllowedControlModes>2</g:AllowedControlModes><g:AllowedControlModes>1</g:AllowedControlModes><g:CertChainStatus>0</g:CertChainStatus><g:ConfigurationNonce>4P3sY7swlhjkhJNxDkEBIUcmpHE=</g:ConfigurationNonce><g:CreationClassName>IPS_HostBasedSetupService</g:CreationClassName><g:CurrentControlMode>2</g:CurrentControlMode><g:ElementName>Intel(r) AMT Host Based Setup Service</g:ElementName><g:Name>Intel(r) AMT Host Based Setup Service</g:Name><g:SystemCreationClassName>CIM_ComputerSystem</g:SystemCreationClassName><g:SystemName>Intel(r) AMT</g:SystemName></g:IPS_HostBasedSetupService>`))
	hbs, err := c.HostBasedSetupService(t.Context())
	require.NoError(t, err)
	d.requireRequest(0, wsman.ActionGet, hbsURI, "", "")
	require.Equal(t, HostBasedSetupService{
		AllowedControlModes: []int{2, 1}, ConfigurationNonce: "4P3sY7swlhjkhJNxDkEBIUcmpHE=",
		CreationClassName: "IPS_HostBasedSetupService", CurrentControlMode: 2,
		ElementName: "Intel(r) AMT Host Based Setup Service", Name: "Intel(r) AMT Host Based Setup Service",
		SystemCreationClassName: "CIM_ComputerSystem", SystemName: "Intel(r) AMT",
	}, hbs)
	nonce, err := hbs.FirmwareNonce()
	require.NoError(t, err)
	require.Equal(t, "e0fdec63bb309618e48493710e4101214726a471", hex.EncodeToString(nonce)) // §7.7
	_, err = HostBasedSetupService{ConfigurationNonce: "%%"}.FirmwareNonce()
	require.Error(t, err)
}

// Method calls of the activation flow, each compared with its §7.8 body.
func TestActivationMethods(t *testing.T) {
	realm := "Digest:A3829B3827DE4D33D4449B366831FD01"
	hash := AdminPasswordHash(realm, "Intel123!")
	cert := []byte{0x30, 0x82, 0x01, 0x0a}
	certB64 := base64.StdEncoding.EncodeToString(cert)
	mcNonce := make([]byte, McNonceSize)
	for i := range mcNonce {
		mcNonce[i] = byte(i + 1)
	}
	sig := []byte("signature")
	sigB64 := base64.StdEncoding.EncodeToString(sig)

	tests := []struct {
		name   string
		uri    string
		method string
		call   func(c *Client) error
		body   string
	}{
		{"Setup", hbsURI, "Setup", func(c *Client) error { return c.Setup(t.Context(), hash) },
			`<h:Setup_INPUT xmlns:h="http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"><h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>9b1c5fcea64021977b23a5751913d07a</h:NetworkAdminPassword></h:Setup_INPUT>`},
		{"AddNextCertInChain", hbsURI, "AddNextCertInChain", func(c *Client) error { return c.AddNextCertInChain(t.Context(), cert, true, false) },
			`<h:AddNextCertInChain_INPUT xmlns:h="` + hbsURI + `"><h:NextCertificate>` + certB64 + `</h:NextCertificate><h:IsLeafCertificate>true</h:IsLeafCertificate><h:IsRootCertificate>false</h:IsRootCertificate></h:AddNextCertInChain_INPUT>`},
		{"AdminSetup", hbsURI, "AdminSetup", func(c *Client) error {
			return c.AdminSetup(t.Context(), AdminSetupRequest{PasswordHash: hash, McNonce: mcNonce, Signature: sig})
		}, `<h:AdminSetup_INPUT xmlns:h="` + hbsURI + `"><h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>9b1c5fcea64021977b23a5751913d07a</h:NetworkAdminPassword><h:McNonce>AQIDBAUGBwgJCgsMDQ4PEBESExQ=</h:McNonce><h:SigningAlgorithm>2</h:SigningAlgorithm><h:DigitalSignature>` + sigB64 + `</h:DigitalSignature></h:AdminSetup_INPUT>`},
		{"UpgradeClientToAdmin", hbsURI, "UpgradeClientToAdmin", func(c *Client) error { return c.UpgradeClientToAdmin(t.Context(), mcNonce, sig) },
			`<h:UpgradeClientToAdmin_INPUT xmlns:h="` + hbsURI + `"><h:McNonce>AQIDBAUGBwgJCgsMDQ4PEBESExQ=</h:McNonce><h:SigningAlgorithm>2</h:SigningAlgorithm><h:DigitalSignature>` + sigB64 + `</h:DigitalSignature></h:UpgradeClientToAdmin_INPUT>`},
		{"SetMEBxPassword", setupURI, "SetMEBxPassword", func(c *Client) error { return c.SetMEBxPassword(t.Context(), "Intel123!") },
			`<h:SetMEBxPassword_INPUT xmlns:h="` + setupURI + `"><h:Password>Intel123!</h:Password></h:SetMEBxPassword_INPUT>`},
		{"CommitChanges", setupURI, "CommitChanges", func(c *Client) error { return c.CommitChanges(t.Context()) },
			`<h:CommitChanges_INPUT xmlns:h="` + setupURI + `"></h:CommitChanges_INPUT>`},
		{"Unprovision", setupURI, "Unprovision", func(c *Client) error { return c.Unprovision(t.Context()) },
			`<h:Unprovision_INPUT xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"><h:ProvisioningMode>1</h:ProvisioningMode></h:Unprovision_INPUT>`},
		{"SetAdminAclEntryEx", authURI, "SetAdminAclEntryEx", func(c *Client) error {
			return c.SetAdminAclEntryEx(t.Context(), "admin", AdminDigestPassword(realm, "Intel123!"))
		}, `<h:SetAdminAclEntryEx_INPUT xmlns:h="` + authURI + `"><h:Username>admin</h:Username><h:DigestPassword>mxxfzqZAIZd7I6V1GRPQeg==</h:DigestPassword></h:SetAdminAclEntryEx_INPUT>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, d := newDevice(t, output(tt.uri, tt.method, "", 0), output(tt.uri, tt.method, "", 5))
			require.NoError(t, tt.call(c))
			d.requireRequest(0, tt.uri+"/"+tt.method, tt.uri, "", tt.body)
			var rv *wsman.ReturnValueError
			require.ErrorAs(t, tt.call(c), &rv)
			require.Equal(t, uint32(5), rv.Value)
		})
	}
}

func TestReturnValueLabels(t *testing.T) {
	c, _ := newDevice(t, output(hbsURI, "AdminSetup", "", 5), output(setupURI, "Unprovision", "", 2076),
		output(hbsURI, "AddNextCertInChain", "", 4))
	var rv *wsman.ReturnValueError
	require.ErrorAs(t, c.AdminSetup(t.Context(), AdminSetupRequest{}), &rv)
	require.Equal(t, "AUTH_FAILED", rv.Name)
	require.ErrorAs(t, c.Unprovision(t.Context()), &rv)
	require.Equal(t, "BLOCKING_COMPONENT", rv.Name)
	require.ErrorAs(t, c.AddNextCertInChain(t.Context(), nil, false, true), &rv)
	require.Equal(t, "CERT_VERIFY_FAILED", rv.Name)
}
