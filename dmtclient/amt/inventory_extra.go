package amt

import (
	"context"
	"errors"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// MediaAccessDevice is one CIM_MediaAccessDevice (a storage drive). MaxMediaSize is in kilobytes.
type MediaAccessDevice struct {
	DeviceID                string
	ElementName             string
	Capabilities            []int
	MaxMediaSize            uint64
	EnabledDefault          int
	EnabledState            int
	OperationalStatus       []int
	RequestedState          int
	Security                int
	CreationClassName       string
	SystemCreationClassName string
	SystemName              string
}

// Chip is one CIM_Chip (the processor package; Version is the CPU brand string).
type Chip struct {
	ElementName       string
	Manufacturer      string
	Version           string
	Tag               string
	CanBeFRUed        bool
	CreationClassName string
	OperationalStatus []int
}

// HardwareExtra is what MPS's hardwareInfo enumerates besides the summary (§10.1 "HW extra"): CIM_MediaAccessDevice,
// CIM_PhysicalPackage (AMT answers with CIM_Card items), CIM_SystemPackaging (CIM_ComputerSystemPackage items) and
// CIM_Chip. A nil slice is a class the firmware faulted.
type HardwareExtra struct {
	MediaAccessDevices []MediaAccessDevice
	PhysicalPackages   []PhysicalPackage
	SystemPackaging    []ComputerSystemPackage
	Chips              []Chip
}

// hardwareExtra enumerates the four classes; a WS-Man fault on one (older firmware) leaves it nil, any other error
// ends the read.
func (c *Client) hardwareExtra(ctx context.Context) (HardwareExtra, error) {
	var x HardwareExtra
	var err error
	tolerate := func(e error) error {
		var fault *wsman.FaultError
		if errors.As(e, &fault) {
			return nil
		}
		return e
	}
	if x.MediaAccessDevices, err = enumerate[MediaAccessDevice](ctx, c, uriMediaAccessDevice); tolerate(err) != nil {
		return HardwareExtra{}, err
	}
	if x.PhysicalPackages, err = enumerateAs[PhysicalPackage](ctx, c, uriPhysicalPackage, "CIM_Card"); tolerate(err) != nil {
		return HardwareExtra{}, err
	}
	if x.SystemPackaging, err = enumerateAs[ComputerSystemPackage](ctx, c, uriSystemPackaging, "CIM_ComputerSystemPackage"); tolerate(err) != nil {
		return HardwareExtra{}, err
	}
	if x.Chips, err = enumerate[Chip](ctx, c, uriChip); tolerate(err) != nil {
		return HardwareExtra{}, err
	}
	return x, nil
}
