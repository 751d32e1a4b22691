package wsman

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type generalSettings struct {
	DigestRealm             string `xml:"DigestRealm"`
	AMTNetworkEnabled       int    `xml:"AMTNetworkEnabled"`
	SharedFQDN              bool   `xml:"SharedFQDN"`
	RmcpPingResponseEnabled bool   `xml:"RmcpPingResponseEnabled"`
	InstanceID              string `xml:"InstanceID"`
}

func TestParseEnvelopeGeneralSettings(t *testing.T) {
	r, err := parseEnvelope([]byte(generalSettingsResponse("3")))
	require.NoError(t, err)
	require.Equal(t, "3", r.RelatesTo)
	require.Equal(t, "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse", r.Action)
	require.Equal(t, "uuid:00000000-8086-8086-8086-000000000042", r.MessageID)
	require.Equal(t, AMT("AMT_GeneralSettings"), r.ResourceURI)
	require.Equal(t, "AMT_GeneralSettings", r.BodyName)
	var gs generalSettings
	require.NoError(t, r.Decode(&gs))
	// §7.9 values.
	require.Equal(t, generalSettings{
		DigestRealm: "Digest:F3EB554784E729164447A89F60B641C5", AMTNetworkEnabled: 1, SharedFQDN: true,
		RmcpPingResponseEnabled: true, InstanceID: "Intel(r) AMT: General Settings",
	}, gs)
}

func TestParseEnvelopeFault(t *testing.T) {
	r, err := parseEnvelope([]byte(faultResponse("1")))
	require.NotNil(t, r)
	var fe *FaultError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, &FaultError{
		Code: "Sender", Subcode: "DestinationUnreachable",
		Reason: "No route can be determined to reach the destination role defined by the WSAddressing To.",
	}, fe)
}

func TestParseEnvelopeTolerance(t *testing.T) {
	// Other prefixes, default namespaces, whitespace and CDATA everywhere.
	raw := `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">
  <s:Header>
    <wsa:RelatesTo>
      12
    </wsa:RelatesTo>
  </s:Header>
  <s:Body>
    <AMT_GeneralSettings xmlns="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings">
      <DigestRealm><![CDATA[Digest:F3EB554784E729164447A89F60B641C5]]></DigestRealm>
      <AMTNetworkEnabled> 1 </AMTNetworkEnabled>
      <SharedFQDN>
        true
      </SharedFQDN>
    </AMT_GeneralSettings>
  </s:Body>
</s:Envelope>`
	r, err := parseEnvelope([]byte(raw))
	require.NoError(t, err)
	require.Equal(t, "12", r.RelatesTo)
	var gs generalSettings
	require.NoError(t, r.Decode(&gs))
	require.Equal(t, "Digest:F3EB554784E729164447A89F60B641C5", gs.DigestRealm)
	require.Equal(t, 1, gs.AMTNetworkEnabled)
	require.True(t, gs.SharedFQDN)
}

func TestParseEnvelopeRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"not xml":    "HTTP/1.1 200 OK",
		"wrong root": `<a:Foo xmlns:a="x"><a:Body/></a:Foo>`,
		"no body":    `<a:Envelope xmlns:a="x"><a:Header/></a:Envelope>`,
		"empty":      ``,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseEnvelope([]byte(raw))
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
		})
	}
}

// A truncated body element is caught when it is decoded.
func TestDecodeTruncatedBody(t *testing.T) {
	r, err := parseEnvelope([]byte(`<a:Envelope xmlns:a="x"><a:Body><g:X><g:Y>1</g:Y>`))
	require.NoError(t, err)
	var pe *ProtocolError
	require.ErrorAs(t, r.Decode(&struct{ Y int }{}), &pe)
}

func TestDecodeEmptyBody(t *testing.T) {
	r, err := parseEnvelope([]byte(`<a:Envelope xmlns:a="x"><a:Header/><a:Body></a:Body></a:Envelope>`))
	require.NoError(t, err)
	require.Error(t, r.Decode(&struct{}{}))
}

