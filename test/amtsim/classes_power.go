package amtsim

import (
	"strconv"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// managedSystem is the CIM_ComputerSystem reference AMT power methods act on (§10.3).
var managedSystem = &soap.EPR{ResourceURI: soap.CIMPrefix + "CIM_ComputerSystem", Selectors: []soap.Selector{
	{Name: "CreationClassName", Value: "CIM_ComputerSystem"},
	{Name: "Name", Value: "ManagedSystem"},
}}

const powerServiceName = "Intel(r) AMT Power Management Service"

func itoas(v []int) []string {
	out := make([]string, len(v))
	for i, n := range v {
		out[i] = strconv.Itoa(n)
	}
	return out
}

// assocPower is the CIM_AssociatedPowerManagementService instance MPS reads for the
// power state (§10.1, fixture cim/associatedpower/managementservice/pull.xml).
func assocPower(d *Device) []*soap.Instance {
	return []*soap.Instance{{Class: "CIM_AssociatedPowerManagementService", Props: []soap.Prop{
		soap.P("AvailableRequestedPowerStates", itoas(d.power.available())...),
		soap.P("PowerState", strconv.Itoa(int(d.power.state))),
		soap.R("ServiceProvided", systemEPR("CIM_PowerManagementService", "Name", powerServiceName, soap.CIMPrefix)),
		soap.R("UserOfService", managedSystem),
	}}}
}

func powerClasses() []*class {
	sate := cimClass("CIM_ServiceAvailableToElement")
	sate.list = assocPower
	apms := cimClass("CIM_AssociatedPowerManagementService")
	apms.list = assocPower

	pms := cimClass("CIM_PowerManagementService")
	pms.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{service("CIM_PowerManagementService", powerServiceName,
			soap.P("EnabledState", "5"), soap.P("RequestedState", "12"))}
	}
	pms.methods = map[string]method{"RequestPowerStateChange": {
		params: []string{"PowerState", "ManagedElement", "Time", "TimeoutPeriod"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			state, target := p.int("PowerState"), p.ref("ManagedElement")
			if p.failed() {
				return nil, 0, nil
			}
			if target.ResourceURI != managedSystem.ResourceURI || selectorValue(target, "Name") != "ManagedSystem" {
				return nil, ptInvalidParameter, nil
			}
			return nil, c.d.requestPowerStateChange(state, c.who), nil
		},
	}}

	caps := cimClass("CIM_PowerManagementCapabilities")
	caps.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{{Class: "CIM_PowerManagementCapabilities", Props: []soap.Prop{
			soap.P("ElementName", "Intel(r) AMT Power Management Capabilities"),
			soap.P("InstanceID", "Intel(r) AMT:PowerManagementCapabilities 0"),
			soap.P("PowerChangeCapabilities", "3", "4"),
			soap.P("PowerStatesSupported", itoas([]int{actCycle, actOff, actOn, actReset, actNMI, actSoftOff, actSoftReset})...),
		}}}
	}

	ipsPower := ipsClass("IPS_PowerManagementService")
	ipsPower.list = func(d *Device) []*soap.Instance {
		return []*soap.Instance{service("IPS_PowerManagementService", "Intel(r) AMT Power Management Service",
			soap.P("OSPowerSavingState", strconv.Itoa(d.power.osPowerSavingState())))}
	}
	return []*class{sate, apms, pms, caps, ipsPower}
}
