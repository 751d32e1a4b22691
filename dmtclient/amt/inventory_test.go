package amt

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

func TestVersion(t *testing.T) {
	sw := wsman.CIM("CIM_SoftwareIdentity")
	setup := wsman.AMT("AMT_SetupAndConfigurationService")
	// The 11 InstanceIDs of the go-wsman fixture (§13).
	ids := []string{"Flash", "Netstack", "AMTApps", "AMT", "Sku", "VendorID", "Build Number", "Recovery Version",
		"Recovery Build Num", "Legacy Mode", "AMT FW Core Version"}
	var items strings.Builder
	for i, id := range ids {
		fmt.Fprintf(&items, `<h:CIM_SoftwareIdentity xmlns:h="%s"><h:InstanceID>%s</h:InstanceID><h:IsEntity>true</h:IsEntity><h:VersionString>v%d</h:VersionString></h:CIM_SoftwareIdentity>`, sw, id, i)
	}
	c, d := newDevice(t, enumerateResp(sw), pullResp(sw, items.String()),
		getResp(setup, `<g:AMT_SetupAndConfigurationService><g:CreationClassName>AMT_SetupAndConfigurationService</g:CreationClassName><g:ElementName>Intel(r) AMT Setup and Configuration Service</g:ElementName><g:EnabledState>5</g:EnabledState><g:Name>Intel(r) AMT Setup and Configuration Service</g:Name><g:PasswordModel>1</g:PasswordModel><g:ProvisioningMode>4</g:ProvisioningMode><g:ProvisioningServerOTP></g:ProvisioningServerOTP><g:ProvisioningState>2</g:ProvisioningState><g:RequestedState>12</g:RequestedState><g:SystemCreationClassName>CIM_ComputerSystem</g:SystemCreationClassName><g:SystemName>Intel(r) AMT</g:SystemName><g:ZeroTouchConfigurationEnabled>true</g:ZeroTouchConfigurationEnabled></g:AMT_SetupAndConfigurationService>`))
	v, err := c.Version(t.Context())
	require.NoError(t, err)
	d.requireEnumeration(0, sw)
	d.requireRequest(2, wsman.ActionGet, setup, "", "")
	require.Len(t, v.Software, 11)
	require.Equal(t, "v3", v.Get("AMT"))
	require.Equal(t, "v6", v.Get("Build Number"))
	require.Empty(t, v.Get("nope"))
	require.True(t, v.Software[0].IsEntity)
	require.Equal(t, 4, v.Setup.ProvisioningMode)
	require.Equal(t, 2, v.Setup.ProvisioningState)
	require.True(t, v.Setup.ZeroTouchConfigurationEnabled)
}