func TestSplitItems(t *testing.T) {
	// §10.1 power-state Pull: items in the class namespace, repeated multi-valued properties.
	const pull = `<g:PullResponse xmlns:g="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><g:Items><h:CIM_AssociatedPowerManagementService xmlns:h="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AssociatedPowerManagementService"><h:AvailableRequestedPowerStates>10</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>8</h:AvailableRequestedPowerStates><h:PowerState>2</h:PowerState></h:CIM_AssociatedPowerManagementService>
<h:CIM_AssociatedPowerManagementService xmlns:h="x"><h:PowerState>8</h:PowerState></h:CIM_AssociatedPowerManagementService></g:Items><g:EndOfSequence></g:EndOfSequence></g:PullResponse>`
	var body pullResponse
	require.NoError(t, decodeFirstElement([]byte(pull), &body))
	require.NotNil(t, body.EndOfSequence)
	items, err := splitItems(body.Items.Inner)
	require.NoError(t, err)
	require.Len(t, items, 2)
	type apms struct {
		PowerState int   `xml:"PowerState"`
		Available  []int `xml:"AvailableRequestedPowerStates"`
	}
	got, err := decodeItems[apms](items)
	require.NoError(t, err)
	require.Equal(t, []apms{{PowerState: 2, Available: []int{10, 8}}, {PowerState: 8}}, got)
	require.Equal(t, "CIM_AssociatedPowerManagementService", items[1].Name)
}

func TestReturnValueName(t *testing.T) {
	tests := []struct {
		uri, method string
		value       uint32
		want        string
	}{
		{CIM("CIM_PowerManagementService"), "RequestPowerStateChange", 2, "NOT_READY"},
		{AMT("AMT_SetupAndConfigurationService"), "Unprovision", 2076, "BLOCKING_COMPONENT"},
		{IPS("IPS_HostBasedSetupService"), "Setup", 4, "METHOD_DISABLED"},
		{IPS("IPS_HostBasedSetupService"), "AdminSetup", 5, "AUTH_FAILED"},
		{IPS("IPS_HostBasedSetupService"), "UpgradeClientToAdmin", 2, "INVALID_STATE"},
		{IPS("IPS_HostBasedSetupService"), "AddNextCertInChain", 4, "CERT_VERIFY_FAILED"},
		{IPS("IPS_PowerManagementService"), "RequestOSPowerSavingStateChange", 4097, "INVALID_STATE_TRANSITION"},
		{CIM("CIM_KVMRedirectionSAP"), "RequestStateChange", 4099, "BUSY"},
		{AMT("AMT_AuditLog"), "ReadRecords", 0x24, "INVALID_PARAMETER"},
		{AMT("AMT_AuditLog"), "ReadRecords", 9999, "UNKNOWN_ERROR"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ReturnValueName(tt.uri, tt.method, tt.value), "%s.%s %d", ClassOf(tt.uri), tt.method, tt.value)
	}
}

// FuzzDecodeEnvelope: no panics, and whatever parses decodes its body without panicking.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(generalSettingsResponse("1")))
	f.Add([]byte(faultResponse("2")))
	f.Add([]byte(`<a:Envelope xmlns:a="x"><a:Body><g:PullResponse><g:Items><h:X><h:Y>1</h:Y></h:X></g:Items><g:EndOfSequence/></g:PullResponse></a:Body></a:Envelope>`))
	f.Add([]byte(`<a:Envelope><a:Body><![CDATA[x]]></a:Body></a:Envelope>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := parseEnvelope(raw)
		if err != nil {
			return
		}
		var body pullResponse
		if r.Decode(&body) == nil {
			items, err := splitItems(body.Items.Inner)
			if err == nil {
				_, _ = decodeItems[generalSettings](items)
			}
		}
		var out methodOutput
		_ = r.Decode(&out)
	})
}
