package amt

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// AMT_GeneralSettings instance with the §7.9 values.
const generalSettingsXML = `<g:AMT_GeneralSettings><g:AMTNetworkEnabled>1</g:AMTNetworkEnabled><g:DDNSPeriodicUpdateInterval>1440</g:DDNSPeriodicUpdateInterval><g:DDNSTTL>900</g:DDNSTTL><g:DDNSUpdateByDHCPServerEnabled>true</g:DDNSUpdateByDHCPServerEnabled><g:DDNSUpdateEnabled>false</g:DDNSUpdateEnabled><g:DHCPv6ConfigurationTimeout>0</g:DHCPv6ConfigurationTimeout><g:DigestRealm>Digest:F3EB554784E729164447A89F60B641C5</g:DigestRealm><g:DomainName></g:DomainName><g:ElementName>Intel(r) AMT: General Settings</g:ElementName><g:HostName></g:HostName><g:IdleWakeTimeout>65535</g:IdleWakeTimeout><g:InstanceID>Intel(r) AMT: General Settings</g:InstanceID><g:NetworkInterfaceEnabled>true</g:NetworkInterfaceEnabled><g:PingResponseEnabled>true</g:PingResponseEnabled><g:PowerSource>0</g:PowerSource><g:PreferredAddressFamily>0</g:PreferredAddressFamily><g:PresenceNotificationInterval>0</g:PresenceNotificationInterval><g:PrivacyLevel>0</g:PrivacyLevel><g:RmcpPingResponseEnabled>true</g:RmcpPingResponseEnabled><g:SharedFQDN>true</g:SharedFQDN><g:ThunderboltDockEnabled>0</g:ThunderboltDockEnabled><g:WsmanOnlyMode>false</g:WsmanOnlyMode></g:AMT_GeneralSettings>`

func TestGeneralSettings(t *testing.T) {
	uri := wsman.AMT("AMT_GeneralSettings")
	c, d := newDevice(t, getResp(uri, generalSettingsXML),
		amtResp(wsman.ActionPut+"Response", uri, generalSettingsXML))
	gs, err := c.GeneralSettings(t.Context())
	require.NoError(t, err)
	d.requireRequest(0, wsman.ActionGet, uri, "", "")
	require.Equal(t, "Digest:F3EB554784E729164447A89F60B641C5", gs.DigestRealm)
	require.Equal(t, 1, gs.AMTNetworkEnabled)
	require.True(t, gs.SharedFQDN)
	require.True(t, gs.RmcpPingResponseEnabled)
	require.Equal(t, "Intel(r) AMT: General Settings", gs.InstanceID)
	require.Equal(t, 65535, gs.IdleWakeTimeout)

	gs.HostName, gs.DomainName = "edge-01", "example.com"
	echo, err := c.PutGeneralSettings(t.Context(), gs)
	require.NoError(t, err)
	require.Equal(t, "Digest:F3EB554784E729164447A89F60B641C5", echo.DigestRealm)
	d.requireRequest(1, wsman.ActionPut, uri, "",
		`<h:AMT_GeneralSettings xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings">`+
			`<h:ElementName>Intel(r) AMT: General Settings</h:ElementName><h:InstanceID>Intel(r) AMT: General Settings</h:InstanceID>`+
			`<h:IdleWakeTimeout>65535</h:IdleWakeTimeout><h:HostName>edge-01</h:HostName><h:DomainName>example.com</h:DomainName>`+
			`<h:PingResponseEnabled>true</h:PingResponseEnabled><h:WsmanOnlyMode>false</h:WsmanOnlyMode>`+
			`<h:DDNSUpdateEnabled>false</h:DDNSUpdateEnabled><h:DDNSUpdateByDHCPServerEnabled>true</h:DDNSUpdateByDHCPServerEnabled>`+
			`<h:SharedFQDN>true</h:SharedFQDN><h:DDNSTTL>900</h:DDNSTTL><h:AMTNetworkEnabled>1</h:AMTNetworkEnabled>`+
			`<h:RmcpPingResponseEnabled>true</h:RmcpPingResponseEnabled><h:DDNSPeriodicUpdateInterval>1440</h:DDNSPeriodicUpdateInterval>`+
			`</h:AMT_GeneralSettings>`)
}

func TestEnvironmentDetection(t *testing.T) {
	uri := wsman.AMT("AMT_EnvironmentDetectionSettingData")
	instance := `<g:AMT_EnvironmentDetectionSettingData><g:DetectionAlgorithm>0</g:DetectionAlgorithm><g:DetectionStrings>a.com</g:DetectionStrings><g:DetectionStrings>b.com</g:DetectionStrings><g:ElementName>Intel(r) AMT Environment Detection Settings</g:ElementName><g:InstanceID>Intel(r) AMT Environment Detection Settings</g:InstanceID></g:AMT_EnvironmentDetectionSettingData>`
	c, d := newDevice(t, getResp(uri, instance), amtResp(wsman.ActionPut+"Response", uri, instance))
	ed, err := c.EnvironmentDetection(t.Context())
	require.NoError(t, err)
	d.requireRequest(0, wsman.ActionGet, uri, "", "")
	require.Equal(t, []string{"a.com", "b.com"}, ed.DetectionStrings)

	ed.DetectionStrings = []string{"x.com"}
	_, err = c.PutEnvironmentDetection(t.Context(), ed)
	require.NoError(t, err)
	// §7.8 EnvironmentDetection Put, byte for byte.
	d.requireRequest(1, wsman.ActionPut, uri,
		`<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT Environment Detection Settings</w:Selector></w:SelectorSet>`,
		`<h:AMT_EnvironmentDetectionSettingData xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_EnvironmentDetectionSettingData"><h:ElementName>Intel(r) AMT Environment Detection Settings</h:ElementName><h:InstanceID>Intel(r) AMT Environment Detection Settings</h:InstanceID><h:DetectionAlgorithm>0</h:DetectionAlgorithm><h:DetectionStrings>x.com</h:DetectionStrings></h:AMT_EnvironmentDetectionSettingData>`)
}
