package amtsim

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// TestFeatureAndNetworkClasses walks the calls of protocol-rps-activation §2.6–2.8.
func TestFeatureAndNetworkClasses(t *testing.T) {
	d := newTestDevice(t)
	c := ccm(t, d)
	const (
		redirURI = soap.AMTPrefix + "AMT_RedirectionService"
		kvmURI   = soap.CIMPrefix + "CIM_KVMRedirectionSAP"
		optURI   = soap.IPSPrefix + "IPS_OptInService"
		ethURI   = soap.AMTPrefix + "AMT_EthernetPortSettings"
	)
	ports := c.enumerate(ethURI)
	require.Len(t, ports, 1)
	require.Equal(t, "Intel(r) AMT Ethernet Port Settings 0", ports[0].Child("InstanceID").Value())
	root := c.call(soap.ActionPut, ethURI, selector("InstanceID", "Intel(r) AMT Ethernet Port Settings 0"),
		`<h:AMT_EthernetPortSettings xmlns:h="`+ethURI+`"><h:DHCPEnabled>true</h:DHCPEnabled><h:ElementName>Intel(r) AMT Ethernet Port Settings</h:ElementName>`+
			`<h:InstanceID>Intel(r) AMT Ethernet Port Settings 0</h:InstanceID><h:IpSyncEnabled>true</h:IpSyncEnabled><h:SharedStaticIp>false</h:SharedStaticIp></h:AMT_EthernetPortSettings>`)
	require.Equal(t, "true", find(root, "Body", "AMT_EthernetPortSettings", "IpSyncEnabled").Value())

	for _, uri := range []string{soap.AMTPrefix + "AMT_TLSSettingData", soap.AMTPrefix + "AMT_PublicPrivateKeyPair",
		soap.AMTPrefix + "AMT_TLSCredentialContext", soap.CIMPrefix + "CIM_WiFiEndpointSettings", soap.IPSPrefix + "IPS_HTTPProxyAccessPoint"} {
		c.enumerate(uri)
	}
	c.call(soap.ActionGet, soap.IPSPrefix+"IPS_IEEE8021xSettings", "", "")

	rv, _ := c.method(redirURI, "RequestStateChange", `<h:RequestedState>32771</h:RequestedState>`)
	require.Equal(t, 0, rv)
	rv, _ = c.method(kvmURI, "RequestStateChange", `<h:RequestedState>2</h:RequestedState>`)
	require.Equal(t, 0, rv)
	require.Equal(t, "2", find(c.call(soap.ActionGet, kvmURI, "", ""), "Body", "CIM_KVMRedirectionSAP", "EnabledState").Value())
	root = c.call(soap.ActionPut, redirURI, "", `<h:AMT_RedirectionService xmlns:h="`+redirURI+`"><h:EnabledState>32771</h:EnabledState><h:ListenerEnabled>true</h:ListenerEnabled></h:AMT_RedirectionService>`)
	require.Equal(t, "true", find(root, "Body", "AMT_RedirectionService", "ListenerEnabled").Value())

	status, _ := c.post(soap.ActionPut, optURI, "", `<h:IPS_OptInService xmlns:h="`+optURI+`"><h:OptInRequired>0</h:OptInRequired></h:IPS_OptInService>`)
	require.Equal(t, http.StatusBadRequest, status, "CCM keeps user consent for everything")
	force(d, AdminControl)
	root = c.call(soap.ActionPut, optURI, "", `<h:IPS_OptInService xmlns:h="`+optURI+`"><h:OptInRequired>0</h:OptInRequired></h:IPS_OptInService>`)
	require.Equal(t, "0", find(root, "Body", "IPS_OptInService", "OptInRequired").Value())
}

// TestLinkPolicy: LinkPolicy holds at most four entries, each one of 1, 14, 16, 224;
// RPS writes back {1, 14, 16} in its network step.
func TestLinkPolicy(t *testing.T) {
	d := newTestDevice(t)
	c := ccm(t, d)
	const ethURI = soap.AMTPrefix + "AMT_EthernetPortSettings"
	sel := selector("InstanceID", "Intel(r) AMT Ethernet Port Settings 0")
	put := func(values ...string) (int, *soap.Node) {
		body := `<h:AMT_EthernetPortSettings xmlns:h="` + ethURI + `"><h:DHCPEnabled>true</h:DHCPEnabled>` +
			`<h:ElementName>Intel(r) AMT Ethernet Port Settings</h:ElementName><h:InstanceID>Intel(r) AMT Ethernet Port Settings 0</h:InstanceID>` +
			`<h:IpSyncEnabled>true</h:IpSyncEnabled>`
		for _, v := range values {
			body += `<h:LinkPolicy>` + v + `</h:LinkPolicy>`
		}
		return c.post(soap.ActionPut, ethURI, sel, body+`<h:SharedStaticIp>false</h:SharedStaticIp></h:AMT_EthernetPortSettings>`)
	}
	linkPolicy := func(root *soap.Node) []string {
		var out []string
		for _, ch := range find(root, "Body", "AMT_EthernetPortSettings").Children {
			if ch.Local == "LinkPolicy" {
				out = append(out, ch.Value())
			}
		}
		return out
	}
	tests := []struct {
		name   string
		values []string
		ok     bool
	}{
		{"RPS write-back", []string{"1", "14", "16"}, true},
		{"all four", []string{"1", "14", "16", "224"}, true},
		{"one", []string{"224"}, true},
		{"five entries", []string{"1", "14", "16", "224", "1"}, false},
		{"value 4", []string{"1", "4"}, false},
		{"value 2", []string{"2"}, false},
		{"not a number", []string{"x"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, root := put(tc.values...)
			if !tc.ok {
				require.Equal(t, http.StatusBadRequest, status, "%v", tc.values)
				require.Contains(t, faultText(root), "LinkPolicy")
				return
			}
			require.Equal(t, http.StatusOK, status, faultText(root))
			require.Equal(t, tc.values, linkPolicy(root))
			require.Equal(t, tc.values, linkPolicy(c.call(soap.ActionGet, ethURI, sel, "")))
		})
	}
}
