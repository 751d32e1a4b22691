package amt

import (
	"context"
	"errors"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// SoftwareIdentity is one CIM_SoftwareIdentity instance; AMT lists its firmware facts this way (InstanceID
// "AMT", "Flash", "Build Number", "Sku", …, §13).
type SoftwareIdentity struct {
	InstanceID    string
	IsEntity      bool
	VersionString string
}

// SetupAndConfigurationService is AMT_SetupAndConfigurationService: provisioning mode and state (§10.1).
type SetupAndConfigurationService struct {
	CreationClassName             string
	ElementName                   string
	EnabledState                  int
	Name                          string
	PasswordModel                 int
	ProvisioningMode              int // 1 ACM, 4 CCM
	ProvisioningServerOTP         string
	ProvisioningState             int // 0 pre, 1 in, 2 post
	RequestedState                int
	SystemCreationClassName       string
	SystemName                    string
	ZeroTouchConfigurationEnabled bool
	ConfigurationServerFQDN       string
}

// Version is what MPS's version call returns: the firmware identities and the provisioning service.
type Version struct {
	Software []SoftwareIdentity
	Setup    SetupAndConfigurationService
}

// Get returns the VersionString of the identity with the given InstanceID ("AMT", "Build Number", "Sku"…).
func (v Version) Get(instanceID string) string {
	for _, s := range v.Software {
		if s.InstanceID == instanceID {
			return s.VersionString
		}
	}
	return ""
}

// SoftwareIdentities enumerates CIM_SoftwareIdentity.
func (c *Client) SoftwareIdentities(ctx context.Context) ([]SoftwareIdentity, error) {
	return enumerate[SoftwareIdentity](ctx, c, uriSoftwareIdentity)
}

// SetupAndConfigurationService reads AMT_SetupAndConfigurationService.
func (c *Client) SetupAndConfigurationService(ctx context.Context) (SetupAndConfigurationService, error) {
	var v SetupAndConfigurationService
	return v, c.get(ctx, uriSetupAndConfigurationService, &v)
}

// Version reads the firmware identities and the provisioning service.
func (c *Client) Version(ctx context.Context) (Version, error) {
	sw, err := c.SoftwareIdentities(ctx)
	if err != nil {
		return Version{}, err
	}
	setup, err := c.SetupAndConfigurationService(ctx)
	if err != nil {
		return Version{}, err
	}
	return Version{Software: sw, Setup: setup}, nil
}

// ComputerSystemPackage is CIM_ComputerSystemPackage; PlatformGUID is the raw UUID hex (§10.1).
type ComputerSystemPackage struct {
	PlatformGUID string
	Antecedent   wsman.EPR
	Dependent    wsman.EPR
}

// PhysicalPackage holds the fields CIM_Chassis and CIM_Card share.
type PhysicalPackage struct {
	ElementName        string
	Manufacturer       string
	Model              string
	SerialNumber       string
	Version            string
	Tag                string
	PackageType        int
	ChassisPackageType int // CIM_Chassis only
}

// BIOSElement is CIM_BIOSElement. ReleaseDate is the CIM datetime text.
type BIOSElement struct {
	ElementName           string
	Manufacturer          string
	Name                  string
	Version               string
	SoftwareElementID     string
	ReleaseDate           string `xml:"ReleaseDate>Datetime"`
	PrimaryBIOS           bool
	TargetOperatingSystem int
}

// Processor is one CIM_Processor.
type Processor struct {
	DeviceID              string
	ElementName           string
	Family                int
	MaxClockSpeed         int // MHz
	CurrentClockSpeed     int
	ExternalBusClockSpeed int
	Stepping              string
	CPUStatus             int
	UpgradeMethod         int
	HealthState           int
	EnabledState          int
	Role                  string
}

// PhysicalMemory is one CIM_PhysicalMemory (a DIMM).
type PhysicalMemory struct {
	ElementName                string
	BankLabel                  string
	Capacity                   uint64 // bytes
	ConfiguredMemoryClockSpeed int
	MaxMemorySpeed             int
	Speed                      int
	MemoryType                 int
	FormFactor                 int
	Manufacturer               string
	PartNumber                 string
	SerialNumber               string
}

// Hardware is the hardware summary MPS builds (§10.1 HW rows, HW extra included). The extras are nil when the
// firmware faulted their enumeration (MPS then reports status 400 for them).
type Hardware struct {
	SystemPackage ComputerSystemPackage
	Chassis       PhysicalPackage
	BaseBoard     PhysicalPackage
	BIOS          BIOSElement
	Processors    []Processor
	Memory        []PhysicalMemory
	Extra         HardwareExtra
}

// Hardware reads the hardware summary. A fault on the base board is tolerated (not every platform has CIM_Card);
// processors and memory are enumerated, since some AMT 21 platforms fault a CIM_Processor Get (§9.2).
func (c *Client) Hardware(ctx context.Context) (Hardware, error) {
	var hw Hardware
	if err := c.get(ctx, uriComputerSystemPackage, &hw.SystemPackage); err != nil {
		return Hardware{}, err
	}
	if err := c.get(ctx, uriChassis, &hw.Chassis); err != nil {
		return Hardware{}, err
	}
	var fault *wsman.FaultError
	if err := c.get(ctx, uriCard, &hw.BaseBoard); err != nil && !errors.As(err, &fault) {
		return Hardware{}, err
	}
	if err := c.get(ctx, uriBIOSElement, &hw.BIOS); err != nil {
		return Hardware{}, err
	}
	var err error
	if hw.Processors, err = enumerate[Processor](ctx, c, uriProcessor); err != nil {
		return Hardware{}, err
	}
	if hw.Memory, err = enumerate[PhysicalMemory](ctx, c, uriPhysicalMemory); err != nil {
		return Hardware{}, err
	}
	if hw.Extra, err = c.hardwareExtra(ctx); err != nil {
		return Hardware{}, err
	}
	return hw, nil
}
