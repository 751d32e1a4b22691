package amtsim

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Remote Platform Erase (protocol-recovery §2): AMT_BootCapabilities.PlatformErase says what the BIOS can erase;
// an AMT_BootSettingData Put with PlatformErase true and an RPE device-bitmask parameter, armed for the next boot,
// makes the BIOS erase those devices at that boot. BIOSLastStatus reads [1, 0] while it runs and [0, 0] once done
// ([65535, 3] when the BIOS refuses). The BIOS then restarts the host; after a storage erase there is no OS.

// PlatformErase bits (§2.2).
const (
	eraseSupported = 0x1
	eraseSSD       = 0x4
	eraseVerify    = 0x8
	eraseReport    = 0x10
	eraseTPM       = 0x40
	eraseOEM       = 0x10000
	eraseNVM       = 0x2000000
	eraseBIOS      = 0x4000000
)

// eraseStep is how long the simulated BIOS takes per erased device.
const eraseStep = 300 * time.Millisecond

var eraseNames = []struct {
	bit  int
	name string
}{
	{eraseSSD, "ssd"}, {eraseVerify, "verify-storage"}, {eraseReport, "sanitization-report"}, {eraseTPM, "tpm"},
	{eraseOEM, "oem-action"}, {eraseNVM, "bios-nvm"}, {eraseBIOS, "bios-golden-config"},
}

// eraseMask is what the BIOS of a firmware version can erase: nothing before CSME 16; storage verification and
// sanitization reports from 18.
func eraseMask(major int) int {
	switch {
	case major >= 18:
		return eraseSupported | eraseSSD | eraseVerify | eraseReport | eraseTPM | eraseOEM | eraseBIOS
	case major >= 16:
		return eraseSupported | eraseSSD | eraseTPM | eraseOEM | eraseBIOS
	}
	return 0
}

// EraseStatus is the control API's view of the last platform erase.
type EraseStatus struct {
	State    string   `json:"state"` // "in-progress", "completed", "refused"
	Devices  []string `json:"devices"`
	Progress int      `json:"progress"` // percent of the devices done
	Reason   string   `json:"reason,omitempty"`
}

// startEraseLocked runs at the boot that takes an armed PlatformErase; it returns BIOSLastStatus.
func (d *Device) startEraseLocked() []string {
	mask := -1
	if v := tlvValue(d.boot.uefiParams, 1); len(v) == 4 {
		mask = int(binary.LittleEndian.Uint32(v))
	}
	caps := eraseMask(d.major())
	refuse := func(reason string) []string {
		d.boot.erase = &EraseStatus{State: "refused", Reason: reason}
		d.log.Warn().Str("reason", reason).Msg("platform erase refused by the BIOS")
		return []string{"65535", "3"}
	}
	switch {
	case mask < 0:
		return refuse("no RPE device bitmask parameter")
	case !d.bootFlag("RPEEnabled"):
		return refuse("Remote Platform Erase is disabled in BIOS setup")
	case !d.rpeEnabled():
		return refuse("Remote Platform Erase is disabled in AMT (CIM_BootService)")
	case mask&^caps != 0:
		return refuse("bitmask asks for devices the BIOS cannot erase")
	}
	e := &EraseStatus{State: "in-progress", Devices: []string{}}
	for _, n := range eraseNames {
		if mask&n.bit != 0 {
			e.Devices = append(e.Devices, n.name)
		}
	}
	d.boot.erase = e
	d.log.Info().Strs("devices", e.Devices).Msg("platform erase started")
	d.eraseNext(e, 0, d.bootFlag("ConfigurationDataReset"))
	return []string{"1", "0"}
}

// eraseNext erases device i after eraseStep, then the next; after the last the host restarts.
func (d *Device) eraseNext(e *EraseStatus, i int, unconfigure bool) {
	time.AfterFunc(eraseStep, func() {
		d.lock()
		if d.boot.erase != e { // a newer erase replaced this one
			d.unlock()
			return
		}
		i++
		e.Progress = 100 * i / max(len(e.Devices), 1)
		d.changed()
		if i < len(e.Devices) {
			d.unlock()
			d.eraseNext(e, i, unconfigure)
			return
		}
		e.State = "completed"
		d.setBootValue("BIOSLastStatus", "0", "0")
		d.log.Info().Msg("platform erase completed; restarting")
		storage := false
		for _, n := range e.Devices {
			storage = storage || n == "ssd"
		}
		if !storage { // without its disk erased the OS boots again
			d.schedule(d.cfg.OSBootDelay, func() { d.power.osUp = true })
		}
		if unconfigure {
			d.resetProvisioningLocked()
		}
		d.unlock()
		if unconfigure {
			d.dropConnections()
		}
	})
}

// tlv is one UEFI boot parameter (§1.4): vendor 0x8086, type, value.
type tlv struct {
	typ   uint16
	value []byte
}

// parseTLVs decodes a base64 UefiBootParametersArray: entries of vendor (u16 LE, 0x8086), type (u16 LE), length
// (u32 LE) and value.
func parseTLVs(b64 string) ([]tlv, error) {
	if b64 == "" {
		return nil, nil
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("not base64")
	}
	var out []tlv
	for len(raw) > 0 {
		if len(raw) < 8 {
			return nil, errors.New("truncated parameter header")
		}
		if binary.LittleEndian.Uint16(raw) != 0x8086 {
			return nil, errors.New("vendor is not 0x8086")
		}
		typ, n := binary.LittleEndian.Uint16(raw[2:]), binary.LittleEndian.Uint32(raw[4:])
		if int64(n) > int64(len(raw)-8) {
			return nil, errors.New("parameter length exceeds the array")
		}
		out = append(out, tlv{typ: typ, value: raw[8 : 8+n]})
		raw = raw[8+n:]
	}
	return out, nil
}

func tlvValue(ps []tlv, typ uint16) []byte {
	for _, p := range ps {
		if p.typ == typ {
			return p.value
		}
	}
	return nil
}
