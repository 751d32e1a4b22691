package amt

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

func TestPowerState(t *testing.T) {
	uri := wsman.CIM("CIM_ServiceAvailableToElement")
	// §10.2 fixture: powered on, AvailableRequestedPowerStates 10, 8, 5, 11, 4, 7, 14, 12.
	items := `<h:CIM_AssociatedPowerManagementService xmlns:h="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AssociatedPowerManagementService">` +
		`<h:AvailableRequestedPowerStates>10</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>8</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>5</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>11</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>4</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>7</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>14</h:AvailableRequestedPowerStates><h:AvailableRequestedPowerStates>12</h:AvailableRequestedPowerStates>` +
		`<h:PowerState>2</h:PowerState><h:RequestedPowerState>2</h:RequestedPowerState>` +
		`<h:ServiceProvided><b:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:Address><b:ReferenceParameters><c:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService</c:ResourceURI><c:SelectorSet><c:Selector Name="Name">Intel(r) AMT Power Management Service</c:Selector></c:SelectorSet></b:ReferenceParameters></h:ServiceProvided>` +
		`</h:CIM_AssociatedPowerManagementService>`
	c, d := newDevice(t, enumerateResp(uri), pullResp(uri, items))
	st, err := c.PowerState(t.Context())
	require.NoError(t, err)
	d.requireEnumeration(0, uri)
	require.Equal(t, PowerStatus{
		PowerState: PowerOn, RequestedPowerState: PowerOn,
		AvailableRequestedPowerStates: []PowerState{10, 8, 5, 11, 4, 7, 14, 12},
	}, st)
	require.Equal(t, "Master Bus Reset Graceful", st.AvailableRequestedPowerStates[6].String())
}

func TestPowerStateMissing(t *testing.T) {
	uri := wsman.CIM("CIM_ServiceAvailableToElement")
	c, _ := newDevice(t, enumerateResp(uri), pullResp(uri, ""))
	_, err := c.PowerState(t.Context())
	require.ErrorContains(t, err, "no CIM_AssociatedPowerManagementService")
}

// §10.3: exact body; ReturnValue 0 is success, 2 is NOT_READY.
func TestRequestPowerStateChange(t *testing.T) {
	uri := wsman.CIM("CIM_PowerManagementService")
	c, d := newDevice(t, output(uri, "RequestPowerStateChange", "", 0), output(uri, "RequestPowerStateChange", "", 2))
	require.NoError(t, c.RequestPowerStateChange(t.Context(), PowerOffSoft))
	d.requireRequest(0, uri+"/RequestPowerStateChange", uri, "",
		`<h:RequestPowerStateChange_INPUT xmlns:h="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService"><h:PowerState>8</h:PowerState><h:ManagedElement><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="CreationClassName">CIM_ComputerSystem</Selector><Selector Name="Name">ManagedSystem</Selector></SelectorSet></ReferenceParameters></h:ManagedElement></h:RequestPowerStateChange_INPUT>`)

	err := c.RequestPowerStateChange(t.Context(), PowerOn)
	var rv *wsman.ReturnValueError
	require.ErrorAs(t, err, &rv)
	require.Equal(t, wsman.ReturnValueError{Method: "CIM_PowerManagementService.RequestPowerStateChange", Value: 2, Name: "NOT_READY"}, *rv)
	require.Contains(t, d.requests[1], "<h:PowerState>2</h:PowerState>")

	require.Error(t, c.RequestPowerStateChange(t.Context(), 17))
	require.Error(t, c.RequestPowerStateChange(t.Context(), 1))
}

func TestPowerCapabilities(t *testing.T) {
	boot := wsman.AMT("AMT_BootCapabilities")
	caps := wsman.CIM("CIM_PowerManagementCapabilities")
	c, d := newDevice(t,
		getResp(boot, `<g:AMT_BootCapabilities><g:BIOSReflash>true</g:BIOSReflash><g:BIOSSetup>true</g:BIOSSetup><g:ElementName>Intel(r) AMT: Boot Capabilities</g:ElementName><g:ForceDiagnosticBoot>false</g:ForceDiagnosticBoot><g:ForcePXEBoot>true</g:ForcePXEBoot><g:IDER>true</g:IDER><g:InstanceID>Intel(r) AMT:BootCapabilities 0</g:InstanceID><g:PlatformErase>0</g:PlatformErase><g:SOL>true</g:SOL><g:SecureErase>false</g:SecureErase></g:AMT_BootCapabilities>`),
		getResp(caps, `<g:CIM_PowerManagementCapabilities><g:ElementName>Power Management Capabilities</g:ElementName><g:InstanceID>Intel(r) AMT:PowerManagementCapabilities</g:InstanceID><g:PowerChangeCapabilities>3</g:PowerChangeCapabilities><g:PowerStatesSupported>5</g:PowerStatesSupported><g:PowerStatesSupported>8</g:PowerStatesSupported><g:PowerStatesSupported>2</g:PowerStatesSupported><g:PowerStatesSupported>10</g:PowerStatesSupported><g:PowerStatesSupported>11</g:PowerStatesSupported><g:PowerStatesSupported>12</g:PowerStatesSupported><g:PowerStatesSupported>14</g:PowerStatesSupported></g:CIM_PowerManagementCapabilities>`))
	bc, err := c.BootCapabilities(t.Context())
	require.NoError(t, err)
	d.requireRequest(0, wsman.ActionGet, boot, "", "")
	require.True(t, bc.BIOSSetup)
	require.True(t, bc.IDER && bc.SOL && bc.ForcePXEBoot && bc.BIOSReflash)
	require.False(t, bc.SecureErase || bc.ForceDiagnosticBoot)
	require.Equal(t, "Intel(r) AMT:BootCapabilities 0", bc.InstanceID)

	pc, err := c.PowerManagementCapabilities(t.Context())
	require.NoError(t, err)
	d.requireRequest(1, wsman.ActionGet, caps, "", "")
	require.Equal(t, []PowerState{5, 8, 2, 10, 11, 12, 14}, pc.PowerStatesSupported)
	require.Equal(t, []int{3}, pc.PowerChangeCapabilities)
}
