package rps_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// tlsEnv is an engine with short TLS waits: a 1 s port switch (rpc-go's delay has whole seconds) that outlasts the
// simulated 300 ms rollover, and a 100 ms retry back-off.
func tlsEnv(t *testing.T, mutate func(*rps.Config)) *env {
	return newEnv(t, func(c *rps.Config) {
		c.TLSRolloverDelay, c.TLSRetryDelay, c.HeartbeatInterval = time.Second, 100*time.Millisecond, 400*time.Millisecond
		if mutate != nil {
			mutate(c)
		}
	})
}

func tlsDevice(t *testing.T, e *env, tenant string, pki *certtest.PKI) *amtsim.Device {
	t.Helper()
	d := e.newDevice(t, tenant, amtsim.Config{TLSEnforced: true, RolloverDelay: 300 * time.Millisecond,
		DNSSuffix: "sales.example.com", Hostname: "edge-7"})
	if pki != nil {
		d.AddRootHash(amtsim.NewRootHash("test root", pki.Root.Raw))
	}
	return d
}

func pinOf(d *amtsim.Device) string {
	sum := sha256.Sum256(d.TLSCertificate().Raw)
	return hex.EncodeToString(sum[:])
}

func TestTLSEnforcedCCM(t *testing.T) {
	e := tlsEnv(t, nil)
	tenant := newTenant(t, "static")
	d := tlsDevice(t, e, tenant, nil)
	guid := d.GUID().String()

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), FriendlyName: "till-3"})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Client control mode.", res.StatusObject.Status)
	require.Equal(t, "Configured", res.StatusObject.CIRAConnection)
	require.Equal(t, "Wired Network Configured", res.StatusObject.Network)
	require.Equal(t, "Already configured", res.StatusObject.TLSConfiguration)
	require.Equal(t, amtsim.ClientControl, d.Mode())
	require.True(t, d.AdminPasswordIs(tenantPassword))
	requireCIRA(t, d, tenant)
	require.Equal(t, []string{"4294967295"}, d.Setting("IPS_OptInService", "OptInRequired"), "CCM: consent for all")
	require.Zero(t, res.Exchanges, "no plain relay on a TLS-enforcing device")
	require.Positive(t, res.TLSMessages)
	require.Equal(t, 1, res.PortSwitches)
	require.Positive(t, res.Heartbeats, "heartbeats during the 1 s port switch wait")
	all, resumed := d.TLSHandshakes()
	require.Equal(t, all-1, resumed, "every TLS session after the first resumes it")
	require.Equal(t, pinOf(d), deviceSecrets(t, tenant, guid)["AMT_TLS_CERT_SHA256"])
	out, err := rpc.Relay(context.Background(), d, []byte("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
		200*time.Millisecond, 50*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, out, "plain host-side WS-Man (16992) is refused once the device is set up")
	rec, err := testStore.GetDevice(context.Background(), guid)
	require.NoError(t, err)
	require.Equal(t, store.ControlModeCCM, rec.ControlMode)
	require.JSONEq(t, `{"friendlyName":"till-3","hostname":"edge-7","features":"AMT Pro Corporate"}`, string(rec.Facts))
	require.True(t, e.outcome(t).OK)

	// Reconfigure goes through the tunnel too, pinned to the certificate stored at activation.
	res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "already enabled in client mode.", res.StatusObject.Status)
}

func TestTLSEnforcedACM(t *testing.T) {
	e := tlsEnv(t, nil)
	tenant := newTenant(t, "dynamic")
	pki := certtest.New(t)
	addDomain(t, tenant, "example.com", pki)
	d := tlsDevice(t, e, tenant, pki)
	guid := d.GUID().String()

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_acm", false), TenantID: tenant})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Admin control mode.", res.StatusObject.Status)
	require.Equal(t, amtsim.AdminControl, d.Mode())
	sec := deviceSecrets(t, tenant, guid)
	require.True(t, d.AdminPasswordIs(sec[secrets.KeyAMTPassword]))
	require.Equal(t, sec[secrets.KeyMEBxPassword], d.MEBxPassword())
	requireCIRA(t, d, tenant)
	// EMF's ACM profile: no user consent, KVM and SOL on, IDER off (§2.8, §3.7).
	for _, c := range []struct{ class, prop, want string }{
		{"IPS_OptInService", "OptInRequired", "0"},
		{"CIM_KVMRedirectionSAP", "EnabledState", "2"},
		{"AMT_RedirectionService", "EnabledState", "32770"},
		{"AMT_RedirectionService", "ListenerEnabled", "true"},
	} {
		require.Equal(t, []string{c.want}, d.Setting(c.class, c.prop), c.class+"."+c.prop)
	}
	o := e.outcome(t)
	require.True(t, o.OK)
	require.Equal(t, "acm", o.Mode)
}

