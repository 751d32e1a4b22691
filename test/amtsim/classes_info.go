package amtsim

import (
	"encoding/base64"
	"strconv"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

func infoClasses() []*class {
	general := amtClass("AMT_GeneralSettings")
	general.list = func(d *Device) []*soap.Instance { return []*soap.Instance{d.settingsInstance(generalSettings)} }
	general.put = func(c *call, _ *soap.Instance, body *soap.Node) (*soap.Instance, *soap.Fault) {
		if f := c.d.putSettings(generalSettings, body); f != nil {
			return nil, f
		}
		return c.d.settingsInstance(generalSettings), nil
	}

	sw := cimClass("CIM_SoftwareIdentity")
	sw.list = softwareIdentity

	sac := amtClass("AMT_SetupAndConfigurationService")
	sac.list = func(d *Device) []*soap.Instance {
		mode, state := "1", "0" // ProvisioningMode 1 ACM / 4 CCM; ProvisioningState 0 pre / 2 post (§10.1)
		if d.mode == ClientControl {
			mode = "4"
		}
		if d.mode != PreProvisioning {
			state = "2"
		}
		return []*soap.Instance{service("AMT_SetupAndConfigurationService", "Intel(r) AMT Setup and Configuration Service",
			soap.P("EnabledState", "5"), soap.P("PasswordModel", "1"), soap.P("ProvisioningMode", mode),
			soap.P("ProvisioningState", state), soap.P("RequestedState", "12"),
			soap.P("ZeroTouchConfigurationEnabled", "true"))}
	}
	sac.methods = map[string]method{
		"Unprovision": {params: []string{"ProvisioningMode"}, run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			m := p.int("ProvisioningMode")
			if p.failed() {
				return nil, 0, nil
			}
			rv, post := c.d.unprovision(m, c.who)
			return nil, rv, post
		}},
		"SetMEBxPassword": {params: []string{"Password"}, run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			pw := p.str("Password")
			if p.failed() {
				return nil, 0, nil
			}
			return nil, c.d.setMEBxPassword(pw), nil
		}},
		"CommitChanges": {run: func(c *call, _ *params) ([]soap.Prop, int, func()) { return nil, ptSuccess, c.d.commitChangesLocked() }},
	}

	audit := amtClass("AMT_AuditLog")
	audit.list = func(d *Device) []*soap.Instance {
		return []*soap.Instance{service("AMT_AuditLog", "Intel(r) AMT:Audit Log",
			soap.P("CurrentNumberOfRecords", strconv.Itoa(len(d.audit.records))),
			soap.P("EnabledState", "2"), soap.P("MaxNumberOfRecords", strconv.Itoa(auditCapacity)),
			soap.P("OverwritePolicy", "2"), soap.P("RequestedState", "2"))}
	}
	audit.methods = map[string]method{"ReadRecords": {params: []string{"StartIndex"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			start := p.int("StartIndex")
			if p.failed() {
				return nil, 0, nil
			}
			total, recs, rv := c.d.readRecords(start)
			enc := make([]string, len(recs))
			for i, r := range recs {
				enc[i] = base64.StdEncoding.EncodeToString(r)
			}
			outs := []soap.Prop{soap.P("TotalRecordCount", strconv.Itoa(total)), soap.P("RecordsReturned", strconv.Itoa(len(recs)))}
			if len(enc) > 0 {
				outs = append(outs, soap.P("EventRecords", enc...))
			}
			return outs, rv, nil
		}}}
	out := append([]*class{general, sw, sac, audit, messageLogClass()}, hardwareClasses()...)
	return append(out, moreHardwareClasses()...)
}

// softwareIdentity lists the firmware components (fixture cim/software/identity/pull.xml
// has these eleven InstanceIDs, §13).
func softwareIdentity(d *Device) []*soap.Instance {
	v, b := d.cfg.Version, d.cfg.Build
	items := [][2]string{
		{"Flash", v}, {"Netstack", v}, {"AMTApps", v}, {"AMT", v}, {"Sku", d.cfg.SKU}, {"VendorID", "8086"},
		{"Build Number", b}, {"Recovery Version", v}, {"Recovery Build Num", b}, {"Legacy Mode", "False"},
		{"AMT FW Core Version", v + "." + b},
	}
	out := make([]*soap.Instance, len(items))
	for i, it := range items {
		out[i] = &soap.Instance{Class: "CIM_SoftwareIdentity", Props: []soap.Prop{
			soap.P("InstanceID", it[0]), soap.P("IsEntity", "true"), soap.P("VersionString", it[1]),
		}}
	}
	return out
}

