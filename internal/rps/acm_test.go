package rps_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// addDomain uploads the test PKI's PFX as the tenant's domain for suffix.
func addDomain(t *testing.T, tenant, suffix string, pki *certtest.PKI) {
	t.Helper()
	ctx := context.Background()
	leaf, root := sha256.Sum256(pki.Leaf.Raw), sha256.Sum256(pki.Root.Raw)
	_, err := testStore.InsertDomain(ctx, store.Domain{TenantID: tenant, ProfileName: "corp", DomainSuffix: suffix,
		ExpiresAt: pki.Leaf.NotAfter, LeafSHA256: hex.EncodeToString(leaf[:]), RootSHA256: hex.EncodeToString(root[:])})
	require.NoError(t, err)
	path, err := secrets.Domain(tenant, "corp")
	require.NoError(t, err)
	require.NoError(t, testSecrets.Put(ctx, path, map[string]string{
		secrets.KeyPFX: base64.StdEncoding.EncodeToString(pki.PFX(t, certtest.Password)), secrets.KeyPassword: certtest.Password,
	}))
}

// acmDevice is a device in sales.example.com that trusts the test PKI's root.
func (e *env) acmDevice(t *testing.T, tenant string, pki *certtest.PKI) *amtsim.Device {
	t.Helper()
	d := e.newDevice(t, tenant, amtsim.Config{DNSSuffix: "sales.example.com"})
	d.AddRootHash(amtsim.NewRootHash("test root", pki.Root.Raw))
	return d
}

func TestACMActivationDynamicPasswords(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "dynamic")
	pki := certtest.New(t)
	addDomain(t, tenant, "example.com", pki) // found by walking sales.example.com down (§3.3)
	d := e.acmDevice(t, tenant, pki)
	guid := d.GUID().String()

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_acm", false), TenantID: tenant})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Admin control mode.", res.StatusObject.Status)
	require.Equal(t, amtsim.AdminControl, d.Mode())
	sec := deviceSecrets(t, tenant, guid)
	require.NotEqual(t, tenantPassword, sec[secrets.KeyAMTPassword], "dynamic policy draws a device password")
	require.True(t, d.AdminPasswordIs(sec[secrets.KeyAMTPassword]))
	require.Equal(t, sec[secrets.KeyMEBxPassword], d.MEBxPassword())
	requireCIRA(t, d, tenant)
	o := e.outcome(t)
	require.True(t, o.OK)
	require.Equal(t, "acm", o.Mode)

	// Reconfigure keeps the stored random passwords (no needless rotation).
	res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_acm", false), TenantID: tenant,
		Password: sec[secrets.KeyAMTPassword]})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "already enabled in admin mode.", res.StatusObject.Status)
	require.Equal(t, sec, deviceSecrets(t, tenant, guid))
}

func TestCCMToACMUpgrade(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "static")
	pki := certtest.New(t)
	addDomain(t, tenant, "sales.example.com", pki)
	d := e.acmDevice(t, tenant, pki)

	require.True(t, e.run(t, d, activate(tenant+"_ccm")).OK())
	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_acm", false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Upgraded to admin control mode.", res.StatusObject.Status)
	require.Equal(t, amtsim.AdminControl, d.Mode())
	require.Equal(t, tenantPassword, d.MEBxPassword())
	requireCIRA(t, d, tenant)
	rec, err := testStore.GetDevice(context.Background(), d.GUID().String())
	require.NoError(t, err)
	require.Equal(t, store.ControlModeACM, rec.ControlMode)

	// ACM device, CCM profile: refused (§2.1 step 6).
	res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
	require.False(t, res.OK())
	require.Equal(t, "Device "+d.GUID().String()+" already enabled in admin control mode.", res.Message)
}

func TestACMRefusals(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "static")
	pki := certtest.New(t)
	addDomain(t, tenant, "example.com", pki)

	tests := []struct {
		name   string
		device func(t *testing.T) *amtsim.Device
		want   func(d *amtsim.Device) string
	}{{
		name: "suffix differs from Inventory",
		device: func(t *testing.T) *amtsim.Device {
			d := e.acmDevice(t, tenant, pki)
			e.hosts.set(tenant, d.GUID().String(), rps.Host{ResourceID: "host-1", DesiredAMT: rps.AMTStateProvisioned,
				AmtDNSSuffix: "Corp.Example.org."})
			return d
		},
		want: func(d *amtsim.Device) string {
			return "Device " + d.GUID().String() + ` activation failed. The device reports DNS suffix "sales.example.com" ` +
				`but host host-1 has AMT DNS suffix "corp.example.org" in Inventory; set the device's suffix (MEBx or ` +
				`DHCP option 15) or correct the host's AMT DNS suffix so they agree.`
		},
	}, {
		name: "root not trusted by the device",
		device: func(t *testing.T) *amtsim.Device {
			return e.newDevice(t, tenant, amtsim.Config{DNSSuffix: "example.com"})
		},
		want: func(*amtsim.Device) string {
			return "Invalid domain certificate, hash does not exists in list of trusted root certificates on AMT"
		},
	}, {
		name: "no domain for the suffix",
		device: func(t *testing.T) *amtsim.Device {
			return e.newDevice(t, tenant, amtsim.Config{DNSSuffix: "example.net"})
		},
		want: func(d *amtsim.Device) string {
			return "Device " + d.GUID().String() + " activation failed. Specified AMT domain suffix: example.net " +
				"does not match list of available AMT domain suffixes."
		},
	}, {
		name: "missing DNS suffix",
		device: func(t *testing.T) *amtsim.Device {
			return e.newDevice(t, tenant, amtsim.Config{})
		},
		want: func(d *amtsim.Device) string {
			return "Device " + d.GUID().String() + " activation failed. Missing DNS Suffix."
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.device(t)
			res := e.run(t, d, activate(tenant+"_acm"))
			require.False(t, res.OK())
			require.Equal(t, "failed", res.Status)
			require.Nil(t, res.StatusObject, "a refusal is plain text (§1.7)")
			require.Equal(t, tc.want(d), res.Message)
			require.Zero(t, res.Exchanges, "nothing reaches AMT")
			require.Equal(t, amtsim.PreProvisioning, d.Mode())
			o := e.outcome(t)
			require.False(t, o.OK)
			require.Equal(t, res.Message, o.Message)
		})
	}
}