// TestTLSEnforcedACMRollback: rpc-go is told another DNS suffix (-d) than AMT knows, so the pre-flight passes but
// AMT refuses the provisioning chain after Setup; the device is unprovisioned and nothing of it stays stored.
func TestTLSEnforcedACMRollback(t *testing.T) {
	e := tlsEnv(t, nil)
	tenant := newTenant(t, "static")
	pki := certtest.New(t)
	addDomain(t, tenant, "example.com", pki)
	d := e.newDevice(t, tenant, amtsim.Config{TLSEnforced: true, RolloverDelay: 300 * time.Millisecond,
		DNSSuffix: "other.example.org"})
	d.AddRootHash(amtsim.NewRootHash("test root", pki.Root.Raw))
	guid := d.GUID().String()

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_acm", false), TenantID: tenant,
		DNSSuffix: "sales.example.com"})
	require.False(t, res.OK())
	require.Contains(t, res.Text(), "TLS ACM setup failed for device "+guid+".ACM activation failed.")
	require.Contains(t, res.Text(), "returned to pre-provisioning")
	require.Equal(t, amtsim.PreProvisioning, d.Mode())
	_, err := testStore.GetDevice(context.Background(), guid)
	require.ErrorIs(t, err, store.ErrNotFound)
	path, err := secrets.Device(tenant, guid)
	require.NoError(t, err)
	_, err = testSecrets.Get(context.Background(), path)
	require.ErrorIs(t, err, secrets.ErrNotFound)
	require.False(t, e.outcome(t).OK)
}

// requireForgotten checks that neither a device record nor device secrets exist.
func requireForgotten(t *testing.T, tenant, guid string) {
	t.Helper()
	_, err := testStore.GetDevice(context.Background(), guid)
	require.ErrorIs(t, err, store.ErrNotFound)
	path, err := secrets.Device(tenant, guid)
	require.NoError(t, err)
	_, err = testSecrets.Get(context.Background(), path)
	require.ErrorIs(t, err, secrets.ErrNotFound)
}