// hardwareClasses are the inventory classes MPS hardwareInfo reads (§10.1). Serial
// numbers derive from the GUID so that each device is distinct and stable.
func hardwareClasses() []*class {
	pkg := cimClass("CIM_ComputerSystemPackage")
	pkg.list = computerSystemPackage
	chassis := cimClass("CIM_Chassis")
	chassis.list = func(d *Device) []*soap.Instance {
		return []*soap.Instance{{Class: "CIM_Chassis", Props: []soap.Prop{
			soap.P("ChassisPackageType", "0"), soap.P("CreationClassName", "CIM_Chassis"),
			soap.P("ElementName", "Managed System Chassis"), soap.P("Manufacturer", "Intel Corporation"),
			soap.P("Model", "NUC11TNHi5"), soap.P("OperationalStatus", "0"), soap.P("PackageType", "3"),
			soap.P("SerialNumber", "CH"+d.guid.RawHex()[:10]), soap.P("Tag", "CIM_Chassis"), soap.P("Version", "K90129-302"),
		}}}
	}
	card := cimClass("CIM_Card")
	card.list = baseBoard
	bios := cimClass("CIM_BIOSElement")
	bios.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{{Class: "CIM_BIOSElement", Props: []soap.Prop{
			soap.P("ElementName", "Primary BIOS"), soap.P("Manufacturer", "Intel Corp."), soap.P("Name", "Primary BIOS"),
			soap.P("OperationalStatus", "0"), soap.P("PrimaryBIOS", "true"),
			soap.DT("ReleaseDate", "2023-05-10T00:00:00Z"), soap.P("SoftwareElementID", "TNTGL357.0064.2023.0510.1616"),
			soap.P("SoftwareElementState", "2"), soap.P("TargetOperatingSystem", "66"),
			soap.P("Version", "TNTGL357.0064.2023.0510.1616"),
		}}}
	}
	cpu := cimClass("CIM_Processor")
	cpu.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{{Class: "CIM_Processor", Props: []soap.Prop{
			soap.P("CPUStatus", "1"), soap.P("CreationClassName", "CIM_Processor"), soap.P("CurrentClockSpeed", "2400"),
			soap.P("DeviceID", "CPU 0"), soap.P("ElementName", "Managed System CPU"), soap.P("EnabledState", "2"),
			soap.P("ExternalBusClockSpeed", "100"), soap.P("Family", "205"), soap.P("HealthState", "0"),
			soap.P("MaxClockSpeed", "4200"), soap.P("OperationalStatus", "0"), soap.P("RequestedState", "12"),
			soap.P("Role", "Central Processor"), soap.P("Stepping", "1"),
			soap.P("SystemCreationClassName", "CIM_ComputerSystem"), soap.P("SystemName", "ManagedSystem"),
			soap.P("UpgradeMethod", "1"),
		}}}
	}
	mem := cimClass("CIM_PhysicalMemory")
	mem.list = func(d *Device) []*soap.Instance {
		out := make([]*soap.Instance, 2)
		for i := range out {
			out[i] = &soap.Instance{Class: "CIM_PhysicalMemory", Props: []soap.Prop{
				soap.P("BankLabel", "BANK "+strconv.Itoa(i)), soap.P("Capacity", "17179869184"),
				soap.P("ConfiguredMemoryClockSpeed", "3200"), soap.P("CreationClassName", "CIM_PhysicalMemory"),
				soap.P("ElementName", "Managed System Memory Chip"), soap.P("FormFactor", "13"),
				soap.P("IsSpeedInMhz", "true"), soap.P("Manufacturer", "Kingston"), soap.P("MaxMemorySpeed", "3200"),
				soap.P("MemoryType", "26"), soap.P("PartNumber", "KF3200C20S4/16G"),
				soap.P("SerialNumber", d.guid.RawHex()[24:]+strconv.Itoa(i)), soap.P("Speed", "0"),
				soap.P("Tag", "9876543210 "+strconv.Itoa(i)),
			}}
		}
		return out
	}
	return []*class{pkg, chassis, card, bios, cpu, mem}
}

func computerSystemPackage(d *Device) []*soap.Instance {
	return []*soap.Instance{{Class: "CIM_ComputerSystemPackage", Props: []soap.Prop{
		soap.R("Antecedent", &soap.EPR{ResourceURI: soap.CIMPrefix + "CIM_Chassis", Selectors: []soap.Selector{
			{Name: "CreationClassName", Value: "CIM_Chassis"}, {Name: "Tag", Value: "CIM_Chassis"}}}),
		soap.R("Dependent", managedSystem),
		soap.P("PlatformGUID", d.guid.RawHex()),
	}}}
}

func baseBoard(d *Device) []*soap.Instance {
	return []*soap.Instance{{Class: "CIM_Card", Props: []soap.Prop{
		soap.P("CanBeFRUed", "true"), soap.P("CreationClassName", "CIM_Card"), soap.P("ElementName", "Managed System Base Board"),
		soap.P("Manufacturer", "Intel Corporation"), soap.P("Model", "NUC11TNBi5"),
		soap.P("OperationalStatus", "0"), soap.P("PackageType", "9"),
		soap.P("SerialNumber", "BB"+d.guid.RawHex()[:10]), soap.P("Tag", "CIM_Card"), soap.P("Version", "M11904-404"),
	}}}
}
