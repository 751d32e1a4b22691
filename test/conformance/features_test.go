package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// TestNetworkFeaturesAndClock round-trips the classes the activation configures after Setup (protocol-rps-
// activation §2.7, §2.8) and the maintenance clock sync (§2.13) between dmtclient/amt and the simulator.
func TestNetworkFeaturesAndClock(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateACM(ctx)
	c := r.admin(false)

	ports, err := c.EthernetPortSettings(ctx)
	require.NoError(t, err)
	require.Len(t, ports, 1)
	wired := ports[0]
	require.True(t, wired.Wired())
	require.True(t, wired.DHCPEnabled)
	wired.DHCPEnabled, wired.IpSyncEnabled = false, false
	wired.IPAddress, wired.SubnetMask, wired.DefaultGateway = "10.9.8.7", "255.255.255.0", "10.9.8.1"
	got, err := c.PutEthernetPortSettings(ctx, wired)
	require.NoError(t, err)
	require.Equal(t, "10.9.8.7", got.IPAddress)
	require.False(t, got.DHCPEnabled)
	require.Equal(t, wired.LinkPolicy, got.LinkPolicy, "LinkPolicy written back as read")

	redir, err := c.RedirectionService(ctx)
	require.NoError(t, err)
	require.False(t, redir.SOL() || redir.IDER() || redir.ListenerEnabled)
	require.NoError(t, c.SetRedirectionState(ctx, amt.RedirectionState(true, false)))
	redir.ListenerEnabled = true
	require.NoError(t, c.PutRedirectionService(ctx, redir))
	redir, err = c.RedirectionService(ctx)
	require.NoError(t, err)
	require.True(t, redir.SOL() && !redir.IDER() && redir.ListenerEnabled)
	require.Equal(t, amt.RedirectionSOL, redir.EnabledState)

	kvm, err := c.KVMRedirectionSAP(ctx)
	require.NoError(t, err)
	require.False(t, kvm.Enabled())
	require.NoError(t, c.SetKVM(ctx, true))
	kvm, err = c.KVMRedirectionSAP(ctx)
	require.NoError(t, err)
	require.True(t, kvm.Enabled())

	opt, err := c.OptInService(ctx)
	require.NoError(t, err)
	require.Equal(t, uint32(amt.OptInAll), opt.OptInRequired)
	opt.OptInRequired = amt.OptInNone
	require.NoError(t, c.PutOptInService(ctx, opt), "ACM may drop user consent")
	opt, err = c.OptInService(ctx)
	require.NoError(t, err)
	require.Equal(t, uint32(amt.OptInNone), opt.OptInRequired)

	r.dev.SetAMTTimeOffset(-time.Hour)
	require.NoError(t, c.SyncClock(ctx, time.Now))
	require.Equal(t, 1, r.dev.ClockSyncs())
	require.WithinDuration(t, time.Now(), r.dev.AMTTime(), 2*time.Second)
}
