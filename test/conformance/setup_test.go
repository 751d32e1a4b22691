package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// TestHostBasedSetupServiceGet reads IPS_HostBasedSetupService before and after CCM activation (§7.9).
func TestHostBasedSetupServiceGet(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	c := r.lsaClient()

	hbs, err := c.HostBasedSetupService(ctx)
	require.NoError(t, err)
	require.Equal(t, []int{2, 1}, hbs.AllowedControlModes)
	require.Equal(t, 0, hbs.CurrentControlMode)
	require.Equal(t, "IPS_HostBasedSetupService", hbs.CreationClassName)
	require.Equal(t, "Intel(r) AMT Host Based Setup Service", hbs.Name)
	nonce, err := hbs.FirmwareNonce()
	require.NoError(t, err)
	require.Len(t, nonce, amt.McNonceSize, "ConfigurationNonce is 20 bytes")

	r.activateCCM(ctx)
	hbs, err = r.admin(true).HostBasedSetupService(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, hbs.CurrentControlMode)
}

// TestSetupCCM activates in client control mode the way RPS does through rpc-go (§2.3): LSA credentials on the
// host side, then admin with the new password from both sides.
func TestSetupCCM(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)

	require.True(t, r.dev.AdminPasswordIs(adminPassword))
	for _, local := range []bool{true, false} {
		sac, err := r.admin(local).SetupAndConfigurationService(ctx)
		require.NoError(t, err)
		require.Equal(t, 4, sac.ProvisioningMode)
		require.Equal(t, 2, sac.ProvisioningState)
	}
	// The LSA account is a pre-provisioning account only.
	_, err := r.lsaClient().GeneralSettings(ctx)
	require.ErrorIs(t, err, wsman.ErrAuthFailed)
}

// TestAdminSetupACM activates in admin control mode with a PKI generated here (§2.4): chain leaf → intermediate
// → root, then AdminSetup signed over fwNonce‖mcNonce; then SetMEBxPassword (ACM only).
func TestAdminSetupACM(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateACM(ctx)

	c := r.admin(false)
	sac, err := c.SetupAndConfigurationService(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, sac.ProvisioningMode, "ACM")
	hbs, err := r.admin(true).HostBasedSetupService(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, hbs.CurrentControlMode)

	const mebx = `MEBx&<Pa55>"'` // XML-special characters survive escaping on one side and parsing on the other
	require.NoError(t, c.SetMEBxPassword(ctx, mebx))
	require.Equal(t, mebx, r.dev.MEBxPassword())
}

// TestUpgradeClientToAdmin upgrades CCM to ACM with the chain and nonce signature, no password (§2.5 step 4).
func TestUpgradeClientToAdmin(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)

	c := r.admin(true)
	hbs, err := c.HostBasedSetupService(ctx)
	require.NoError(t, err)
	fw, err := hbs.FirmwareNonce()
	require.NoError(t, err)
	sendChain(ctx, t, c, r.pki)
	mc, err := amt.NewMcNonce()
	require.NoError(t, err)
	sig, err := amt.SignNonces(r.pki.LeafKey, fw, mc)
	require.NoError(t, err)
	require.NoError(t, c.UpgradeClientToAdmin(ctx, mc, sig))
	require.Equal(t, amtsim.AdminControl, r.dev.Mode())
	require.True(t, r.dev.AdminPasswordIs(adminPassword), "the password survives the upgrade")

	sac, err := r.admin(false).SetupAndConfigurationService(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, sac.ProvisioningMode)
}

// TestSetAdminAclEntryEx changes the admin password (§2.5 CHANGE_AMT_PASSWORD, §2.13 changepassword); the old
// password stops working and the new one works on the same client after SetCredentials.
func TestSetAdminAclEntryEx(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	const next = "N3w-Passw0rd!"
	require.NoError(t, c.SetAdminAclEntryEx(ctx, "admin", amt.AdminDigestPassword(r.dev.DigestRealm(), next)))
	require.True(t, r.dev.AdminPasswordIs(next))

	_, err := r.admin(false).GeneralSettings(ctx)
	require.ErrorIs(t, err, wsman.ErrAuthFailed, "old password")
	c.WSMan().SetCredentials("admin", next)
	_, err = c.GeneralSettings(ctx)
	require.NoError(t, err)
}

// TestCommitChanges calls AMT_SetupAndConfigurationService.CommitChanges (§2.6 step 7, §2.10 step 10).
func TestCommitChanges(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	require.NoError(t, r.admin(false).CommitChanges(ctx))
}

// TestUnprovision deactivates with ProvisioningMode 1 (§2.12) from CCM and from ACM; AMT answers, then resets to
// pre-provisioning and drops its connections, after which the admin account no longer exists.
func TestUnprovision(t *testing.T) {
	for _, mode := range []amtsim.ControlMode{amtsim.ClientControl, amtsim.AdminControl} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := testContext(t)
			r := newRig(t)
			if mode == amtsim.AdminControl {
				r.activateACM(ctx)
			} else {
				r.activateCCM(ctx)
			}
			from := r.hist.mark()
			c := r.admin(false)
			require.NoError(t, c.Unprovision(ctx))
			r.hist.await(ctx, t, from, func(s amtsim.State) bool { return s.Mode == amtsim.PreProvisioning })

			_, err := c.GeneralSettings(ctx)
			require.ErrorIs(t, err, wsman.ErrAuthFailed, "no admin account in pre-provisioning")
			hbs, err := r.lsaClient().HostBasedSetupService(ctx)
			require.NoError(t, err)
			require.Equal(t, 0, hbs.CurrentControlMode)
		})
	}
}