func TestHardware(t *testing.T) {
	pkg, chassis, card := wsman.CIM("CIM_ComputerSystemPackage"), wsman.CIM("CIM_Chassis"), wsman.CIM("CIM_Card")
	bios, cpu, mem := wsman.CIM("CIM_BIOSElement"), wsman.CIM("CIM_Processor"), wsman.CIM("CIM_PhysicalMemory")
	media, physPkg := wsman.CIM("CIM_MediaAccessDevice"), wsman.CIM("CIM_PhysicalPackage")
	sysPkg, chip := wsman.CIM("CIM_SystemPackaging"), wsman.CIM("CIM_Chip")
	c, d := newDevice(t,
		// §13: the MPS CIRAHandler sample carries PlatformGUID 44454C4C4B0010428033B6C04F504633.
		getResp(pkg, `<g:CIM_ComputerSystemPackage><g:Antecedent><b:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:Address><b:ReferenceParameters><c:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Chassis</c:ResourceURI><c:SelectorSet><c:Selector Name="CreationClassName">CIM_Chassis</c:Selector><c:Selector Name="Tag">CIM_Chassis</c:Selector></c:SelectorSet></b:ReferenceParameters></g:Antecedent><g:Dependent><b:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:Address><b:ReferenceParameters><c:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</c:ResourceURI><c:SelectorSet><c:Selector Name="CreationClassName">CIM_ComputerSystem</c:Selector><c:Selector Name="Name">ManagedSystem</c:Selector></c:SelectorSet></b:ReferenceParameters></g:Dependent><g:PlatformGUID>44454C4C4B0010428033B6C04F504633</g:PlatformGUID></g:CIM_ComputerSystemPackage>`),
		getResp(chassis, `<g:CIM_Chassis><g:ChassisPackageType>0</g:ChassisPackageType><g:CreationClassName>CIM_Chassis</g:CreationClassName><g:ElementName>Managed System Chassis</g:ElementName><g:Manufacturer>Dell Inc.</g:Manufacturer><g:Model>Precision 3650</g:Model><g:PackageType>3</g:PackageType><g:SerialNumber>ABC1234</g:SerialNumber><g:Tag>CIM_Chassis</g:Tag><g:Version></g:Version></g:CIM_Chassis>`),
		// §13: the CIM_Card sample is Dell, Model 0MVDNX, Version A00.
		getResp(card, `<g:CIM_Card><g:CreationClassName>CIM_Card</g:CreationClassName><g:ElementName>Managed System Base Board</g:ElementName><g:Manufacturer>Dell Inc.</g:Manufacturer><g:Model>0MVDNX</g:Model><g:PackageType>9</g:PackageType><g:SerialNumber>/ABC1234/CNFCW0019S00QA/</g:SerialNumber><g:Tag>CIM_Card</g:Tag><g:Version>A00</g:Version></g:CIM_Card>`),
		getResp(bios, `<g:CIM_BIOSElement><g:ElementName>Primary BIOS</g:ElementName><g:Manufacturer>Dell Inc.</g:Manufacturer><g:Name>Primary BIOS</g:Name><g:PrimaryBIOS>true</g:PrimaryBIOS><g:ReleaseDate><h:Datetime>2022-07-05T00:00:00Z</h:Datetime></g:ReleaseDate><g:SoftwareElementID>1.14.0</g:SoftwareElementID><g:SoftwareElementState>2</g:SoftwareElementState><g:TargetOperatingSystem>66</g:TargetOperatingSystem><g:Version>1.14.0</g:Version></g:CIM_BIOSElement>`),
		enumerateResp(cpu),
		pullResp(cpu, `<h:CIM_Processor xmlns:h="`+cpu+`"><h:CPUStatus>1</h:CPUStatus><h:CreationClassName>CIM_Processor</h:CreationClassName><h:CurrentClockSpeed>2900</h:CurrentClockSpeed><h:DeviceID>CPU 0</h:DeviceID><h:ElementName>Managed System CPU</h:ElementName><h:EnabledState>2</h:EnabledState><h:ExternalBusClockSpeed>100</h:ExternalBusClockSpeed><h:Family>198</h:Family><h:HealthState>0</h:HealthState><h:MaxClockSpeed>8300</h:MaxClockSpeed><h:OperationalStatus>0</h:OperationalStatus><h:Role>Central Processor</h:Role><h:Stepping>1</h:Stepping><h:UpgradeMethod>1</h:UpgradeMethod></h:CIM_Processor>`),
		enumerateResp(mem),
		pullResp(mem, `<h:CIM_PhysicalMemory xmlns:h="`+mem+`"><h:BankLabel>BANK 0</h:BankLabel><h:Capacity>17179869184</h:Capacity><h:ConfiguredMemoryClockSpeed>3200</h:ConfiguredMemoryClockSpeed><h:FormFactor>13</h:FormFactor><h:Manufacturer>80AD000080AD</h:Manufacturer><h:MaxMemorySpeed>3200</h:MaxMemorySpeed><h:MemoryType>26</h:MemoryType><h:PartNumber>HMA82GU6DJR8N-XN</h:PartNumber><h:SerialNumber>1234ABCD</h:SerialNumber><h:Speed>0</h:Speed></h:CIM_PhysicalMemory><h:CIM_PhysicalMemory xmlns:h="`+mem+`"><h:BankLabel>BANK 1</h:BankLabel><h:Capacity>17179869184</h:Capacity></h:CIM_PhysicalMemory>`),
		enumerateResp(media),
		pullResp(media, `<h:CIM_MediaAccessDevice xmlns:h="`+media+`"><h:Capabilities>4</h:Capabilities><h:CreationClassName>CIM_MediaAccessDevice</h:CreationClassName><h:DeviceID>MEDIA DEV 0</h:DeviceID><h:ElementName>Managed System Media Access Device</h:ElementName><h:EnabledDefault>2</h:EnabledDefault><h:EnabledState>0</h:EnabledState><h:MaxMediaSize>960197124</h:MaxMediaSize><h:OperationalStatus>0</h:OperationalStatus><h:RequestedState>12</h:RequestedState><h:Security>2</h:Security><h:SystemCreationClassName>CIM_ComputerSystem</h:SystemCreationClassName><h:SystemName>ManagedSystem</h:SystemName></h:CIM_MediaAccessDevice>`),
		enumerateResp(physPkg),
		pullResp(physPkg, `<h:CIM_Card xmlns:h="`+card+`"><h:CanBeFRUed>true</h:CanBeFRUed><h:CreationClassName>CIM_Card</h:CreationClassName><h:Manufacturer>Dell Inc.</h:Manufacturer><h:Model>0MVDNX</h:Model><h:PackageType>9</h:PackageType><h:Tag>CIM_Card</h:Tag></h:CIM_Card>`),
		enumerateResp(sysPkg),
		pullResp(sysPkg, `<h:CIM_ComputerSystemPackage xmlns:h="`+pkg+`"><h:PlatformGUID>44454C4C4B0010428033B6C04F504633</h:PlatformGUID></h:CIM_ComputerSystemPackage>`),
		enumerateResp(chip),
		pullResp(chip, `<h:CIM_Chip xmlns:h="`+chip+`"><h:CanBeFRUed>true</h:CanBeFRUed><h:CreationClassName>CIM_Chip</h:CreationClassName><h:ElementName>Managed System Processor Chip</h:ElementName><h:Manufacturer>Intel(R) Corporation</h:Manufacturer><h:OperationalStatus>0</h:OperationalStatus><h:Tag>CPU 0</h:Tag><h:Version>Intel(R) Core(TM) i7-9850H CPU @ 2.60GHz</h:Version></h:CIM_Chip>`),
	)
	hw, err := c.Hardware(t.Context())
	require.NoError(t, err)
	for i, uri := range []string{pkg, chassis, card, bios} {
		d.requireRequest(i, wsman.ActionGet, uri, "", "")
	}
	d.requireEnumeration(4, cpu)
	d.requireEnumeration(6, mem)
	for i, uri := range []string{media, physPkg, sysPkg, chip} {
		d.requireEnumeration(8+2*i, uri)
	}
	require.Equal(t, []MediaAccessDevice{{DeviceID: "MEDIA DEV 0", ElementName: "Managed System Media Access Device",
		Capabilities: []int{4}, MaxMediaSize: 960197124, EnabledDefault: 2, OperationalStatus: []int{0}, RequestedState: 12,
		Security: 2, CreationClassName: "CIM_MediaAccessDevice", SystemCreationClassName: "CIM_ComputerSystem",
		SystemName: "ManagedSystem"}}, hw.Extra.MediaAccessDevices)
	require.Equal(t, []PhysicalPackage{{Manufacturer: "Dell Inc.", Model: "0MVDNX", Tag: "CIM_Card", PackageType: 9}},
		hw.Extra.PhysicalPackages)
	require.Equal(t, []ComputerSystemPackage{{PlatformGUID: "44454C4C4B0010428033B6C04F504633"}}, hw.Extra.SystemPackaging)
	require.Equal(t, []Chip{{ElementName: "Managed System Processor Chip", Manufacturer: "Intel(R) Corporation",
		Version: "Intel(R) Core(TM) i7-9850H CPU @ 2.60GHz", Tag: "CPU 0", CanBeFRUed: true, CreationClassName: "CIM_Chip",
		OperationalStatus: []int{0}}}, hw.Extra.Chips)
	require.Equal(t, "44454C4C4B0010428033B6C04F504633", hw.SystemPackage.PlatformGUID)
	require.Equal(t, "ManagedSystem", hw.SystemPackage.Dependent.Selector("Name"))
	require.Equal(t, wsman.CIM("CIM_Chassis"), hw.SystemPackage.Antecedent.ResourceURI)
	require.Equal(t, PhysicalPackage{ElementName: "Managed System Base Board", Manufacturer: "Dell Inc.", Model: "0MVDNX",
		SerialNumber: "/ABC1234/CNFCW0019S00QA/", Version: "A00", Tag: "CIM_Card", PackageType: 9}, hw.BaseBoard)
	require.Equal(t, "Precision 3650", hw.Chassis.Model)
	require.Equal(t, "2022-07-05T00:00:00Z", hw.BIOS.ReleaseDate)
	require.True(t, hw.BIOS.PrimaryBIOS)
	require.Len(t, hw.Processors, 1)
	require.Equal(t, 8300, hw.Processors[0].MaxClockSpeed)
	require.Equal(t, "1", hw.Processors[0].Stepping)
	require.Len(t, hw.Memory, 2)
	require.Equal(t, uint64(17179869184), hw.Memory[0].Capacity)
	require.Equal(t, "HMA82GU6DJR8N-XN", hw.Memory[0].PartNumber)
}

