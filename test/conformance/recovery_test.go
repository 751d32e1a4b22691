package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// Conformance of the recovery classes (protocol-recovery §0–§3): CIM_BootService, CIM_BootSourceSetting,
// CIM_BootConfigSetting with AMT_BootSettingData, and IPS_AlarmClockOccurrence with AMT_AlarmClockService.

func withVersion(v string) rigOption { return func(c *amtsim.Config) { c.Version = v } }

func bootTarget(target, cause string) func(amtsim.State) bool {
	return func(s amtsim.State) bool { return s.LastBootTarget == target && s.LastBootCause == cause }
}

// TestBootServiceAndSources: the fixed instances of §0.2/§0.4 and the OCR/RPE state values of §0.5, per version.
func TestBootServiceAndSources(t *testing.T) {
	ctx := testContext(t)
	for _, tc := range []struct {
		version string
		sources int
		ocr     bool
		rpe     bool
	}{{"14.1.70", 3, false, false}, {"15.0.45", 6, true, false}, {"16.1.25", 6, true, true}} {
		t.Run(tc.version, func(t *testing.T) {
			r := newRig(t, withVersion(tc.version))
			r.activateCCM(ctx)
			c := r.admin(false)
			svc, err := c.BootService(ctx)
			require.NoError(t, err)
			require.Equal(t, amt.BootServiceNone, svc.EnabledState)
			require.Equal(t, "Intel(r) AMT Boot Service", svc.Name)
			srcs, err := c.BootSources(ctx)
			require.NoError(t, err)
			require.Len(t, srcs, tc.sources)
			require.Equal(t, "Intel(r) AMT: Force Hard-drive Boot", srcs[0].InstanceID)
			require.Equal(t, "CIM:Network:1", srcs[2].StructuredBootString)
			require.Equal(t, 2, srcs[0].FailThroughSupported)

			err = c.SetBootServiceState(ctx, amt.BootServiceOCR)
			if tc.ocr {
				require.NoError(t, err)
			} else {
				requireReturnValue(t, err, "CIM_BootService.RequestStateChange", 1, "NOT_SUPPORTED")
			}
			err = c.SetBootServiceState(ctx, amt.BootServiceRPE)
			if tc.rpe {
				require.NoError(t, err)
				svc, err = c.BootService(ctx)
				require.NoError(t, err)
				require.Equal(t, amt.BootServiceRPE, svc.EnabledState)
			} else {
				require.Error(t, err)
			}
			requireReturnValue(t, c.SetBootServiceState(ctx, 40000), "CIM_BootService.RequestStateChange", 5, "INVALID_PARAMETER")

			caps, err := c.BootCapabilities(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.ocr, caps.ForceUEFIHTTPSBoot)
			require.Equal(t, tc.rpe, caps.PlatformErase&amt.EraseSupported != 0)
		})
	}
}

