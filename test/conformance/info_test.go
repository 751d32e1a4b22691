package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// TestCapabilities reads AMT_BootCapabilities and CIM_PowerManagementCapabilities (§10.1).
func TestCapabilities(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	boot, err := c.BootCapabilities(ctx)
	require.NoError(t, err)
	require.Equal(t, "Intel(r) AMT:BootCapabilities 0", boot.InstanceID)
	require.True(t, boot.IDER)
	require.True(t, boot.SOL)
	require.True(t, boot.BIOSSetup)
	require.True(t, boot.ForcePXEBoot)
	require.False(t, boot.SecureErase)

	pm, err := c.PowerManagementCapabilities(ctx)
	require.NoError(t, err)
	// §10.2 fixture: PowerStatesSupported = 5, 8, 2, 10, 11, 12, 14.
	require.Equal(t, []amt.PowerState{5, 8, 2, 10, 11, 12, 14}, pm.PowerStatesSupported)
	require.NotEmpty(t, pm.PowerChangeCapabilities)
}

// TestGeneralSettingsGetPut reads AMT_GeneralSettings, writes it back changed and reads the change (§2.7 step 1,
// §2.13 synchostname).
func TestGeneralSettingsGetPut(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	gs, err := c.GeneralSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, r.dev.DigestRealm(), gs.DigestRealm)
	require.Equal(t, "Intel(r) AMT: General Settings", gs.InstanceID)
	require.Equal(t, "conformance-host", gs.HostName)
	require.Equal(t, 1, gs.AMTNetworkEnabled)

	gs.HostName = "renamed-host"
	gs.DomainName = "corp.example.com"
	gs.SharedFQDN = false
	gs.RmcpPingResponseEnabled = false
	echoed, err := c.PutGeneralSettings(ctx, gs)
	require.NoError(t, err)
	require.Equal(t, "renamed-host", echoed.HostName)
	require.Equal(t, "corp.example.com", echoed.DomainName)
	require.False(t, echoed.SharedFQDN)
	require.False(t, echoed.RmcpPingResponseEnabled)
	require.Equal(t, gs.DigestRealm, echoed.DigestRealm, "read-only realm unchanged")

	again, err := c.GeneralSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, echoed, again)
}

// TestVersion reads CIM_SoftwareIdentity (the eleven InstanceIDs of §13) and AMT_SetupAndConfigurationService.
func TestVersion(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)

	v, err := r.admin(false).Version(ctx)
	require.NoError(t, err)
	ver, build, sku := r.dev.Versions()
	ids := make([]string, 0, len(v.Software))
	for _, s := range v.Software {
		ids = append(ids, s.InstanceID)
	}
	require.Equal(t, []string{"Flash", "Netstack", "AMTApps", "AMT", "Sku", "VendorID", "Build Number",
		"Recovery Version", "Recovery Build Num", "Legacy Mode", "AMT FW Core Version"}, ids)
	require.Equal(t, ver, v.Get("AMT"))
	require.Equal(t, build, v.Get("Build Number"))
	require.Equal(t, sku, v.Get("Sku"))
	require.Equal(t, 4, v.Setup.ProvisioningMode, "CCM")
	require.Equal(t, 2, v.Setup.ProvisioningState, "post-provisioning")
}

// TestHardware reads the hardware summary of §10.1 (system package, chassis, card, BIOS, CPU, memory).
func TestHardware(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)

	hw, err := r.admin(false).Hardware(ctx)
	require.NoError(t, err)
	require.Equal(t, r.dev.GUID().RawHex(), hw.SystemPackage.PlatformGUID)
	require.Equal(t, "CIM_Chassis", hw.SystemPackage.Antecedent.Selector("CreationClassName"))
	require.Equal(t, "ManagedSystem", hw.SystemPackage.Dependent.Selector("Name"))
	require.Equal(t, "Intel Corporation", hw.Chassis.Manufacturer)
	require.NotEmpty(t, hw.Chassis.SerialNumber)
	require.Equal(t, 9, hw.BaseBoard.PackageType)
	require.Equal(t, "CIM_Card", hw.BaseBoard.Tag)
	require.True(t, hw.BIOS.PrimaryBIOS)
	require.Equal(t, "2023-05-10T00:00:00Z", hw.BIOS.ReleaseDate)
	require.NotEmpty(t, hw.BIOS.Version)
	require.Len(t, hw.Processors, 1)
	require.Equal(t, 4200, hw.Processors[0].MaxClockSpeed)
	require.Len(t, hw.Memory, 2)
	require.Equal(t, uint64(16<<30), hw.Memory[0].Capacity)
	require.Equal(t, "BANK 1", hw.Memory[1].BankLabel)
}
