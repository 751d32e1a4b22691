package rps_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// requireCIRA checks the device points at our gateway with the credentials we stored (§2.9).
func requireCIRA(t *testing.T, d *amtsim.Device, tenant string) {
	t.Helper()
	guid := d.GUID().String()
	rec, err := testStore.GetDevice(context.Background(), guid)
	require.NoError(t, err)
	sec := deviceSecrets(t, tenant, guid)
	c := d.CIRA()
	require.True(t, c.Configured(), "CIRA configured: %+v", c)
	require.Len(t, c.Servers, 1)
	s := c.Servers[0]
	require.Equal(t, "cira.example.com", s.AccessInfo)
	require.Equal(t, 4433, s.Port)
	require.Equal(t, amt.MPSInfoFormatFQDN, s.InfoFormat)
	require.Equal(t, rec.CIRAUsername, s.Username)
	require.Equal(t, sec[secrets.KeyCIRAUsername], s.Username)
	require.Equal(t, sec[secrets.KeyCIRAPassword], s.Password)
	server, interval, ok := c.Periodic()
	require.True(t, ok)
	require.Equal(t, s.Name, server.Name)
	require.Equal(t, 25, interval)
	require.Len(t, c.Rules, 2)
	for _, l := range c.Links {
		require.Equal(t, amt.MPSTypeBoth, l.MpsType)
		require.Equal(t, s.Name, l.Server)
	}
	var roots [][]byte // AMT's own TLS certificate (§2.10) may sit next to them
	for _, cert := range c.Certificates {
		if cert.TrustedRoot {
			roots = append(roots, cert.DER)
		}
	}
	require.Equal(t, [][]byte{gatewayRoot(t).Raw}, roots)
	require.Equal(t, amt.UserInitiatedBIOSAndOS, c.UserInitiated)
	require.Len(t, c.DetectionStrings, 1)
}

func TestCCMActivation(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "static")
	d := e.newDevice(t, tenant, amtsim.Config{})
	guid := d.GUID().String()

	// The edge agent sends no tenantId: the profile name names the tenant.
	res := e.run(t, d, activate(tenant+"_ccm"))
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Client control mode.", res.StatusObject.Status)
	require.Equal(t, "Configured", res.StatusObject.CIRAConnection)
	require.Equal(t, "Wired Network Configured", res.StatusObject.Network)
	require.Equal(t, "unconfigured", res.StatusObject.TLSConfiguration)
	require.Equal(t, amtsim.ClientControl, d.Mode())
	require.True(t, d.AdminPasswordIs(tenantPassword))
	requireCIRA(t, d, tenant)

	rec, err := testStore.GetDevice(context.Background(), guid)
	require.NoError(t, err)
	require.Equal(t, tenant, rec.TenantID)
	require.Equal(t, store.StateActivated, rec.ActivationState)
	require.Equal(t, store.ControlModeCCM, rec.ControlMode)
	require.Equal(t, "host-"+guid[:8], rec.HostResourceID)
	var facts map[string]string
	require.NoError(t, json.Unmarshal(rec.Facts, &facts))
	require.Equal(t, "AMT Pro Corporate", facts["features"], "the SKU text rpc-go sent")
	sec := deviceSecrets(t, tenant, guid)
	require.Equal(t, tenantPassword, sec[secrets.KeyAMTPassword])
	require.Empty(t, sec[secrets.KeyMEBxPassword], "CCM has no MEBx password")

	o := e.outcome(t)
	require.Equal(t, guid, o.GUID)
	require.Equal(t, tenant, o.Tenant)
	require.Equal(t, "activate", o.Op)
	require.Equal(t, "ccm", o.Mode)
	require.True(t, o.OK)
	require.Equal(t, "Client control mode.", o.Message)
	require.Equal(t, 1.0, counter(t, e.reg, "dm_manager_rps_outcomes_total", "activate", "success"))
	require.Equal(t, 1.0, counter(t, e.reg, "dm_manager_rps_sessions_total", "activate"))
	require.Equal(t, uint64(1), histogramCount(t, e.reg, "dm_manager_rps_step_duration_seconds", "setup"))

	// Running it again reconfigures: same password, CIRA rewritten once, same credentials.
	first := d.CIRA().Servers[0]
	res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "already enabled in client mode.", res.StatusObject.Status)
	requireCIRA(t, d, tenant)
	again := d.CIRA().Servers[0]
	require.Equal(t, first.Username, again.Username)
	require.Equal(t, first.Password, again.Password)
	require.True(t, e.outcome(t).OK)
}