// TestOneTimeBoot: PXE, BIOS setup and HTTPS boot are taken at the next boot once, then cleared (§1.2).
func TestOneTimeBoot(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	from := r.hist.mark()
	require.NoError(t, c.ArmBoot(ctx, amt.BootSourcePXE, amt.BootOptions{}))
	require.Equal(t, "pxe", r.dev.State().BootOverride)
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, bootTarget("pxe", "reset"), osUp)
	s := r.dev.State()
	require.Empty(t, s.BootOverride, "the override is for one boot")
	set, err := c.BootSettingData(ctx)
	require.NoError(t, err)
	require.True(t, set.OptionsCleared)

	from = r.hist.mark()
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, bootTarget("default", "reset"))

	// BIOS setup: the host stays in setup, the OS does not come up.
	from = r.hist.mark()
	require.NoError(t, c.ArmBoot(ctx, "", amt.BootOptions{BIOSSetup: true}))
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, bootTarget("bios", "reset"))
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, bootTarget("default", "reset"), osUp)
	for _, s := range r.hist.since(from) {
		require.False(t, s.LastBootTarget == "bios" && s.OSRunning, "no OS while in BIOS setup")
	}

	// HTTPS boot: ArmBoot enables OCR; the URL parameter reaches the BIOS.
	https := amt.HTTPSBoot{URL: "https://boot.example.com/images/recovery.efi", VerifyServer: true}
	ps, err := https.Params()
	require.NoError(t, err)
	from = r.hist.mark()
	require.NoError(t, c.ArmBoot(ctx, amt.BootSourceHTTPS, amt.BootOptions{UEFIParams: ps, EnforceSecureBoot: true}))
	svc, err := c.BootService(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.BootServiceOCR, svc.EnabledState)
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, bootTarget("https", "reset"))
	require.Equal(t, https.URL, r.dev.State().HTTPSBootURL)

	// Power off, then power on to PXE: cause power-on.
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.PowerOffSoft))
	r.hist.await(ctx, t, r.hist.mark(), powerIs(amtsim.PowerOff))
	from = r.hist.mark()
	require.NoError(t, c.ArmBoot(ctx, amt.BootSourcePXE, amt.BootOptions{}))
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.PowerOn))
	r.hist.await(ctx, t, from, bootTarget("pxe", "power-on"))
}

// TestBootOrderRules: what AMT refuses around ChangeBootOrder and SetBootConfigRole (§0.1, §0.3, §0.5).
func TestBootOrderRules(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)
	requireRV(t, c.ChangeBootOrder(ctx, "Intel(r) AMT: Force Floppy Boot"), 4) // InvalidReference
	requireRV(t, c.ChangeBootOrder(ctx, amt.BootSourceHTTPS), 6)               // AccessDenied: OCR is off
	// BIOSSetup needs the source cleared first.
	require.NoError(t, c.ChangeBootOrder(ctx, amt.BootSourcePXE))
	cur, err := c.BootSettingData(ctx)
	require.NoError(t, err)
	var fault *wsman.FaultError
	require.ErrorAs(t, c.PutBootSettingData(ctx, cur, amt.BootOptions{BIOSSetup: true}), &fault)
	require.Equal(t, "InvalidRepresentation", fault.Subcode)
	// PlatformErase does not exist before CSME 16.
	old := newRig(t, withVersion("14.1.70"))
	old.activateCCM(ctx)
	oc := old.admin(false)
	cur, err = oc.BootSettingData(ctx)
	require.NoError(t, err)
	require.ErrorAs(t, oc.PutBootSettingData(ctx, cur, amt.BootOptions{PlatformErase: true}), &fault)
}

func requireRV(t *testing.T, err error, value uint32) {
	t.Helper()
	var rv *wsman.ReturnValueError
	require.True(t, errors.As(err, &rv), "want *wsman.ReturnValueError, got %T: %v", err, err)
	require.Equal(t, value, rv.Value)
}

// TestPlatformErase: the BIOS erases what the bitmask names at the next boot, reporting progress in
// BIOSLastStatus, and refuses what it cannot do (§2).
func TestPlatformErase(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateACM(ctx)
	c := r.admin(false)
	caps, err := c.BootCapabilities(ctx)
	require.NoError(t, err)
	require.Equal(t, 0x04010045, caps.PlatformErase, "CSME 16: supported, SSDs, TPM, OEM action, BIOS golden config")

	from := r.hist.mark()
	require.NoError(t, c.ArmPlatformErase(ctx, amt.EraseAllSSDs|amt.EraseTPMClear, "Ssd-Passw0rd"))
	svc, err := c.BootService(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.BootServiceRPE, svc.EnabledState)
	st, _, err := c.EraseProgress(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.EraseArmed, st)
	require.Equal(t, "erase", r.dev.State().BootOverride)
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, eraseIs("in-progress"))
	st, set, err := c.EraseProgress(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.EraseInProgress, st, "%v", set.BIOSLastStatus)
	r.hist.await(ctx, t, from, eraseIs("completed"))
	st, set, err = c.EraseProgress(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.EraseCompleted, st)
	require.Equal(t, []int{0, 0}, set.BIOSLastStatus)
	require.Equal(t, []string{"ssd", "tpm"}, r.dev.State().Erase.Devices)
	require.False(t, r.dev.State().OSRunning, "the disk is erased: no OS")

	// A bit the BIOS lacks: refused at the boot, reported as failed.
	require.NoError(t, c.ArmPlatformErase(ctx, 0x2000000, ""))
	from = r.hist.mark()
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, eraseIs("refused"))
	st, set, err = c.EraseProgress(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.EraseFailed, st)
	require.Equal(t, "not supported", amt.BIOSFailure(set))

	// Capabilities per version.
	for v, want := range map[string]int{"14.1.70": 0, "18.0.5": 0x0401005D} {
		rv := newRig(t, withVersion(v))
		rv.activateCCM(ctx)
		caps, err := rv.admin(false).BootCapabilities(ctx)
		require.NoError(t, err)
		require.Equal(t, want, caps.PlatformErase, v)
	}
}

