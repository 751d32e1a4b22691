package amt

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// PowerState is a DMTF power state, both as reported (CIM_AssociatedPowerManagementService.PowerState) and as
// requested (RequestPowerStateChange); value map in protocol-cira-wsman §10.2.
type PowerState int

// DMTF power states 2..16 (§10.2). In AMT practice 5 is a hard power cycle, 8 a hard power down, 10 a reset;
// 4, 7, 12 and 14 need an OS agent.
const (
	PowerOn                   PowerState = 2
	SleepLight                PowerState = 3
	SleepDeep                 PowerState = 4
	PowerCycleOffSoft         PowerState = 5
	PowerOffHard              PowerState = 6
	Hibernate                 PowerState = 7
	PowerOffSoft              PowerState = 8
	PowerCycleOffHard         PowerState = 9
	MasterBusReset            PowerState = 10
	DiagnosticInterrupt       PowerState = 11
	PowerOffSoftGraceful      PowerState = 12
	PowerOffHardGraceful      PowerState = 13
	MasterBusResetGraceful    PowerState = 14
	PowerCycleOffSoftGraceful PowerState = 15
	PowerCycleOffHardGraceful PowerState = 16
)

var powerStateNames = map[PowerState]string{
	PowerOn: "Power On", SleepLight: "Sleep - Light", SleepDeep: "Sleep - Deep",
	PowerCycleOffSoft: "Power Cycle (Off Soft)", PowerOffHard: "Power Off - Hard", Hibernate: "Hibernate",
	PowerOffSoft: "Power Off - Soft", PowerCycleOffHard: "Power Cycle (Off Hard)", MasterBusReset: "Master Bus Reset",
	DiagnosticInterrupt: "Diagnostic Interrupt (NMI)", PowerOffSoftGraceful: "Power Off - Soft Graceful",
	PowerOffHardGraceful: "Power Off - Hard Graceful", MasterBusResetGraceful: "Master Bus Reset Graceful",
	PowerCycleOffSoftGraceful: "Power Cycle (Off - Soft Graceful)",
	PowerCycleOffHardGraceful: "Power Cycle (Off - Hard Graceful)",
}

func (s PowerState) String() string {
	if n, ok := powerStateNames[s]; ok {
		return n
	}
	return "PowerState(" + strconv.Itoa(int(s)) + ")"
}

// PowerStatus is the CIM_AssociatedPowerManagementService instance (§10.1).
type PowerStatus struct {
	PowerState                    PowerState   `xml:"PowerState"`
	AvailableRequestedPowerStates []PowerState `xml:"AvailableRequestedPowerStates"`
	RequestedPowerState           PowerState   `xml:"RequestedPowerState"`
}

// PowerState reads the current power state and the actions AMT offers: Enumerate + Pull of
// CIM_ServiceAvailableToElement (§10.1, §10.5).
func (c *Client) PowerState(ctx context.Context) (PowerStatus, error) {
	items, err := c.ws.EnumerateAll(ctx, uriServiceAvailableToElement)
	if err != nil {
		return PowerStatus{}, err
	}
	for _, it := range items {
		if it.Name == "CIM_AssociatedPowerManagementService" {
			var st PowerStatus
			if err := it.Decode(&st); err != nil {
				return PowerStatus{}, err
			}
			return st, nil
		}
	}
	return PowerStatus{}, fmt.Errorf("AMT listed no CIM_AssociatedPowerManagementService in %d CIM_ServiceAvailableToElement items", len(items))
}

// RequestPowerStateChange asks AMT for a power action (§10.3 body, ManagedElement = CIM_ComputerSystem
// ManagedSystem). A non-zero ReturnValue comes back as *wsman.ReturnValueError labelled with PT_STATUS names
// (e.g. NOT_READY when the action does not apply in the current state).
func (c *Client) RequestPowerStateChange(ctx context.Context, state PowerState) error {
	if state < PowerOn || state > PowerCycleOffHardGraceful {
		return fmt.Errorf("power state %d is not a DMTF power state (2..16)", state)
	}
	return c.invoke(ctx, uriPowerManagementService, "RequestPowerStateChange", nil,
		wsman.Int("PowerState", int64(state)),
		wsman.Ref("ManagedElement", wsman.EPR{
			// The Address is the addressing namespace itself, as both reference libraries send it (§10.3).
			Address:     wsman.NSAddressing,
			ResourceURI: uriComputerSystem,
			Selectors: []wsman.Selector{
				{Name: "CreationClassName", Value: "CIM_ComputerSystem"},
				{Name: "Name", Value: "ManagedSystem"},
			},
		}))
}

// BootCapabilities is AMT_BootCapabilities: what the firmware can do around a power action.
type BootCapabilities struct {
	ElementName                        string
	InstanceID                         string
	IDER                               bool
	SOL                                bool
	BIOSReflash                        bool
	BIOSSetup                          bool
	BIOSPause                          bool
	ForcePXEBoot                       bool
	ForceHardDriveBoot                 bool
	ForceHardDriveSafeModeBoot         bool
	ForceDiagnosticBoot                bool
	ForceCDorDVDBoot                   bool
	VerbosityScreenBlank               bool
	PowerButtonLock                    bool
	ResetButtonLock                    bool
	KeyboardLock                       bool
	SleepButtonLock                    bool
	UserPasswordBypass                 bool
	ForcedProgressEvents               bool
	VerbosityVerbose                   bool
	VerbosityQuiet                     bool
	ConfigurationDataReset             bool
	BIOSSecureBoot                     bool
	SecureErase                        bool
	ForceWinREBoot                     bool
	ForceUEFILocalPBABoot              bool `xml:"ForceUEFIPBABoot"` // the wire name (protocol-recovery §0.4)
	ForceUEFIHTTPSBoot                 bool
	AMTSecureBootControl               bool
	UEFIWiFiCoExistenceAndProfileShare bool
	PlatformErase                      int
}

// BootCapabilities reads AMT_BootCapabilities (what MPS reports as power capabilities).
func (c *Client) BootCapabilities(ctx context.Context) (BootCapabilities, error) {
	var v BootCapabilities
	return v, c.get(ctx, uriBootCapabilities, &v)
}

// PowerManagementCapabilities is CIM_PowerManagementCapabilities.
type PowerManagementCapabilities struct {
	ElementName                   string
	InstanceID                    string
	PowerChangeCapabilities       []int
	PowerStatesSupported          []PowerState
	RequestedPowerStatesSupported []PowerState
}

// PowerManagementCapabilities reads the DMTF power capabilities (e.g. PowerStatesSupported 5, 8, 2, 10, 11, 12, 14).
func (c *Client) PowerManagementCapabilities(ctx context.Context) (PowerManagementCapabilities, error) {
	var v PowerManagementCapabilities
	return v, c.get(ctx, uriPowerManagementCapabilities, &v)
}