func TestTLSTunnelFailures(t *testing.T) {
	e := tlsEnv(t, func(c *rps.Config) { c.PortSwitchTimeout = 300 * time.Millisecond })
	tenant := newTenant(t, "static")

	t.Run("handshake refused", func(t *testing.T) {
		d := tlsDevice(t, e, tenant, nil)
		d.InjectTLSResets(1000)
		res := e.run(t, d, activate(tenant+"_ccm"))
		require.False(t, res.OK())
		require.Equal(t, "failed", res.Status)
		require.Contains(t, res.Text(), "Failed to establish TLS tunnel connection: 3 TLS handshakes")
		require.Equal(t, amtsim.PreProvisioning, d.Mode())
		requireForgotten(t, tenant, d.GUID().String())
		require.False(t, e.outcome(t).OK)
	})
	t.Run("LMS not running", func(t *testing.T) {
		d := tlsDevice(t, e, tenant, nil)
		cfg := activate(tenant + "_ccm")
		cfg.LMSError = true
		res := e.run(t, d, cfg)
		require.False(t, res.OK())
		require.Equal(t, "failed", res.Status)
		require.Contains(t, res.Text(), "Failed to establish TLS tunnel connection: rpc-go reported an LMS error on "+
			"AMT's TLS port (lms_error); check that LMS runs on the host")
		require.Equal(t, 1, res.Resets, "an LMS error is not retried")
		require.Equal(t, amtsim.PreProvisioning, d.Mode())
		requireForgotten(t, tenant, d.GUID().String())
		require.False(t, e.outcome(t).OK)
	})
	t.Run("resets while rolling over are retried", func(t *testing.T) {
		d := tlsDevice(t, e, tenant, nil)
		d.InjectTLSResets(2)
		res := e.run(t, d, activate(tenant+"_ccm"))
		require.True(t, res.OK(), res.Message)
		require.Equal(t, amtsim.ClientControl, d.Mode())
		require.True(t, e.outcome(t).OK)
	})
	t.Run("socket reset mid-exchange of a Get is retried", func(t *testing.T) {
		d := tlsDevice(t, e, tenant, nil)
		d.InjectTLSDrops(1) // the first Get's connection: closed once the request is in, no answer
		res := e.run(t, d, activate(tenant+"_ccm"))
		require.True(t, res.OK(), res.Message)
		require.Equal(t, amtsim.ClientControl, d.Mode())
		require.True(t, e.outcome(t).OK)
	})
	t.Run("socket reset mid-exchange of Setup ends the activation", func(t *testing.T) {
		d := tlsDevice(t, e, tenant, nil)
		d.InjectTLSDropOn("Setup_INPUT")
		res := e.run(t, d, activate(tenant+"_ccm"))
		require.False(t, res.OK())
		require.Contains(t, res.Text(), "Failed to activate in client control mode. (Setup IPS_HostBasedSetupService: "+
			"wsman http: connection closed without a response; the connection to AMT was reset after the request was "+
			"sent, so AMT may have received it and it was not sent again)")
		require.Equal(t, amtsim.PreProvisioning, d.Mode(), "AMT never acted on it, and it was not sent again")
		require.False(t, e.outcome(t).OK)
		// The password stored before Setup is the one AMT would have; the next run activates the device.
		res = e.run(t, d, activate(tenant+"_ccm"))
		require.True(t, res.OK(), res.Message)
		require.Equal(t, amtsim.ClientControl, d.Mode())
		require.True(t, e.outcome(t).OK)
	})
	t.Run("socket reset mid-exchange of a CIRA call ends the activation", func(t *testing.T) {
		d := tlsDevice(t, e, tenant, nil)
		d.InjectTLSDropOn("AddMpServer_INPUT")
		res := e.run(t, d, activate(tenant+"_ccm"))
		require.False(t, res.OK())
		require.Contains(t, res.Text(), "CIRA configuration failed")
		require.Contains(t, res.Text(), "connection closed without a response")
		require.False(t, d.State().CIRAConfigured)
		require.Equal(t, amtsim.ClientControl, d.Mode())
		require.False(t, e.outcome(t).OK)
		res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
		require.True(t, res.OK(), res.Message)
		require.True(t, d.State().CIRAConfigured)
		require.True(t, e.outcome(t).OK)
	})
	t.Run("port switch never acknowledged", func(t *testing.T) {
		d := tlsDevice(t, e, tenant, nil)
		guid := d.GUID().String()
		res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), IgnorePortSwitch: true})
		require.False(t, res.OK())
		require.Contains(t, res.Text(), "Failed to complete port switch to TLS (rpc-go did not acknowledge the switch")
		// Setup had happened: the record and the password stored before it describe the device as it is, so the
		// next run reconfigures it.
		require.Equal(t, amtsim.ClientControl, d.Mode())
		rec, err := testStore.GetDevice(context.Background(), guid)
		require.NoError(t, err)
		require.Equal(t, store.ControlModeCCM, rec.ControlMode)
		require.True(t, d.AdminPasswordIs(deviceSecrets(t, tenant, guid)[secrets.KeyAMTPassword]))
		require.False(t, e.outcome(t).OK)
		res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
		require.True(t, res.OK(), res.Message)
		require.True(t, e.outcome(t).OK)
	})
	t.Run("rollover outlasts the port switch", func(t *testing.T) {
		e := tlsEnv(t, func(c *rps.Config) { c.TLSRolloverDelay = -1 })
		d := e.newDevice(t, tenant, amtsim.Config{TLSEnforced: true, RolloverDelay: 5 * time.Second})
		res := e.run(t, d, activate(tenant+"_ccm"))
		require.False(t, res.OK())
		require.Contains(t, res.Text(), "Failed to establish TLS tunnel connection")
		require.Equal(t, amtsim.ClientControl, d.Mode(), "Setup and CommitChanges went through before the rollover")
		require.False(t, e.outcome(t).OK)
	})
	t.Run("certificate changed", func(t *testing.T) {
		d := tlsDevice(t, e, tenant, nil)
		require.True(t, e.run(t, d, activate(tenant+"_ccm")).OK())
		require.True(t, e.outcome(t).OK)
		guid := d.GUID().String()
		sec := deviceSecrets(t, tenant, guid)
		sec["AMT_TLS_CERT_SHA256"] = hex.EncodeToString(make([]byte, 32))
		path, err := secrets.Device(tenant, guid)
		require.NoError(t, err)
		require.NoError(t, testSecrets.Put(context.Background(), path, sec))
		res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
		require.False(t, res.OK())
		require.Contains(t, res.Text(), "AMT presented a TLS certificate other than the one pinned for this device")
		require.False(t, e.outcome(t).OK)
	})
}

func TestHeartbeatsDuringPostSetupWait(t *testing.T) {
	e := newEnv(t, func(c *rps.Config) {
		c.PostSetupDelay, c.HeartbeatInterval = 1200*time.Millisecond, 300*time.Millisecond
	})
	tenant := newTenant(t, "static")
	d := e.newDevice(t, tenant, amtsim.Config{})
	res := e.run(t, d, activate(tenant+"_ccm"))
	require.True(t, res.OK(), res.Message)
	require.GreaterOrEqual(t, res.Heartbeats, 3)
	require.True(t, e.outcome(t).OK)
}