// A platform without CIM_Card answers the Get with the §9.2 fault; the summary still completes.
func TestHardwareWithoutBaseBoard(t *testing.T) {
	pkg, chassis, card := wsman.CIM("CIM_ComputerSystemPackage"), wsman.CIM("CIM_Chassis"), wsman.CIM("CIM_Card")
	bios, cpu, mem := wsman.CIM("CIM_BIOSElement"), wsman.CIM("CIM_Processor"), wsman.CIM("CIM_PhysicalMemory")
	fault := amtResp("http://schemas.xmlsoap.org/ws/2004/08/addressing/fault", card,
		`<a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>b:DestinationUnreachable</a:Value></a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">No route can be determined to reach the destination role defined by the WSAddressing To.</a:Text></a:Reason><a:Detail></a:Detail></a:Fault>`)
	c, _ := newDevice(t, getResp(pkg, `<g:CIM_ComputerSystemPackage></g:CIM_ComputerSystemPackage>`),
		getResp(chassis, `<g:CIM_Chassis></g:CIM_Chassis>`), fault, getResp(bios, `<g:CIM_BIOSElement></g:CIM_BIOSElement>`),
		enumerateResp(cpu), pullResp(cpu, ""), enumerateResp(mem), pullResp(mem, ""),
		fault, fault, fault, fault) // older firmware: the extras' enumerations fault
	hw, err := c.Hardware(t.Context())
	require.NoError(t, err)
	require.Empty(t, hw.Processors)
	require.Empty(t, hw.BaseBoard.Model)
	require.Equal(t, HardwareExtra{}, hw.Extra)
}