func eraseIs(state string) func(amtsim.State) bool {
	return func(s amtsim.State) bool { return s.Erase != nil && s.Erase.State == state }
}

// skewToMinute moves the rig's clock so that the next whole minute is d away and returns that minute.
func skewToMinute(r *rig, d time.Duration) time.Time {
	now := r.clock.Now()
	next := now.UTC().Truncate(time.Minute).Add(time.Minute)
	r.clock.Advance(next.Sub(now) - d)
	return next
}

// TestAlarmClock: AddAlarm, list, rules, quota, delete; an alarm powers the host up at its time (§3).
func TestAlarmClock(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	require.NoError(t, c.RequestPowerStateChange(ctx, amt.PowerOffSoft))
	r.hist.await(ctx, t, r.hist.mark(), powerIs(amtsim.PowerOff))
	at := skewToMinute(r, 300*time.Millisecond)
	from := r.hist.mark()
	require.NoError(t, c.AddAlarm(ctx, amt.AlarmOccurrence{ElementName: "wake", StartTime: at, DeleteOnCompletion: true}))
	as, err := c.Alarms(ctx)
	require.NoError(t, err)
	require.Equal(t, []amt.AlarmOccurrence{{ElementName: "wake", InstanceID: "wake", StartTime: at, DeleteOnCompletion: true}}, as)
	r.hist.await(ctx, t, from, osUp)
	as, err = c.Alarms(ctx)
	require.NoError(t, err)
	require.Empty(t, as, "DeleteOnCompletion removes a fired one-shot alarm")

	later := at.Add(time.Hour)
	var fault *wsman.FaultError
	require.ErrorAs(t, c.AddAlarm(ctx, amt.AlarmOccurrence{ElementName: "odd", StartTime: later.Add(30 * time.Second)}), &fault,
		"seconds must be 00")
	require.ErrorAs(t, c.AddAlarm(ctx, amt.AlarmOccurrence{ElementName: "past", StartTime: at.Add(-time.Hour)}), &fault)
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		require.NoError(t, c.AddAlarm(ctx, amt.AlarmOccurrence{ElementName: name, StartTime: later,
			Interval: time.Duration(i) * 90 * time.Minute}), name)
	}
	require.ErrorAs(t, c.AddAlarm(ctx, amt.AlarmOccurrence{ElementName: "f", StartTime: later}), &fault)
	require.Equal(t, "QuotaLimit", fault.Subcode)
	as, err = c.Alarms(ctx)
	require.NoError(t, err)
	require.Len(t, as, 5)
	require.Equal(t, 90*time.Minute, as[1].Interval)
	require.NoError(t, c.DeleteAlarm(ctx, "c"))
	require.ErrorAs(t, c.DeleteAlarm(ctx, "c"), &fault, "an unknown alarm is a fault")
	require.Len(t, r.dev.State().Alarms, 4)
}
