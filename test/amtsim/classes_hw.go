package amtsim

import (
	"strconv"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// moreHardwareClasses are the rest of what MPS's hardwareInfo, features and certificate
// reads enumerate (protocol-cira-wsman §10.1 "HW extra"; shapes as in the go-wsman
// fixtures, see test/amtsim/README.md "Class data"): storage, the package and system
// packaging views, the CPU chip, the account and certificate associations and the
// KVM screen layout.
func moreHardwareClasses() []*class {
	media := cimClass("CIM_MediaAccessDevice")
	media.list = mediaAccessDevices

	// CIM_PhysicalPackage and CIM_SystemPackaging are parents of classes served
	// above; AMT answers their enumerations with the subclass instances.
	pp := cimClass("CIM_PhysicalPackage")
	pp.itemsNS = soap.CIMPrefix + "CIM_Card"
	pp.list = baseBoard
	sp := cimClass("CIM_SystemPackaging")
	sp.itemsNS = soap.CIMPrefix + "CIM_ComputerSystemPackage"
	sp.list = computerSystemPackage

	chip := cimClass("CIM_Chip")
	chip.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{{Class: "CIM_Chip", Props: []soap.Prop{
			soap.P("CanBeFRUed", "true"), soap.P("CreationClassName", "CIM_Chip"),
			soap.P("ElementName", "Managed System Processor Chip"), soap.P("Manufacturer", "Intel(R) Corporation"),
			soap.P("OperationalStatus", "0"), soap.P("Tag", "CPU 0"),
			soap.P("Version", "11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz"),
		}}}
	}

	dep := cimClass("CIM_ConcreteDependency")
	dep.list = concreteDependencies

	// No TLS or 802.1x credential is configured on the simulated device, so no
	// certificate provides a context: the enumeration is empty, as on such a device.
	cred := cimClass("CIM_CredentialContext")
	cred.list = func(*Device) []*soap.Instance { return nil }

	screen := ipsClass("IPS_ScreenSettingData")
	screen.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{{Class: "IPS_ScreenSettingData", Props: []soap.Prop{
			soap.P("ElementName", "Intel(r) Screen Settings"), soap.P("InstanceID", "Intel(r) Screen Settings"),
			soap.P("IsActive", "true", "false", "false", "false"), soap.P("PrimaryIndex", "1"),
			soap.P("QuadraryIndex", "4"), soap.P("ResolutionX", "1920", "0", "0", "0"),
			soap.P("ResolutionY", "1080", "0", "0", "0"), soap.P("SecondaryIndex", "2"), soap.P("TertiaryIndex", "3"),
			soap.P("UpperLeftX", "0", "-1", "-1", "-1"), soap.P("UpperLeftY", "0", "-1", "-1", "-1"),
		}}}
	}
	return []*class{media, pp, sp, chip, dep, cred, screen}
}

// mediaAccessDevices is one NVMe drive of 512 GB (MaxMediaSize in kilobytes).
func mediaAccessDevices(*Device) []*soap.Instance {
	return []*soap.Instance{{Class: "CIM_MediaAccessDevice", Props: []soap.Prop{
		soap.P("Capabilities", "4"), soap.P("CreationClassName", "CIM_MediaAccessDevice"),
		soap.P("DeviceID", "MEDIA DEV 0"), soap.P("ElementName", "Managed System Media Access Device"),
		soap.P("EnabledDefault", "2"), soap.P("EnabledState", "0"), soap.P("MaxMediaSize", strconv.Itoa(500107862)),
		soap.P("OperationalStatus", "0"), soap.P("RequestedState", "12"), soap.P("Security", "2"),
		soap.P("SystemCreationClassName", "CIM_ComputerSystem"), soap.P("SystemName", "ManagedSystem"),
	}}}
}

// concreteDependencies ties each digest account's identity to its role, as the
// fixture does for the local system account; the admin account exists once the
// device is provisioned. (Certificates with a private key would add certificate ->
// key pair entries; the simulated device holds no key pairs.)
func concreteDependencies(d *Device) []*soap.Instance {
	users := []string{d.cfg.LSAUser}
	if d.mode != PreProvisioning && d.adminUser != "" {
		users = append(users, d.adminUser)
	}
	out := make([]*soap.Instance, 0, len(users))
	for _, u := range users {
		name := "Intel(r) AMT:" + u
		out = append(out, &soap.Instance{Class: "CIM_ConcreteDependency", Props: []soap.Prop{
			soap.R("Antecedent", &soap.EPR{ResourceURI: soap.CIMPrefix + "CIM_Identity",
				Selectors: []soap.Selector{{Name: "InstanceID", Value: name}}}),
			soap.R("Dependent", &soap.EPR{ResourceURI: soap.CIMPrefix + "CIM_Role",
				Selectors: []soap.Selector{{Name: "CreationClassName", Value: "CIM_Role"}, {Name: "Name", Value: name}}}),
		}})
	}
	return out
}
