package amt

import (
	"context"
	"encoding/binary"
	"errors"
)

// Remote Platform Erase (protocol-recovery §2): AMT_BootCapabilities.PlatformErase says what the BIOS can erase,
// AMT_BootSettingData.RPEEnabled whether BIOS setup allows it; the erase is armed like a one-time boot with
// PlatformErase and an RPE bitmask parameter and runs at the next boot.

// PlatformErase bits (§2.2).
const (
	EraseSupported     = 0x1
	EraseAllSSDs       = 0x4
	EraseTPMClear      = 0x40
	EraseOEMAction     = 0x10000 // "unconfigure CSME" in both reference toolkits
	EraseRestoreBIOS   = 0x4000000
	biosStatusDone     = 0
	biosStatusRunning  = 1
	biosStatusNotDone  = 2
	biosStatusFailed   = 65535
	biosDetailNotSuppd = 3
)

// ErrRPEDisabledInBIOS: the BIOS does not allow Remote Platform Erase (RPEEnabled false); only BIOS setup changes it.
var ErrRPEDisabledInBIOS = errors.New("Remote Platform Erase is disabled in this device's BIOS setup; enable it there") //nolint:staticcheck // user-facing

// ArmPlatformErase arms an erase of the devices in mask for the next boot (§2.4 steps 1–7, without the power
// action): RPE enabled in CIM_BootService, any boot source cleared, AMT_BootSettingData written with PlatformErase
// and the bitmask parameter (and the SSD password when given), Boot Configuration 0 armed.
func (c *Client) ArmPlatformErase(ctx context.Context, mask uint32, ssdPassword string) error {
	if err := c.enableBootService(ctx, BootServiceRPE); err != nil {
		return err
	}
	cur, err := c.BootSettingData(ctx)
	if err != nil {
		return err
	}
	if !cur.RPEEnabled {
		return ErrRPEDisabledInBIOS
	}
	if err := c.ChangeBootOrder(ctx, ""); err != nil {
		return err
	}
	o := BootOptions{PlatformErase: true, RSEPassword: ssdPassword,
		UEFIParams: []TLV{{Type: TLVRPEDeviceBitmask, Value: binary.LittleEndian.AppendUint32(nil, mask)}}}
	if err := c.PutBootSettingData(ctx, cur, o); err != nil {
		return err
	}
	return c.SetBootConfigRole(ctx)
}

// EraseState is what the BIOS reports about an armed erase.
type EraseState string

const (
	EraseArmed      EraseState = "pending"     // waiting for the next boot
	EraseInProgress EraseState = "in-progress" // the BIOS is erasing
	EraseCompleted  EraseState = "completed"
	EraseFailed     EraseState = "failed"
)

// EraseProgress reads AMT_BootSettingData and interprets BIOSLastStatus (§0.3, §2.6): the options cleared with
// status 0 is a finished erase, 1 one in progress, 65535 a failure (word 1 the reason).
func (c *Client) EraseProgress(ctx context.Context) (EraseState, BootSettingData, error) {
	s, err := c.BootSettingData(ctx)
	if err != nil {
		return "", s, err
	}
	return eraseState(s), s, nil
}

func eraseState(s BootSettingData) EraseState {
	w0 := biosStatusNotDone
	if len(s.BIOSLastStatus) > 0 {
		w0 = s.BIOSLastStatus[0]
	}
	switch {
	case w0 == biosStatusFailed:
		return EraseFailed
	case w0 == biosStatusRunning:
		return EraseInProgress
	case w0 == biosStatusDone && s.OptionsCleared:
		return EraseCompleted
	}
	return EraseArmed
}

// BIOSFailure names BIOSLastStatus word 1.
func BIOSFailure(s BootSettingData) string {
	if len(s.BIOSLastStatus) < 2 {
		return "unknown"
	}
	switch s.BIOSLastStatus[1] {
	case 1:
		return "drive failure"
	case 2:
		return "drive password or authentication failure"
	case biosDetailNotSuppd:
		return "not supported"
	}
	return "ok"
}
